//! Request statistics for the autoscaler (spec §4.7).
//!
//! - [`RequestStats`]: the pure accumulator — concurrency integrated over time, arrivals
//!   counted — cut into a [`Report`] once per period.
//! - [`StatsLayer`] / [`Stats`]: counts each request (kubelet probes aside) in and out
//!   of a shared [`StatsHandle`]; [`reporter`] cuts a report from it every second.
//! - [`encode`] / [`decode`]: the `Stat` protobuf served at `GET :9090/metrics`
//!   ([`StatsHandle::metrics_response`]) and decoded by the autoscaler's scraper;
//!   [`prometheus_text`] renders the same numbers for Prometheus.
//!
//! Assembly: create one `StatsHandle::new(pod_name, 1 s)` at start, put
//! `StatsLayer::new(handle.clone())` outside the breaker, spawn
//! `reporter(handle.clone(), 1 s)`, and answer `:9090/metrics` with
//! `handle.metrics_response()`.

mod handle;
mod layer;
mod machine;
mod prometheus;
mod wire;

pub use self::handle::{PROTOBUF_CONTENT_TYPE, StatsHandle, reporter};
pub use self::layer::{ResponseFuture, Stats, StatsLayer};
pub use self::machine::{Report, RequestStats};
pub use self::prometheus::{prometheus_text, write_stat};
pub use self::wire::{DecodeError, decode, encode};
