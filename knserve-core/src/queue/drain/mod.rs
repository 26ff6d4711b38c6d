//! Health checks, hash probes and graceful drain (spec §4.2 steps 3–4, §4.5).
//!
//! - [`Drainer`]: the drain rule as a pure machine — Serving → Draining (quiet since)
//!   → Drained after a quiet period with no request.
//! - [`decide`]: what the drain layer does with a request, given its headers and
//!   whether the pod is draining.
//! - [`DrainHandle`]: the shared, clock-reading driver of the machine; its
//!   [`drain`](DrainHandle::drain) serves both `GET /wait-for-drain` and SIGTERM.
//! - [`Drain`] / [`DrainLayer`]: answers health checks and probes, counts every other
//!   request into the quiet timer and passes it on. Draining never drops a request:
//!   it only fails health checks so traffic stops arriving.
//! - [`InFlight`] / [`Track`] / [`TrackLayer`]: requests in flight, upgraded
//!   connections included, so the binary can wait for them after stopping its servers.
//!
//! The binary's shutdown: on SIGTERM `handle.drain().await`, then
//! `ServeHandle::shutdown` on each server (stop accepting, finish in-flight requests),
//! then `tokio::time::timeout(HIJACKED_DRAIN_LIMIT, in_flight.idle())` for websockets.
//! After `/wait-for-drain` returns, if no SIGTERM follows within
//! [`LIVENESS_RESET_DELAY`], it calls [`DrainHandle::reset`] (kubelet is restarting
//! only the user container).

mod handle;
mod in_flight;
mod layer;
mod machine;

pub use self::handle::{DrainHandle, HIJACKED_DRAIN_LIMIT, LIVENESS_RESET_DELAY};
pub use self::in_flight::{InFlight, InFlightGuard, Track, TrackFuture, TrackLayer};
pub use self::layer::{
    Decision, Drain, DrainLayer, MISSING_HASH, ResponseFuture, SHUTTING_DOWN, decide,
};
pub use self::machine::{DEFAULT_QUIET_PERIOD, Drainer, Phase};
