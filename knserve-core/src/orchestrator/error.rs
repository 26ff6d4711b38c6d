//! What a backend call can fail with.

use crate::{RevisionKey, net::BoxError};

/// Why an [`Orchestrator`](super::Orchestrator) call failed.
///
/// A workload that exists but cannot become ready is not an error of the call: it is
/// reported through [`WorkloadStatus`](super::WorkloadStatus) and the
/// [`Endpoints::failure`](super::Endpoints::failure) of its endpoints.
#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    /// The Revision as written cannot name a workload: a required field is empty.
    #[error("Revision {field} must be set to name its workload")]
    MissingField {
        /// The empty field, e.g. `metadata.name`.
        field: &'static str,
    },
    /// The backend has no workload for this revision (never created, or removed).
    #[error("revision {0} has no workload")]
    UnknownRevision(RevisionKey),
    /// The backend refused or failed the call (an API server error, a process that
    /// could not be spawned); the caller retries on its next reconcile.
    #[error("backend call for revision {revision} failed")]
    Backend {
        /// The revision the call was for.
        revision: RevisionKey,
        /// What the backend reported.
        #[source]
        source: BoxError,
    },
}
