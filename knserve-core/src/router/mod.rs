//! The ingress router's rules (spec §6): Host and tag to Route, weighted split to
//! Revision, internal headers, and activator-or-direct per revision.
//!
//! - [`RouteTraffic`]: what the router needs of a `Route` — its metadata and resolved
//!   targets ([`RouteTraffic::from_route`]).
//! - [`RouteTable`]: the pure machine, built from routes and the `config-network`,
//!   `config-domain` and `config-features` maps; it implements [`Router`]: host and
//!   `Knative-Serving-Tag` to a [`Decision`] (revision and headers to set).
//! - [`Route`] / [`RouteLayer`]: the tower driver. It strips client-supplied internal
//!   headers, reads the table and the per-revision [`Hop`]s from watch channels, and
//!   sends the request to the revision's instances or to the activator by setting
//!   [`crate::net::Destination`] for the inner service (normally [`crate::net::Forward`]).

mod future;
mod hop;
mod service;
mod split;
mod table;
mod traffic;

pub use self::future::ResponseFuture;
pub use self::hop::{Hop, Hops, Unreachable};
pub use self::service::{Route, RouteLayer};

pub use self::table::{BuildError, Decision, NoRoute, RouteTable, Router, normalize_host};
pub use self::traffic::{RouteTraffic, Target, UnresolvedTarget};
