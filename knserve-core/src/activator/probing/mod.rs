//! Backend discovery and probing (spec §3.6).
//!
//! - [`ProbeTracker`]: the pure machine — from the orchestrator's [`Endpoints`] and
//!   probe results to the addresses to probe and the healthy set.
//! - [`prober`]: the driver — probes over HTTP in rounds and publishes
//!   [`Backends`](crate::activator::Backends) on a `watch` channel for the throttler.
//!
//! Mesh modes and the ClusterIP fallback (§3.6 items 3 and 6) are not modelled: every
//! instance is probed individually.

mod driver;
mod tracker;

pub use self::driver::{ProberConfig, prober};
pub use self::tracker::{Endpoints, ProbeTracker};
