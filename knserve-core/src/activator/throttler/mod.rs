//! The activator's per-revision throttler (spec §3.3–§3.5): requests wait for
//! capacity, then go to an instance chosen by the revision's load-balancing policy.
//!
//! - [`Throttler`]: the pure machine — revision breaker, waiting bounds, failure.
//! - [`LoadBalancer`], [`Policy`]: instance trackers, subsetting and the three
//!   policies of §3.4.
//! - [`capacity()`]: the revision breaker's capacity formula.
//! - [`ThrottlerConfig`], [`Refusal`]: the bounds on waiting and the answers past them.
//! - [`ThrottlerRegistry`]: every revision's throttler, fed by its `watch` channels.
//! - [`Throttle`], [`ThrottleLayer`]: the tower service that waits, picks the
//!   instance and releases it when the response ends; [`RevisionTarget`] is the
//!   request extension naming the revision.
//! - [`may_retry`], [`Replay`]: when a request whose instance failed before answering
//!   goes to another instance (the failed one leaves the set until probed again).
//!
//! Assembly: the control side creates a `ThrottlerRegistry`, calls
//! [`upsert`](ThrottlerRegistry::upsert) with each revision's
//! `watch::Receiver<Backends>` and `watch::Receiver<Membership>`, and
//! [`remove`](ThrottlerRegistry::remove) when the revision goes; the data side
//! stacks `ThrottleLayer::new(registry)` over [`Forward`](crate::net::Forward) and has
//! the handler insert a `RevisionTarget` into every request.
//!
//! Only pod-addressable mode exists: knserve's backends are never behind a mesh, so
//! the ClusterIP tracker and its capacity rule (§3.3, §3.6 step 6) are not needed.

mod balancer;
mod buffer;
mod capacity;
mod config;
mod machine;
mod refusal;
mod registry;
mod retry;
mod revision;
mod service;
#[cfg(test)]
mod tests;

pub use self::balancer::{LoadBalancer, Policy};
pub use self::capacity::{MAX_CAPACITY, capacity};
pub use self::config::ThrottlerConfig;
pub use self::machine::{Entry, Throttler, Wake};
pub use self::refusal::Refusal;
pub use self::registry::{ThrottlerLoad, ThrottlerRegistry};
pub use self::retry::{MAX_RETRIES, Replay, may_retry};
pub use self::service::{
    MissingTarget, ResponseFuture, RevisionTarget, Throttle, ThrottleLayer, declared_body_bytes,
};
