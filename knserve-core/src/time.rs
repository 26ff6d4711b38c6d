//! The time a state machine is told.
//!
//! Machines never read a clock: each step takes `now` as a [`Timestamp`], a point on a
//! monotonic time line whose epoch the driver chooses (the unix epoch for a wall-clock
//! driver, the start of a trace for a replay, the first tick for a test). Whole-second
//! alignment (metric buckets, scale-down-delay slots) is taken from that epoch.

use std::ops::{Add, Sub};
use std::time::Duration;

/// A point in time, as the duration since the driver's epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(Duration);

impl Timestamp {
    /// The epoch itself.
    pub const ZERO: Self = Self(Duration::ZERO);

    /// `since_epoch` after the epoch.
    pub const fn from_duration(since_epoch: Duration) -> Self {
        Self(since_epoch)
    }

    /// `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    /// `secs` seconds after the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    /// The time since the epoch.
    pub const fn since_epoch(self) -> Duration {
        self.0
    }

    /// Whole seconds since the epoch (the time truncated to the second).
    pub const fn whole_secs(self) -> u64 {
        self.0.as_secs()
    }

    /// How long after `earlier` this is; zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0 + rhs)
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    /// Saturates at the epoch.
    fn sub(self, rhs: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(rhs))
    }
}
