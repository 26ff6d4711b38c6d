//! One KPA tick over many revisions, and one stat recorded.
//!
//! Run with `cargo bench -p knserve-core --bench autoscaler_tick`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use knserve_core::autoscaler::Autoscaler;
use knserve_core::autoscaler::metrics::Stat;

mod support;

fn tick(c: &mut Criterion) {
    let mut group = c.benchmark_group("kpa_tick");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(10));
    for count in [1_000, 10_000] {
        let (mut kpa, now) = support::populated(count);
        let mut changed = Vec::with_capacity(count);
        group.bench_with_input(BenchmarkId::from_parameter(count), &count, |b, _| {
            b.iter(|| {
                changed.clear();
                kpa.tick(black_box(now), &mut changed);
                black_box(changed.len())
            });
        });
    }
    group.finish();
}

fn record(c: &mut Criterion) {
    let (mut kpa, now) = support::populated(10_000);
    let key = "namespace-7/revision-00007".to_owned();
    let stat = Stat {
        average_concurrent_requests: 12.0,
        request_count: 40.0,
        ..Stat::default()
    };
    c.bench_function("kpa_record_stat", |b| {
        b.iter(|| kpa.record(black_box(now), &key, black_box(&stat)));
    });
}

criterion_group!(benches, tick, record);
criterion_main!(benches);
