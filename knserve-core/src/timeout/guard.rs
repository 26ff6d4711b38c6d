//! The timeout rule as a pure machine.

use std::{fmt, time::Duration};

use crate::time::Timestamp;

/// The three per-revision limits of spec §3.7.
///
/// Also a request extension: a [`TimeoutLayer`](super::TimeoutLayer) uses the limits
/// found on the request instead of its own, which is how the activator — one layer
/// in front of many revisions — applies each revision's spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutLimits {
    /// `timeoutSeconds`: the whole exchange, from arrival (queueing included) to the
    /// end of the response body. Zero expires at once: pass the defaulted value (300 s
    /// when the Revision leaves it unset).
    pub total: Duration,
    /// `responseStartTimeoutSeconds`: from arrival to the response headers; `None` is off.
    pub response_start: Option<Duration>,
    /// `idleTimeoutSeconds`: the longest gap between writes (arrival counts as the first
    /// "write"); `None` is off.
    pub idle: Option<Duration>,
}

impl TimeoutLimits {
    /// Knative's default `timeoutSeconds`.
    pub const DEFAULT_TOTAL: Duration = Duration::from_secs(300);

    /// Only a total limit.
    pub const fn total(total: Duration) -> Self {
        Self {
            total,
            response_start: None,
            idle: None,
        }
    }

    /// The limits as the Revision spec (or the queue-proxy's `REVISION_*_SECONDS`
    /// environment) gives them, in seconds. A response-start or idle limit of 0 is off,
    /// as in Knative.
    pub fn from_seconds(total: u64, response_start: Option<u64>, idle: Option<u64>) -> Self {
        let positive = |s: Option<u64>| s.filter(|s| *s > 0).map(Duration::from_secs);
        Self {
            total: Duration::from_secs(total),
            response_start: positive(response_start),
            idle: positive(idle),
        }
    }

    /// With a response-start limit (`Duration::ZERO` turns it off).
    pub fn with_response_start(mut self, limit: Duration) -> Self {
        self.response_start = (!limit.is_zero()).then_some(limit);
        self
    }

    /// With an idle limit (`Duration::ZERO` turns it off).
    pub fn with_idle(mut self, limit: Duration) -> Self {
        self.idle = (!limit.is_zero()).then_some(limit);
        self
    }
}

impl Default for TimeoutLimits {
    fn default() -> Self {
        Self::total(Self::DEFAULT_TOTAL)
    }
}

/// Which limit ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// `timeoutSeconds`.
    Total,
    /// `responseStartTimeoutSeconds`.
    ResponseStart,
    /// `idleTimeoutSeconds`.
    Idle,
}

impl fmt::Display for Expired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Total => "request",
            Self::ResponseStart => "response start",
            Self::Idle => "idle",
        })
    }
}

/// One request's timeouts.
///
/// States: *waiting for headers* (total, response-start and idle limits run) →
/// *streaming* after [`headers_started`](Self::headers_started) (total and idle run;
/// every [`wrote`](Self::wrote) restarts the idle limit). The driver sleeps until
/// [`next_deadline`](Self::next_deadline) and then asks [`expired`](Self::expired).
///
/// Guarantees: no limit is reported before its time; when several run out at the
/// same instant the total limit is named first, then response start, then idle.
#[derive(Debug, Clone)]
pub struct TimeoutGuard {
    limits: TimeoutLimits,
    arrived: Timestamp,
    headers_at: Option<Timestamp>,
    last_write: Timestamp,
}

