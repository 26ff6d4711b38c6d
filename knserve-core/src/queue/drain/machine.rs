//! The drain rule (§4.5) as a pure machine.

use std::time::Duration;

use crate::time::Timestamp;

/// Knative's drain quiet period.
pub const DEFAULT_QUIET_PERIOD: Duration = Duration::from_secs(30);

/// Where a [`Drainer`] is at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Health checks pass (subject to readiness).
    Serving,
    /// Health checks fail; drained once no request arrives for the quiet period.
    Draining {
        /// The later of the drain start and the last request since.
        quiet_since: Timestamp,
    },
    /// The quiet period passed: the drain is complete. Health checks still fail.
    Drained {
        /// When the quiet period ended.
        at: Timestamp,
    },
}

/// The queue-proxy's drain state.
///
/// States: `Serving` → [`drain`](Self::drain) → `Draining { quiet_since }` → (quiet
/// period with no [`request_seen`](Self::request_seen)) → `Drained`.
/// [`reset`](Self::reset) returns to `Serving` from anywhere (the pod was not
/// terminated after all). `Drained` is reached by time alone, so it is computed from
/// `now` rather than stored.
///
/// Guarantees: `drain` is idempotent (a second call does not restart the quiet
/// period); a request seen while draining pushes the end of the drain to a full quiet
/// period after it; a request after the drain completed changes nothing (Knative's
/// stopped timer); requests while serving do not matter.
#[derive(Debug, Clone)]
pub struct Drainer {
    quiet_period: Duration,
    quiet_since: Option<Timestamp>,
}

impl Default for Drainer {
    fn default() -> Self {
        Self::new(DEFAULT_QUIET_PERIOD)
    }
}

impl Drainer {
    /// A serving drainer whose drain completes after `quiet_period` without requests.
    pub fn new(quiet_period: Duration) -> Self {
        Self {
            quiet_period,
            quiet_since: None,
        }
    }

    /// The quiet period.
    pub fn quiet_period(&self) -> Duration {
        self.quiet_period
    }

    /// The phase at `now`.
    pub fn phase(&self, now: Timestamp) -> Phase {
        match self.quiet_since {
            None => Phase::Serving,
            Some(since) if now >= since + self.quiet_period => Phase::Drained {
                at: since + self.quiet_period,
            },
            Some(quiet_since) => Phase::Draining { quiet_since },
        }
    }

    /// Whether health checks must fail (draining or drained).
    pub fn is_draining(&self) -> bool {
        self.quiet_since.is_some()
    }

    /// Starts draining at `now`; no effect if already draining or drained.
    pub fn drain(&mut self, now: Timestamp) {
        self.quiet_since.get_or_insert(now);
    }

    /// A (non-probe) request arrived at `now`: restarts the quiet period while draining.
    pub fn request_seen(&mut self, now: Timestamp) {
        if let Phase::Draining { quiet_since } = self.phase(now) {
            self.quiet_since = Some(quiet_since.max(now));
        }
    }

    /// When the drain completes if no further request arrives; `None` while serving.
    pub fn drained_at(&self) -> Option<Timestamp> {
        self.quiet_since.map(|since| since + self.quiet_period)
    }

    /// Whether the drain has completed at `now`.
    pub fn is_drained(&self, now: Timestamp) -> bool {
        matches!(self.phase(now), Phase::Drained { .. })
    }

    /// Back to serving: health checks pass again.
    pub fn reset(&mut self) {
        self.quiet_since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    #[test]
    fn a_drain_completes_after_a_quiet_period_without_requests() {
        let mut drainer = Drainer::default();
        drainer.request_seen(at(1));
        assert_eq!(
            drainer.phase(at(2)),
            Phase::Serving,
            "requests while serving do not matter"
        );
        drainer.drain(at(10));
        assert!(drainer.is_draining());
        assert_eq!(
            drainer.phase(at(39)),
            Phase::Draining {
                quiet_since: at(10)
            }
        );
        assert_eq!(drainer.phase(at(40)), Phase::Drained { at: at(40) });
    }

    #[test]
    fn each_request_while_draining_restarts_the_quiet_period() {
        let mut drainer = Drainer::default();
        drainer.drain(at(0));
        drainer.request_seen(at(20));
        drainer.request_seen(at(45));
        assert_eq!(drainer.drained_at(), Some(at(75)));
        assert!(!drainer.is_drained(at(74)));
        assert!(drainer.is_drained(at(75)));
    }

    #[test]
    fn drain_is_idempotent() {
        let mut drainer = Drainer::default();
        drainer.drain(at(0));
        drainer.drain(at(25));
        assert_eq!(
            drainer.drained_at(),
            Some(at(30)),
            "a second drain does not restart the timer"
        );
    }

    #[test]
    fn a_request_after_the_drain_completed_changes_nothing() {
        let mut drainer = Drainer::new(Duration::from_secs(5));
        drainer.drain(at(0));
        drainer.request_seen(at(7));
        assert_eq!(
            drainer.drained_at(),
            Some(at(5)),
            "the quiet timer already fired"
        );
        assert!(drainer.is_draining(), "health checks keep failing");
    }

    #[test]
    fn reset_makes_the_pod_healthy_again() {
        let mut drainer = Drainer::default();
        drainer.drain(at(0));
        drainer.reset();
        assert_eq!(drainer.phase(at(100)), Phase::Serving);
        assert_eq!(drainer.drained_at(), None);
        drainer.drain(at(100));
        assert_eq!(
            drainer.drained_at(),
            Some(at(130)),
            "a later drain starts afresh"
        );
    }
}
