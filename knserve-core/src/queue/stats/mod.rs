//! Request statistics for the autoscaler (spec §4.7).
//!
//! - [`RequestStats`]: the pure accumulator — concurrency integrated over time, arrivals
//!   counted — cut into a [`Report`] once per period.
//! - [`encode`] / [`decode`]: the `Stat` protobuf served at `GET :9090/metrics` and
//!   decoded by the autoscaler's scraper; [`prometheus_text`] renders the same numbers
//!   for Prometheus.

mod machine;
mod prometheus;
mod wire;

pub use self::machine::{Report, RequestStats};
pub use self::prometheus::prometheus_text;
pub use self::wire::{DecodeError, decode, encode};
