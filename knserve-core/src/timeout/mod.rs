//! The request timeouts shared by the queue-proxy and the activator (spec §3.7, §4.2
//! step 7).
//!
//! - [`TimeoutGuard`]: the rule as a pure machine — given when the request arrived,
//!   when its response headers started and when it last wrote, which limit (if any)
//!   has expired, and when the next one will.
//! - [`Timeout`] / [`TimeoutLayer`]: the tower driver. Before the response headers it
//!   answers **504** with the configured body (`request timeout` in the queue-proxy,
//!   `activator request timeout` in the activator); after them it cuts the body off.
//! - [`TimeoutLimits`]: the three limits, also a request extension so the activator can
//!   give each revision its own.
//!
//! **Spec §8 note (a), decided**: a limit that expires after the response headers were
//! sent cannot turn into a 504 any more. The body then ends with a [`TimedOut`] error,
//! the server resets the stream or closes the connection, and the client sees a
//! truncated response — Knative's behaviour, kept on purpose rather than waiting for a
//! body that may never end.

mod body;
mod guard;
mod layer;

pub use self::body::TimeoutBody;
pub use self::guard::{Expired, TimeoutGuard, TimeoutLimits};
pub use self::layer::{
    ACTIVATOR_TIMEOUT_BODY, QUEUE_TIMEOUT_BODY, ResponseFuture, TimedOut, Timeout, TimeoutLayer,
};
