//! The breaker as a tower layer (spec §4.4): `containerConcurrency` as a hard limit in
//! front of the app, with a bounded FIFO queue and 503 `pending request queue full`.
//!
//! - [`ConcurrencyLimitLayer`] / [`ConcurrencyLimit`]: the layer and its service.
//! - [`Limiter`]: the one [`Breaker`](crate::queue::Breaker) every clone shares, with
//!   its gauges; [`Permit`]: a token held until the response is done.

mod limiter;
mod service;

pub use self::limiter::{Limiter, Permit};
pub use self::service::{
    ConcurrencyLimit, ConcurrencyLimitLayer, QUEUE_FULL, ResponseFuture, WaiterAbandoned,
};
