use std::{io, num::NonZeroUsize};

use tokio::runtime::{Builder, Runtime};

/// The tokio runtime a knserve server runs on: `TOKIO_WORKER_THREADS` workers when set
/// (as tokio reads it), else one per CPU this process may use. One worker runs on the
/// current thread: no cross-thread wake-ups or work stealing for a process that has one
/// CPU to use anyway (a sidecar limited to one core, a benchmark pinned to one).
pub fn server_runtime() -> io::Result<Runtime> {
    match worker_threads() {
        1 => Builder::new_current_thread().enable_all().build(),
        workers => Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build(),
    }
}

fn worker_threads() -> usize {
    std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, NonZeroUsize::get))
}
