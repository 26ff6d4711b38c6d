//! The activator's per-revision throttler (spec §3.3–§3.5): requests wait for
//! capacity, then go to an instance chosen by the revision's load-balancing policy.
//!
//! - [`Throttler`]: the pure machine — revision breaker, waiting bounds, failure.
//! - [`LoadBalancer`], [`Policy`]: instance trackers, subsetting and the three
//!   policies of §3.4.
//! - [`capacity()`]: the revision breaker's capacity formula.
//! - [`ThrottlerConfig`], [`Refusal`]: the bounds on waiting and the answers past them.
//!
//! Only pod-addressable mode exists: knserve's backends are never behind a mesh, so
//! the ClusterIP tracker and its capacity rule (§3.3, §3.6 step 6) are not needed.

mod balancer;
mod capacity;
mod config;
mod machine;
mod refusal;
#[cfg(test)]
mod tests;

pub use self::balancer::{LoadBalancer, Policy};
pub use self::capacity::{MAX_CAPACITY, capacity};
pub use self::config::ThrottlerConfig;
pub use self::machine::{Entry, Throttler, Wake};
pub use self::refusal::Refusal;
