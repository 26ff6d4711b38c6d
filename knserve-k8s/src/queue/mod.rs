//! `knserve-queue`: a drop-in replacement for Knative's queue-proxy sidecar (spec §4).
//!
//! - [`QueueEnv`]: Knative's environment contract, read and checked.

mod env;

pub use self::env::{EnvError, QueueEnv};
