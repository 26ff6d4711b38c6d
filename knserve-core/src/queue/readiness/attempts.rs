//! The probe retry rule (§4.3) as a pure machine.

use std::time::Duration;

use super::ProbeSpec;
use crate::time::Timestamp;

/// Aggressive mode: time between attempts.
pub const AGGRESSIVE_INTERVAL: Duration = Duration::from_millis(50);
/// Aggressive mode: limit of each attempt.
pub const AGGRESSIVE_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(100);
/// Aggressive mode: how long a check keeps trying.
pub const AGGRESSIVE_LIMIT: Duration = Duration::from_secs(10);

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The probe passed.
    Ready,
    /// The probe failed.
    NotReady,
    /// Try again at this time.
    RetryAt(Timestamp),
}

/// One check of one probe.
///
/// Aggressive: attempts every [`AGGRESSIVE_INTERVAL`], each limited to
/// [`AGGRESSIVE_ATTEMPT_TIMEOUT`]; `successThreshold` passes in a row make it
/// `Ready`; a failure restarts the count; no retry is scheduled past
/// [`AGGRESSIVE_LIMIT`] from the start. Otherwise: one attempt limited to the user's
/// `timeoutSeconds` decides.
#[derive(Debug, Clone)]
pub struct Attempts {
    aggressive: bool,
    success_threshold: u32,
    timeout: Duration,
    give_up_at: Timestamp,
    streak: u32,
}

impl Attempts {
    /// A check of `spec` starting at `now`, aggressive or not.
    pub fn new(spec: &ProbeSpec, aggressive: bool, now: Timestamp) -> Self {
        Self {
            aggressive,
            success_threshold: spec.success_threshold.max(1),
            timeout: spec.timeout,
            give_up_at: now + AGGRESSIVE_LIMIT,
            streak: 0,
        }
    }

    /// The limit of each attempt.
    pub fn attempt_timeout(&self) -> Duration {
        if self.aggressive {
            AGGRESSIVE_ATTEMPT_TIMEOUT
        } else {
            self.timeout
        }
    }

    /// An attempt ended at `now`, passing or not.
    pub fn record(&mut self, now: Timestamp, passed: bool) -> Next {
        if !self.aggressive {
            return if passed { Next::Ready } else { Next::NotReady };
        }
        self.streak = if passed { self.streak + 1 } else { 0 };
        let retry_at = now + AGGRESSIVE_INTERVAL;
        if self.streak >= self.success_threshold {
            Next::Ready
        } else if retry_at > self.give_up_at {
            Next::NotReady
        } else {
            Next::RetryAt(retry_at)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn spec(success_threshold: u32) -> ProbeSpec {
        ProbeSpec {
            success_threshold,
            ..ProbeSpec::tcp(8080)
        }
    }

    #[test]
    fn aggressive_mode_needs_the_threshold_in_a_row() {
        let mut attempts = Attempts::new(&spec(2), true, ms(0));
        assert_eq!(attempts.attempt_timeout(), AGGRESSIVE_ATTEMPT_TIMEOUT);
        assert_eq!(attempts.record(ms(10), true), Next::RetryAt(ms(60)));
        assert_eq!(
            attempts.record(ms(70), false),
            Next::RetryAt(ms(120)),
            "a failure restarts the count"
        );
        assert_eq!(attempts.record(ms(130), true), Next::RetryAt(ms(180)));
        assert_eq!(attempts.record(ms(190), true), Next::Ready);
    }

    #[test]
    fn aggressive_mode_gives_up_after_ten_seconds() {
        let mut attempts = Attempts::new(&spec(1), true, ms(0));
        assert_eq!(attempts.record(ms(9_950), false), Next::RetryAt(ms(10_000)));
        assert_eq!(attempts.record(ms(10_001), false), Next::NotReady);
    }

    #[test]
    fn one_attempt_decides_outside_aggressive_mode() {
        let mut attempts = Attempts::new(&spec(3), false, ms(0));
        assert_eq!(attempts.attempt_timeout(), Duration::from_secs(1));
        assert_eq!(
            attempts.record(ms(5), true),
            Next::Ready,
            "no threshold for a single attempt"
        );
        let mut attempts = Attempts::new(&spec(3), false, ms(0));
        assert_eq!(attempts.record(ms(5), false), Next::NotReady);
    }
}
