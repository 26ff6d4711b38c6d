//! The activator's outer layer (spec §3.2 steps 1–4, §3.7 outgoing changes).
//!
//! - [`decide`]: the rules as a pure function of the request head — kubelet health
//!   checks (200 / 500 while draining), hash probes, the identity probe, and revision
//!   resolution against a [`RevisionTable`] (404 when unknown).
//! - [`rewrite`]: the header changes on a forwarded request, and the extensions it
//!   carries inward.
//! - [`HandlerLayer`] → [`Handler`]: both, as a tower layer.
//!
//! # Extensions set on every forwarded request
//!
//! - [`RevisionKey`](crate::RevisionKey): the revision the request is for; the
//!   reporter, timeout and throttler layers key on it.
//! - [`RevisionInfo`]: that revision's settings (CC and timeouts) as the table held
//!   them when the request arrived.

mod decide;
mod layer;
mod table;

pub use self::decide::{Answer, Verdict, decide, revision_from_host, rewrite};
pub use self::layer::{DEFAULT_CLUSTER_DOMAIN, Handler, HandlerLayer, ResponseFuture};
pub use self::table::{RevisionInfo, RevisionTable};
