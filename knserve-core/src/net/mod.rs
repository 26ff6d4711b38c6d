//! HTTP plumbing shared by the request-path layers (spec §3, §4, §6).
//!
//! - [`headers`]: every header name of §6.4 and the probe classifications built on them.
//! - [`Body`], [`BoxError`] and the response helpers: the one body type every stack uses,
//!   so layers stay generic over the inner service but not over the body.
//! - [`Forward`]: the innermost service — a keep-alive hyper client that sends a
//!   request to a fixed address or to the [`Destination`] a layer above chose, streams
//!   both bodies, and passes upgraded (websocket) connections through.
//! - [`Dispatch`], [`LocalPeers`]: `Forward`, except that a destination served by this
//!   same process is called in-process instead of over its loopback socket.
//! - [`exposition`]: the one Prometheus text writer every `/metrics` uses, each family
//!   once per listener.
//! - [`metrics`]: Prometheus request counts and latency histograms.
//! - [`GuardedBody`], [`guard_response`]: a response body that keeps a guard alive
//!   until it ends — how every counting layer sees a request finish.
//! - [`server_runtime`]: the tokio runtime a server binary runs on (one worker: current
//!   thread).
//! - [`serve`]: accept loop for a listener the caller bound, HTTP/1.1 and h2c on the
//!   same port, with graceful shutdown; it pauses when out of descriptors and then
//!   closes idle keep-alive connections first.
//! - [`pressure`]: telling resource exhaustion from failure, shedding idle connections
//!   process-wide, rate-limited warnings.
//!
//! Refusals are answers, not errors: a layer that refuses a request (503 queue full,
//! 504 timeout, 400 bad probe) returns a response whose text body names the rule. An
//! error that reaches [`serve`] is answered with 502 and its text.

mod body;
mod connect;
pub mod exposition;
mod forward;
mod guard;
pub mod headers;
mod hold;
mod local;
pub mod metrics;
pub mod pressure;
mod runtime;
mod server;

pub use self::body::{Body, BoxError, empty, full, text_response};
pub use self::forward::{
    Destination, Forward, ForwardError, ForwardFuture, ProtocolForward, Unanswered, UpstreamH2c,
};
pub use self::guard::{GuardedBody, guard_response};
pub use self::hold::{ConnectionHold, HeldUntilClosed};
pub use self::local::{Dispatch, LocalPeers, PeerGuard};
pub use self::runtime::server_runtime;
pub use self::server::{RemoteAddr, ServeHandle, serve};

/// A boxed request-path service: what [`serve`] serves, what a stack returns, what a
/// [`LocalPeers`] table holds.
pub type HttpService =
    tower::util::BoxCloneService<http::Request<Body>, http::Response<Body>, BoxError>;
