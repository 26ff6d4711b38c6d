//! The linear (default) window average of §2.6.

use super::window::{WindowAverager, secs};

/// Decimal places the linear average keeps.
const PRECISION: f64 = 1e6;

/// The mean over the valid span of `w`, whose newest write is second `last`, at second
/// `now`.
///
/// - `now ≤ lastWrite`: all buckets over `min(lastWrite − firstWrite + 1, n)`.
/// - `0 < now − lastWrite < window`: the seconds after `lastWrite` have left the window,
///   so only the newest `n − (now − lastWrite)` buckets count, divided by
///   `min(lastWrite − firstWrite + 1, n − (now − lastWrite))`.
/// - otherwise 0.
pub(super) fn average(w: &WindowAverager, last: u64, now: u64) -> f64 {
    let n = w.bucket_count();
    let since_last = now.saturating_sub(last);
    if since_last > 0 && secs(since_last) >= w.window() {
        return 0.0;
    }
    // Below `window` ≤ n seconds, so it fits and leaves at least one bucket.
    let counted = n - since_last as usize;
    let span = last.saturating_sub(w.first_write()).saturating_add(1);
    let divisor = usize::try_from(span).map_or(counted, |span| span.min(counted));
    let sum = w.sum_newest(last, counted);
    round(sum / divisor as f64)
}

/// Rounds to 6 decimal places, half away from zero.
///
/// Knative's `roundToNDigits` floors instead; the spec says "rounded", and rounding
/// keeps a constant input exact (a floored `0.1` would read `0.099999`). The two never
/// differ by more than `1e-6`.
pub(super) fn round(value: f64) -> f64 {
    let scaled = value * PRECISION;
    if scaled.is_finite() {
        scaled.round() / PRECISION
    } else {
        value
    }
}
