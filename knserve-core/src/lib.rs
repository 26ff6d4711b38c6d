//! knserve-core: Knative Serving's model and rules, with no I/O.
//!
//! - [`api`]: the `serving.knative.dev/v1` resources (Service, Configuration, Revision,
//!   Route), their defaulting, naming, URLs and validation.
//! - [`config`]: Knative's cluster config maps as typed structs.
//! - [`autoscaler`]: the KPA — window averages, the decider, the scale-to-zero gate and
//!   SKS mode — as pure state machines behind the [`autoscaler::Autoscaler`] trait.
//!
//! - [`net`]: the HTTP plumbing the request-path layers share: body type, header
//!   names, the forwarding client and the accept loop.
//! - [`queue`], [`activator`], [`router`]: the request path of spec §3–§6, each rule a
//!   pure state machine with a thin tower layer around it.
//! - [`orchestrator`]: the [`Orchestrator`] trait, the seam every backend implements.
//!
//! Every state machine takes the current [`time::Timestamp`] as an argument; nothing
//! in this crate reads a clock, spawns a task or owns a socket.

pub mod activator;
pub mod api;
pub mod autoscaler;
pub mod config;
pub mod duration;
pub mod error;
pub mod goparse;
mod key;
pub mod net;
pub mod orchestrator;
pub mod queue;
pub mod reconcile;
pub mod router;
pub mod time;
pub mod timeout;
pub mod trace;

pub use self::activator::Activator;
pub use self::error::{FieldError, InvalidConfig, ValidationErrors};
pub use self::key::RevisionKey;
pub use self::orchestrator::Orchestrator;
pub use self::queue::QueueProxy;
pub use self::router::Router;
pub use self::time::Timestamp;
