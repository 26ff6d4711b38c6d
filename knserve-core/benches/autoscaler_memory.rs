//! Heap bytes per revision held by the KPA, measured with dhat's heap statistics.
//!
//! Run with `cargo bench -p knserve-core --bench autoscaler_memory`.

mod support;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    for count in [1_000usize, 10_000] {
        let before = dhat::HeapStats::get().curr_bytes;
        let (kpa, _) = support::populated(count);
        let bytes = dhat::HeapStats::get().curr_bytes - before;
        println!(
            "kpa_memory revisions={count} heap_bytes={bytes} bytes_per_revision={:.0} (key string included)",
            bytes as f64 / count as f64
        );
        drop(kpa);
    }
}
