//! The queue-proxy's rules and layers (spec §4).
//!
//! - [`Breaker`]: `containerConcurrency` as a hard limit with a bounded queue (§4.4);
//!   the activator's per-revision throttler uses the same machine (§3.3).
//! - [`limit`]: the breaker as a tower layer (503 when the queue is full).
//! - [`stats`]: request statistics for the autoscaler (§4.7) and their wire format.
//! - [`rewrite`]: the header changes on the way to the app (§4.6).
//! - [`drain`]: health checks, hash probes and graceful drain (§4.2, §4.5).
//! - [`readiness`]: probing the user app (§4.3).
//! - [`stack`]: the whole handler chain, as every backend assembles it.
//! - [`QueueProxy`]: that chain and its handles, built from a [`QueueProxyConfig`].

mod breaker;
mod builder;
pub mod drain;
pub mod limit;
pub mod readiness;
pub mod rewrite;
pub mod stack;
pub mod stats;

pub use self::breaker::{Admission, Breaker, WaiterId};
pub use self::builder::{QueueProxy, QueueProxyConfig};
