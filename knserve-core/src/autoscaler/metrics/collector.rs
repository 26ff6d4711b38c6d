//! Per-revision metric collection: stats in, stable and panic averages out (§2.5, §2.6).

use std::time::Duration;

use crate::time::Timestamp;

use super::stat::Stat;
use super::window::{Algorithm, MIN_WINDOW, WindowAverager};

/// The stable window has seen no data for more than a window, and the revision is
/// scraped: the decider skips this tick and keeps its previous decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no metric data in the stable window")]
pub struct NoData;

/// The panic window for a stable window and `panic-window-percentage`:
/// `stable × percentage / 100`, rounded to the nearest second (halves away from zero),
/// at least 1 s. A NaN or non-positive percentage gives 1 s.
pub fn panic_window(stable: Duration, percentage: f64) -> Duration {
    let secs = (stable.as_secs_f64() * percentage / 100.0).round();
    if secs >= 1.0 {
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    } else {
        MIN_WINDOW
    }
}

/// The stable and panic windows of one metric.
#[derive(Debug, Clone, PartialEq)]
struct WindowPair {
    stable: WindowAverager,
    panic: WindowAverager,
}

impl WindowPair {
    fn new(stable: Duration, panic: Duration, algorithm: Algorithm) -> Self {
        Self {
            stable: WindowAverager::new(stable, algorithm),
            panic: WindowAverager::new(panic, algorithm),
        }
    }

    fn record(&mut self, at: Timestamp, value: f64) {
        self.stable.record(at, value);
        self.panic.record(at, value);
    }

    fn update(&mut self, stable: Duration, panic: Duration, algorithm: Algorithm) {
        for (window, length) in [(&mut self.stable, stable), (&mut self.panic, panic)] {
            window.resize(length);
            window.set_algorithm(algorithm);
        }
    }

    fn averages(&self, now: Timestamp, has_scrape_target: bool) -> Result<(f64, f64), NoData> {
        if has_scrape_target && self.stable.is_empty(now) {
            return Err(NoData);
        }
        Ok((self.stable.average(now), self.panic.average(now)))
    }

    fn heap_bytes(&self) -> usize {
        self.stable.heap_bytes() + self.panic.heap_bytes()
    }
}

/// The metric windows of one revision: concurrency and requests per second, each over a
/// stable and a panic window.
///
/// **States.** *Waiting for data* (nothing recorded within a stable window) ↔
/// *collecting*. While waiting, a scraped revision reports [`NoData`]; a revision with
/// no scrape target (TBC = −1: only the activator reports) averages to 0 instead.
///
/// **Flow.** Every stat — one extrapolated scrape per second plus one push per activator
/// per second — goes to [`record`](Self::record); each decider tick reads
/// [`stable_and_panic_concurrency`](Self::stable_and_panic_concurrency) or
/// [`stable_and_panic_rps`](Self::stable_and_panic_rps); an annotation change calls
/// [`update`](Self::update).
///
/// **Guarantees.**
/// - Each stat adds `concurrency − proxied concurrency` and `requests − proxied requests`
///   into the bucket of its timestamp (or of `now` if it has none), so requests the
///   activator reports itself are not counted twice.
/// - The four windows are plain [`WindowAverager`]s: see there for gaps, late writes and
///   non-finite samples.
/// - Memory with the default 60 s / 6 s windows on a 64-bit target: a 264 B struct
///   plus 2 × (60 + 6) `f64` buckets (1056 B of heap), 1320 B per revision. It grows
///   with the windows: at the 1 h maximum stable window (10 % panic window) the rings take
///   2 × (3600 + 360) × 8 B ≈ 62 KiB.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricCollector {
    concurrency: WindowPair,
    rps: WindowPair,
    has_scrape_target: bool,
}

impl MetricCollector {
    /// Empty windows for a revision; `has_scrape_target` is false when TBC = −1.
    pub fn new(
        stable_window: Duration,
        panic_window: Duration,
        algorithm: Algorithm,
        has_scrape_target: bool,
    ) -> Self {
        Self {
            concurrency: WindowPair::new(stable_window, panic_window, algorithm),
            rps: WindowPair::new(stable_window, panic_window, algorithm),
            has_scrape_target,
        }
    }

    /// Adds one stat into all four windows, at its timestamp or else at `now`.
    pub fn record(&mut self, now: Timestamp, stat: &Stat) {
        let at = stat.timestamp.unwrap_or(now);
        self.concurrency.record(at, stat.concurrency_sample());
        self.rps.record(at, stat.rps_sample());
    }

    /// The stable and panic averages of concurrency at `now`.
    pub fn stable_and_panic_concurrency(&self, now: Timestamp) -> Result<(f64, f64), NoData> {
        self.concurrency.averages(now, self.has_scrape_target)
    }

    /// The stable and panic averages of requests per second at `now`.
    pub fn stable_and_panic_rps(&self, now: Timestamp) -> Result<(f64, f64), NoData> {
        self.rps.averages(now, self.has_scrape_target)
    }

    /// Resizes the windows and switches the algorithm, keeping the recorded data as far
    /// as the new lengths allow.
    pub fn update(
        &mut self,
        stable_window: Duration,
        panic_window: Duration,
        algorithm: Algorithm,
    ) {
        self.concurrency
            .update(stable_window, panic_window, algorithm);
        self.rps.update(stable_window, panic_window, algorithm);
    }

    /// Whether the revision is scraped (`false` when TBC = −1).
    pub fn has_scrape_target(&self) -> bool {
        self.has_scrape_target
    }

    /// Sets whether the revision is scraped (TBC changed to or from −1).
    pub fn set_scrape_target(&mut self, has_scrape_target: bool) {
        self.has_scrape_target = has_scrape_target;
    }

    /// Heap bytes held by the four rings; add `size_of::<MetricCollector>()` for the total.
    pub fn heap_bytes(&self) -> usize {
        self.concurrency.heap_bytes() + self.rps.heap_bytes()
    }
}
