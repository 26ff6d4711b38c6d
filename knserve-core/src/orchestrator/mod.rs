//! The seam between the core and a backend (ARCHITECTURE.md, "Seams").
//!
//! - [`Orchestrator`]: the only thing the request path and the autoscaler know about a
//!   backend — make a Revision's workload exist, set its scale, publish its ready
//!   [`Endpoints`], report why it cannot become ready, and remove it.
//! - [`ScaleRequest`]: the instance count the core decided for a revision.
//! - [`Failure`]: why a workload cannot become ready, as the Revision's conditions and
//!   the activator's 503 carry it.
//! - [`OrchestratorError`]: what a backend call can fail with.
//!
//! The local backend runs a revision's instances as processes or in-process services;
//! the Kubernetes backend as a Deployment whose pods' EndpointSlices it watches. Both
//! publish the same [`Endpoints`] the activator's prober consumes.

mod error;
mod seam;
mod types;

pub use self::error::OrchestratorError;
pub use self::seam::{BoxFuture, Orchestrator};
pub use self::types::{Failure, ScaleRequest, revision_key};
pub use crate::activator::probing::Endpoints;
pub use crate::reconcile::{RevisionHealth, RevisionObservation as WorkloadStatus};

#[cfg(test)]
mod tests;
