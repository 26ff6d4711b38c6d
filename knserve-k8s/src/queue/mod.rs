//! `knserve-queue`: a drop-in replacement for Knative's queue-proxy sidecar (spec §4).
//!
//! - [`QueueEnv`]: Knative's environment contract, read and checked.
//! - [`QueueProxy`]: the running sidecar — its listeners, layers and drain.

mod env;
mod server;

pub use self::env::{EnvError, QueueEnv};
pub use self::server::{Addresses, QueueProxy, StartError};
