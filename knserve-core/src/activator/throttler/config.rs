//! The throttler's bounds on waiting requests.

use std::time::Duration;

use crate::InvalidConfig;

/// How much the throttler lets wait for capacity, per revision.
///
/// Knative bounds none of these (its revision breaker's queue is effectively
/// unlimited); knserve refuses a request that would wait past any bound, so that a
/// revision that cannot start does not hold unbounded memory and connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlerConfig {
    /// Requests waiting at most (count); the next one gets 503. Default 10000, the
    /// revision breaker's queue depth (§7).
    pub max_waiting: u32,
    /// Request-body bytes the waiting requests may declare in total (bytes); a request
    /// that would go past it gets 503. Default 64 MiB.
    pub max_waiting_bytes: u64,
    /// How long a request may wait for capacity; past it, 504. `None` (default): no
    /// limit beyond the revision timeout, which the timeout layer outside enforces.
    pub max_wait: Option<Duration>,
}

impl Default for ThrottlerConfig {
    fn default() -> Self {
        Self {
            max_waiting: 10_000,
            max_waiting_bytes: 64 * 1024 * 1024,
            max_wait: None,
        }
    }
}

impl ThrottlerConfig {
    /// The config map name used in validation errors.
    pub const NAME: &'static str = "activator-throttler";

    /// Checks that every bound lets at least something through.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        if self.max_waiting == 0 {
            return Err(InvalidConfig::new(
                Self::NAME,
                "max-waiting",
                "0",
                "must be at least 1",
            ));
        }
        if self.max_waiting_bytes == 0 {
            return Err(InvalidConfig::new(
                Self::NAME,
                "max-waiting-bytes",
                "0",
                "must be at least 1",
            ));
        }
        if self.max_wait == Some(Duration::ZERO) {
            return Err(InvalidConfig::new(
                Self::NAME,
                "max-wait",
                "0s",
                "must be positive when set",
            ));
        }
        Ok(())
    }
}
