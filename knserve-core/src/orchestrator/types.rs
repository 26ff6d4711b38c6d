//! The values that cross the [`Orchestrator`](super::Orchestrator) seam.

use std::{fmt, sync::Arc};

use super::OrchestratorError;
use crate::{RevisionKey, api::Revision, reconcile::RevisionHealth};

/// The key of the workload `revision` describes: its namespace and name, both required.
///
/// # Errors
/// [`OrchestratorError::MissingField`] naming `metadata.namespace` or `metadata.name`
/// when it is empty.
pub fn revision_key(revision: &Revision) -> Result<RevisionKey, OrchestratorError> {
    let meta = &revision.metadata;
    for (field, value) in [
        ("metadata.namespace", meta.namespace()),
        ("metadata.name", meta.name()),
    ] {
        if value.is_empty() {
            return Err(OrchestratorError::MissingField { field });
        }
    }
    Ok(RevisionKey::new(meta.namespace(), meta.name()))
}

/// How many instances a revision's workload should run.
///
/// `replicas` is what the core decided: the autoscaler's desired count, already held
/// within the revision's min and max scale and by the scale-to-zero gate. The backend
/// carries it out and decides nothing of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleRequest {
    /// The revision to scale.
    pub revision: RevisionKey,
    /// Instances to run; 0 removes every instance but keeps the workload.
    pub replicas: u32,
}

/// Why a revision's workload cannot become ready.
///
/// `reason` is one CamelCase word (`ExitCode1`, `ImagePullBackOff`,
/// `ProgressDeadlineExceeded`) copied to the Revision's conditions; `message` explains
/// it. Printed (`Display`) as `reason: message`, the text the activator answers held
/// requests with in its 503 ([`Endpoints::failure`](super::Endpoints::failure)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One-word reason, CamelCase.
    pub reason: String,
    /// Human-readable explanation.
    pub message: String,
}

impl Failure {
    /// The failure a health reports, if it reports one.
    pub fn of(health: &RevisionHealth) -> Option<Self> {
        match health {
            RevisionHealth::Failed { reason, message }
            | RevisionHealth::Unavailable { reason, message } => Some(Self {
                reason: reason.clone(),
                message: message.clone(),
            }),
            RevisionHealth::Deploying | RevisionHealth::Ready => None,
        }
    }

    /// The text for [`Endpoints::failure`](super::Endpoints::failure).
    pub fn to_endpoints_failure(&self) -> Arc<str> {
        Arc::from(self.to_string())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}
