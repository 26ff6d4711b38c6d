//! Tables of the spec's rules and goldens, then property tests of its invariants.

mod collector;
mod linear;
mod max_window;
mod props;
mod sample;
mod weighted;

use std::time::Duration;

use crate::time::Timestamp;

fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(secs)
}

fn at_ms(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn secs(secs: u64) -> Duration {
    Duration::from_secs(secs)
}
