//! knserve-core: Knative Serving's model and rules, with no I/O.
//!
//! - [`api`]: the `serving.knative.dev/v1` resources (Service, Configuration, Revision,
//!   Route), their defaulting, naming, URLs and validation.
//! - [`config`]: Knative's cluster config maps as typed structs.
//! - [`autoscaler`]: the KPA — window averages, the decider, the scale-to-zero gate and
//!   SKS mode — as pure state machines behind the [`autoscaler::Autoscaler`] trait.
//!
//! Every state machine takes the current [`time::Timestamp`] as an argument; nothing
//! in this crate reads a clock, spawns a task or owns a socket.

pub mod activator;
pub mod api;
pub mod autoscaler;
pub mod config;
pub mod duration;
pub mod error;
pub mod net;
pub mod queue;
pub mod time;

pub use self::error::{FieldError, InvalidConfig, ValidationErrors};
pub use self::time::Timestamp;