impl TimeoutGuard {
    /// A request that arrived at `arrived`.
    pub fn new(arrived: Timestamp, limits: TimeoutLimits) -> Self {
        Self {
            limits,
            arrived,
            headers_at: None,
            last_write: arrived,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> TimeoutLimits {
        self.limits
    }

    /// The response headers were written at `now` (a write: it restarts the idle limit).
    pub fn headers_started(&mut self, now: Timestamp) {
        self.headers_at.get_or_insert(now);
        self.wrote(now);
    }

    /// When the response headers started, if they have.
    pub fn headers_at(&self) -> Option<Timestamp> {
        self.headers_at
    }

    /// Response bytes were written at `now`.
    pub fn wrote(&mut self, now: Timestamp) {
        self.last_write = self.last_write.max(now);
    }

    /// The limits still running, each with the time it runs out, in reporting order.
    fn deadlines(&self) -> impl Iterator<Item = (Expired, Timestamp)> + '_ {
        let total = Some((Expired::Total, self.arrived + self.limits.total));
        let start = match self.headers_at {
            None => self
                .limits
                .response_start
                .map(|limit| (Expired::ResponseStart, self.arrived + limit)),
            Some(_) => None,
        };
        let idle = self
            .limits
            .idle
            .map(|limit| (Expired::Idle, self.last_write + limit));
        [total, start, idle].into_iter().flatten()
    }

    /// The limit that has run out at `now`, if any.
    pub fn expired(&self, now: Timestamp) -> Option<Expired> {
        self.deadlines()
            .find(|(_, deadline)| *deadline <= now)
            .map(|(limit, _)| limit)
    }

    /// The earliest time a limit can run out, given no further writes.
    pub fn next_deadline(&self) -> Timestamp {
        self.deadlines()
            .map(|(_, deadline)| deadline)
            .min()
            .unwrap_or(self.arrived + self.limits.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn limits() -> TimeoutLimits {
        TimeoutLimits::total(Duration::from_secs(10))
            .with_response_start(Duration::from_secs(4))
            .with_idle(Duration::from_secs(2))
    }

    #[test]
    fn idle_runs_out_first_when_nothing_is_written() {
        let guard = TimeoutGuard::new(at(0), limits());
        assert_eq!(guard.next_deadline(), at(2_000));
        assert_eq!(guard.expired(at(1_999)), None, "no limit before its time");
        assert_eq!(guard.expired(at(2_000)), Some(Expired::Idle));
    }

    #[test]
    fn response_start_expires_when_idle_is_off() {
        let guard = TimeoutGuard::new(at(0), limits().with_idle(Duration::ZERO));
        assert_eq!(guard.next_deadline(), at(4_000));
        assert_eq!(guard.expired(at(4_000)), Some(Expired::ResponseStart));
    }

    #[test]
    fn headers_stop_the_response_start_limit_and_writes_push_idle_out() {
        let mut guard = TimeoutGuard::new(at(0), limits());
        guard.headers_started(at(1_500));
        guard.wrote(at(3_000));
        assert_eq!(
            guard.expired(at(4_500)),
            None,
            "response start no longer runs"
        );
        assert_eq!(
            guard.next_deadline(),
            at(5_000),
            "idle counts from the last write"
        );
        guard.wrote(at(4_900));
        guard.wrote(at(6_800));
        guard.wrote(at(8_700));
        assert_eq!(
            guard.next_deadline(),
            at(10_000),
            "the total caps the idle deadline"
        );
        assert_eq!(guard.expired(at(10_000)), Some(Expired::Total));
    }

    #[test]
    fn total_is_named_first_when_limits_coincide() {
        let limits = TimeoutLimits::total(Duration::from_secs(2)).with_idle(Duration::from_secs(2));
        let guard = TimeoutGuard::new(at(0), limits);
        assert_eq!(guard.expired(at(2_000)), Some(Expired::Total));
    }

    #[test]
    fn zero_seconds_turn_the_optional_limits_off() {
        let limits = TimeoutLimits::from_seconds(30, Some(0), Some(0));
        assert_eq!(limits, TimeoutLimits::total(Duration::from_secs(30)));
        let limits = TimeoutLimits::from_seconds(30, Some(5), Some(1));
        assert_eq!(limits.response_start, Some(Duration::from_secs(5)));
        assert_eq!(limits.idle, Some(Duration::from_secs(1)));
    }
}
