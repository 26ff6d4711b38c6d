//! The 1-second bucket ring behind every metric window (§2.6).

use std::time::Duration;

use crate::time::Timestamp;

use super::{linear, weighted};

/// The longest window a ring holds: the spec's maximum stable window (1 h).
///
/// Longer windows are clamped to it so that no input can make a ring allocate more
/// than 3600 buckets (28.8 KiB).
pub const MAX_WINDOW: Duration = Duration::from_secs(3600);

/// The shortest window a ring holds: one bucket.
pub const MIN_WINDOW: Duration = Duration::from_secs(1);

/// How a window's buckets are turned into one value (`metric-aggregation-algorithm`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// The plain mean over the valid part of the window (Knative's default).
    #[default]
    Linear,
    /// An exponentially weighted sum that favours the newest buckets.
    WeightedExponential,
}

impl Algorithm {
    /// Parses the annotation value: `linear`, `weighted-exponential` or
    /// `weightedExponential`; anything else is `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "linear" => Some(Self::Linear),
            "weighted-exponential" | "weightedExponential" => Some(Self::WeightedExponential),
            _ => None,
        }
    }
}

/// One metric window: a ring of `ceil(window / 1s)` one-second buckets and its average.
///
/// **States.** *Never written* (no `lastWrite`) → *live* (some bucket written within a
/// window of `now`) → *stale* (nothing written for more than a window; [`is_empty`]
/// says so) → *live* again on the next write, which starts a fresh partial window.
///
/// **Flow.** Drivers call [`record`](Self::record) for every sample (several per second
/// sum into one bucket) and [`average`](Self::average) on each decider tick; an
/// annotation change calls [`resize`](Self::resize) or
/// [`set_algorithm`](Self::set_algorithm).
///
/// **Guarantees.**
/// - A bucket holds the sum of the samples recorded in its second; seconds skipped
///   between two writes are zero.
/// - A write older than `lastWrite − window` is dropped; a write after a full window of
///   silence clears the ring and restarts `firstWrite`.
/// - Non-finite samples (NaN, ±∞) are ignored entirely, so one bad stat cannot poison a
///   whole window; negative samples are summed as given.
/// - Memory is the struct plus one `f64` per bucket, allocated once per (re)size; the
///   window is clamped to [`MIN_WINDOW`, `MAX_WINDOW`].
/// - No method panics or reads a clock.
///
/// [`is_empty`]: Self::is_empty
#[derive(Debug, Clone, PartialEq)]
pub struct WindowAverager {
    algorithm: Algorithm,
    window: Duration,
    buckets: Box<[f64]>,
    /// The first second written since the ring was (re)started.
    first_write: u64,
    /// The newest second written; `None` until the first write.
    last_write: Option<u64>,
}

impl WindowAverager {
    /// An empty window of length `window` (clamped to 1 s ..= 1 h).
    pub fn new(window: Duration, algorithm: Algorithm) -> Self {
        let window = clamp_window(window);
        Self {
            algorithm,
            window,
            buckets: vec![0.0; bucket_count(window)].into_boxed_slice(),
            first_write: 0,
            last_write: None,
        }
    }

    /// The window length, after clamping.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The number of one-second buckets, `ceil(window / 1s)`.
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// The averaging algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Switches the averaging algorithm; the buckets are kept.
    pub fn set_algorithm(&mut self, algorithm: Algorithm) {
        self.algorithm = algorithm;
    }

