//! The weighted-exponential window average of §2.6.

use crate::time::Timestamp;

use super::window::WindowAverager;

/// The smallest smoothing coefficient: long windows would otherwise approach a plain
/// mean.
const MIN_COEFFICIENT: f64 = 0.2;

/// The share of the total weight the window's buckets must carry.
const WEIGHT_PRECISION: f64 = 0.9999;

/// `α = max(1 − (1 − 0.9999)^(1/n), 0.2)` for `n` buckets.
///
/// With `α` above the floor, the `n` weights `α(1−α)^i` sum to exactly 0.9999.
pub(super) fn smoothing_coefficient(buckets: usize) -> f64 {
    let n = buckets.max(1) as f64;
    (1.0 - (1.0 - WEIGHT_PRECISION).powf(n.recip())).max(MIN_COEFFICIENT)
}

/// The weighted sum of `w` at second `now`, its newest write being second `last`.
pub(super) fn average(w: &WindowAverager, last: u64, now: u64) -> f64 {
    if w.is_empty(Timestamp::from_secs(now)) {
        return 0.0;
    }
    let n = w.bucket_count();
    let skipped = usize::try_from(now.saturating_sub(last)).unwrap_or(usize::MAX);
    let kept = n.saturating_sub(skipped);
    weighted_sum(
        w.newest_first(last, kept),
        smoothing_coefficient(n),
        skipped,
    )
}

/// `Σ value_i · α(1−α)^(skipped + i)` over `newest_first` (bucket 0 is the newest).
///
/// Weights are not renormalized, so a window that is only partly written reads low.
pub(super) fn weighted_sum(
    newest_first: impl Iterator<Item = f64>,
    alpha: f64,
    skipped: usize,
) -> f64 {
    let decay = 1.0 - alpha;
    let start = alpha * decay.powi(i32::try_from(skipped).unwrap_or(i32::MAX));
    newest_first
        .fold((0.0, start), |(sum, weight), value| {
            (sum + value * weight, weight * decay)
        })
        .0
}
