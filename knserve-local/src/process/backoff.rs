//! The restart back-off: a pure machine fed one failure at a time.

use std::time::Duration;

/// How a supervised process is restarted after it fails (kubelet's restart policy
/// `Always`, with its exponential back-off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Delay before the first restart after a failure; doubles with each consecutive
    /// failure (default 1 s).
    pub initial_backoff: Duration,
    /// Upper bound of the delay (default 30 s).
    pub max_backoff: Duration,
    /// A process that ran at least this long before failing starts the back-off and
    /// the failure count afresh (default 10 s).
    pub reset_after: Duration,
    /// Consecutive failures from which the status reports a crash loop (default 3).
    pub crash_loop_after: u32,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            reset_after: Duration::from_secs(10),
            crash_loop_after: 3,
        }
    }
}

/// A [`RestartPolicy`] that would make a crashing process spin or the back-off shrink.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPolicy {
    /// `initial_backoff` is zero.
    #[error("initial_backoff must be greater than zero")]
    ZeroInitialBackoff,
    /// `max_backoff` is below `initial_backoff`.
    #[error("max_backoff ({max:?}) must not be below initial_backoff ({initial:?})")]
    MaxBelowInitial {
        /// The configured `initial_backoff`.
        initial: Duration,
        /// The configured `max_backoff`.
        max: Duration,
    },
}

impl RestartPolicy {
    /// Checks that the back-off is positive and that `max_backoff ≥ initial_backoff`.
    pub fn validate(&self) -> Result<(), InvalidPolicy> {
        if self.initial_backoff.is_zero() {
            return Err(InvalidPolicy::ZeroInitialBackoff);
        }
        if self.max_backoff < self.initial_backoff {
            return Err(InvalidPolicy::MaxBelowInitial {
                initial: self.initial_backoff,
                max: self.max_backoff,
            });
        }
        Ok(())
    }
}

/// What the supervisor does after one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// Consecutive failures, this one included.
    pub failures: u32,
    /// How long to wait before the next start.
    pub delay: Duration,
    /// Whether `failures` reached the policy's `crash_loop_after`.
    pub crash_loop: bool,
}

/// The restart back-off as a machine: one step per failure, no clock of its own.
///
/// States: a count of consecutive failures and the next delay. Flow: each failure
/// returns the current delay and doubles the next one, up to `max_backoff`; a failure
/// after a run of at least `reset_after` first resets both (kubelet forgets a back-off
/// once a container has run long enough). Guarantees: the delay is never zero (a zero
/// `initial_backoff` is treated as 1 ms, so a crashing program never spins) and never
/// exceeds `max(max_backoff, 1 ms)`.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RestartPolicy,
    failures: u32,
    next: Duration,
}

/// The floor of every delay, so that a zero back-off cannot spin.
const MIN_DELAY: Duration = Duration::from_millis(1);

impl Backoff {
    /// A machine with no failures yet.
    pub fn new(policy: RestartPolicy) -> Self {
        Self {
            policy,
            failures: 0,
            next: policy.initial_backoff,
        }
    }

    /// Records a failure. `ran_for` is how long the process ran before it exited, or
    /// `None` when it could not be started at all.
    pub fn on_failure(&mut self, ran_for: Option<Duration>) -> Failure {
        if ran_for.is_some_and(|ran| ran >= self.policy.reset_after) {
            self.failures = 0;
            self.next = self.policy.initial_backoff;
        }
        self.failures = self.failures.saturating_add(1);
        let max = self.policy.max_backoff.max(MIN_DELAY);
        let delay = self.next.clamp(MIN_DELAY, max);
        self.next = delay.saturating_mul(2).min(max);
        Failure {
            failures: self.failures,
            delay,
            crash_loop: self.failures >= self.policy.crash_loop_after,
        }
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn policy() -> RestartPolicy {
        RestartPolicy {
            initial_backoff: ms(100),
            max_backoff: ms(500),
            reset_after: ms(1000),
            crash_loop_after: 3,
        }
    }

    #[test]
    fn delay_doubles_from_initial_up_to_max() {
        let mut b = Backoff::new(policy());
        let delays: Vec<_> = (0..6).map(|_| b.on_failure(Some(ms(10))).delay).collect();
        assert_eq!(
            delays,
            [ms(100), ms(200), ms(400), ms(500), ms(500), ms(500)],
            "the back-off doubles per consecutive failure and is capped at max_backoff"
        );
    }

    #[test]
    fn crash_loop_is_reported_from_the_configured_failure_count() {
        let mut b = Backoff::new(policy());
        let loops: Vec<_> = (0..4).map(|_| b.on_failure(None).crash_loop).collect();
        assert_eq!(
            loops,
            [false, false, true, true],
            "crash_loop is set once consecutive failures reach crash_loop_after"
        );
    }

    #[test]
    fn a_long_run_resets_the_back_off_and_the_failure_count() {
        let mut b = Backoff::new(policy());
        for _ in 0..4 {
            b.on_failure(Some(ms(10)));
        }
        let after_long_run = b.on_failure(Some(ms(1000)));
        assert_eq!(
            after_long_run,
            Failure {
                failures: 1,
                delay: ms(100),
                crash_loop: false
            },
            "a process that ran reset_after starts the back-off afresh"
        );
    }

    #[test]
    fn a_zero_back_off_never_spins() {
        let mut b = Backoff::new(RestartPolicy {
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            ..policy()
        });
        assert_eq!(
            b.on_failure(None).delay,
            MIN_DELAY,
            "the delay is at least 1 ms"
        );
        assert_eq!(
            b.on_failure(None).delay,
            MIN_DELAY,
            "the delay is at least 1 ms"
        );
    }

    #[test]
    fn validate_rejects_zero_and_inverted_back_offs() {
        let zero = RestartPolicy {
            initial_backoff: Duration::ZERO,
            ..policy()
        };
        assert_eq!(zero.validate(), Err(InvalidPolicy::ZeroInitialBackoff));
        let inverted = RestartPolicy {
            max_backoff: ms(50),
            ..policy()
        };
        assert!(
            matches!(
                inverted.validate(),
                Err(InvalidPolicy::MaxBelowInitial { .. })
            ),
            "max_backoff below initial_backoff is rejected"
        );
        assert_eq!(RestartPolicy::default().validate(), Ok(()));
    }
}