    /// Heap bytes held by the ring (one `f64` per bucket).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val::<[f64]>(&self.buckets)
    }

    /// Whether nothing was written for more than a window before `now` (or ever).
    pub fn is_empty(&self, now: Timestamp) -> bool {
        match self.last_write {
            None => true,
            Some(last) => secs(now.whole_secs().saturating_sub(last)) > self.window,
        }
    }

    /// Adds `value` into the bucket of `now`'s second.
    pub fn record(&mut self, now: Timestamp, value: f64) {
        if !value.is_finite() {
            return;
        }
        let at = now.whole_secs();
        match self.last_write {
            None => self.restart(at),
            Some(last) if at > last => self.advance(last, at),
            Some(last) if at < last => {
                if secs(last - at) >= self.window {
                    return; // older than lastWrite − window: dropped
                }
                self.first_write = self.first_write.min(at);
            }
            Some(_) => {}
        }
        let idx = self.index(at);
        self.buckets[idx] += value;
    }

    /// The window's value at `now` under the current algorithm.
    ///
    /// Linear: the mean over the valid span, rounded to 6 decimal places (§2.6).
    /// Weighted exponential: the weighted sum, not renormalized. Both are 0 once
    /// nothing was written for a window.
    pub fn average(&self, now: Timestamp) -> f64 {
        let Some(last) = self.last_write else {
            return 0.0;
        };
        let now = now.whole_secs();
        match self.algorithm {
            Algorithm::Linear => linear::average(self, last, now),
            Algorithm::WeightedExponential => weighted::average(self, last, now),
        }
    }

    /// Changes the window length, keeping the newest buckets as far as the new length
    /// allows. The algorithm's coefficient follows the new bucket count.
    pub fn resize(&mut self, window: Duration) {
        let window = clamp_window(window);
        if window == self.window {
            return;
        }
        let mut buckets = vec![0.0; bucket_count(window)].into_boxed_slice();
        if let Some(last) = self.last_write {
            let kept = buckets.len().min(self.buckets.len());
            for back in 0..kept as u64 {
                let Some(at) = last.checked_sub(back) else {
                    break;
                };
                buckets[ring_index(at, buckets.len())] = self.buckets[self.index(at)];
            }
            // Only the old ring's seconds can still hold data: the valid span may not
            // reach further back than that, or the average would divide by lost seconds.
            let oldest_kept = last.saturating_sub(self.buckets.len() as u64 - 1);
            self.first_write = self.first_write.max(oldest_kept);
        }
        self.window = window;
        self.buckets = buckets;
    }

    /// The newest `count` buckets ending at second `last`, newest first.
    pub(super) fn newest_first(&self, last: u64, count: usize) -> impl Iterator<Item = f64> {
        let count = count.min(self.buckets.len());
        (0..count as u64)
            .map_while(move |back| last.checked_sub(back))
            .map(|at| self.buckets[self.index(at)])
    }

    /// The sum of the newest `count` buckets ending at second `last` (none before second
    /// 0), read as at most two contiguous slices of the ring: the tick's hot path.
    pub(super) fn sum_newest(&self, last: u64, count: usize) -> f64 {
        let len = self.buckets.len();
        let count = count
            .min(len)
            .min(usize::try_from(last).map_or(usize::MAX, |l| l.saturating_add(1)));
        let end = self.index(last) + 1; // exclusive end of the newest run
        let (wrapped, tail) = if count <= end {
            (&self.buckets[end - count..end], &[][..])
        } else {
            (&self.buckets[..end], &self.buckets[len - (count - end)..])
        };
        wrapped.iter().sum::<f64>() + tail.iter().sum::<f64>()
    }

    /// The first second of the valid span.
    pub(super) fn first_write(&self) -> u64 {
        self.first_write
    }

    fn restart(&mut self, at: u64) {
        self.buckets.fill(0.0);
        self.first_write = at;
        self.last_write = Some(at);
    }

    /// Moves `lastWrite` forward to `at`, zeroing the skipped seconds.
    fn advance(&mut self, last: u64, at: u64) {
        let gap = at - last;
        if secs(gap) >= self.window {
            // A whole window without writes: start a fresh partial window.
            self.restart(at);
            return;
        }
        for skipped in last + 1..=at {
            let idx = self.index(skipped);
            self.buckets[idx] = 0.0;
        }
        self.last_write = Some(at);
    }

    fn index(&self, at: u64) -> usize {
        ring_index(at, self.buckets.len())
    }
}

fn ring_index(at: u64, len: usize) -> usize {
    // The remainder is below `len`, so it fits a usize.
    (at % len as u64) as usize
}

fn clamp_window(window: Duration) -> Duration {
    window.clamp(MIN_WINDOW, MAX_WINDOW)
}

/// `ceil(window / 1s)`; at least 1 because the window is clamped.
fn bucket_count(window: Duration) -> usize {
    let whole = window.as_secs() + u64::from(window.subsec_nanos() > 0);
    // At most 3600 after clamping.
    whole as usize
}

pub(super) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
