//! The values `apply` and `observe` take and return.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::api::{Configuration, Revision, Route, Service, ValidationConfig};

/// Everything one Service owns, with statuses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSet {
    /// The defaulted Service, with generation, uid and status.
    pub service: Service,
    /// The Configuration of the same name.
    pub configuration: Configuration,
    /// Every revision stamped out and not garbage-collected, oldest first.
    pub revisions: Vec<Revision>,
    /// The Route of the same name.
    pub route: Route,
    /// The BYO revision name the current generation asked for but another service's
    /// revision (or a different revision of this service) already holds (§1.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_name_taken: Option<String>,
    /// `revisionName` traffic targets that, at the last apply, named a revision of
    /// another service (`RevisionNotOwned`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub foreign_revision_names: BTreeSet<String>,
}

impl ServiceSet {
    /// The revision named `name`, if this service owns one.
    pub fn revision(&self, name: &str) -> Option<&Revision> {
        self.revisions.iter().find(|r| r.metadata.name() == name)
    }

    /// The service's namespace.
    pub fn namespace(&self) -> &str {
        self.service.metadata.namespace()
    }

    /// The service's name (also its Configuration's and Route's).
    pub fn name(&self) -> &str {
        self.service.metadata.name()
    }
}

/// What the backend knows about one revision at runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionObservation {
    /// Whether it came up, is coming up, or failed.
    pub health: RevisionHealth,
    /// Instances running now.
    pub actual_replicas: u32,
    /// Instances the autoscaler asked for, if it has decided.
    pub desired_replicas: Option<u32>,
    /// Whether it has instances to serve from (`Active`, not part of Ready); `None`
    /// when not known yet.
    pub active: Option<bool>,
}

/// A revision's runtime health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevisionHealth {
    /// Starting, not yet ready.
    Deploying,
    /// Reached its initial scale and passed readiness.
    Ready,
    /// Cannot become ready (`reason` CamelCase, e.g. `ExitCode1`).
    Failed {
        /// One-word reason, copied to `ContainerHealthy` and `Ready`.
        reason: String,
        /// Human-readable explanation.
        message: String,
    },
    /// Its resources cannot come up: no node fits it, its image cannot be pulled, or
    /// it made no progress in time (`reason` CamelCase, e.g. `ImagePullBackOff`).
    Unavailable {
        /// One-word reason, copied to `ResourcesAvailable` and `Ready`.
        reason: String,
        /// Human-readable explanation.
        message: String,
    },
}

/// What `apply` did, as `kubectl apply` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyAction {
    /// The service did not exist.
    Created,
    /// The spec or metadata changed.
    Configured,
    /// Nothing changed; the set is returned as it was.
    Unchanged,
}

/// The result of [`super::apply`].
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The service's objects after the apply.
    pub set: ServiceSet,
    /// Created, configured or unchanged.
    pub action: ApplyAction,
    /// The revision this apply stamped out, if any.
    pub new_revision: Option<String>,
    /// Non-fatal problems (`spec.template.metadata.annotations[...]: unknown ...`).
    pub warnings: Vec<String>,
}

/// What `apply` needs from outside: validation settings, the time, and the names other
/// services' revisions hold.
pub struct ApplyContext<'a> {
    /// The admission settings.
    pub config: &'a ValidationConfig,
    /// RFC 3339 UTC, for `creationTimestamp` and `routingStateModified`.
    pub now: &'a str,
    /// Whether a revision of ANOTHER service in `namespace` has the name
    /// `(namespace, revision name)`.
    pub name_taken: &'a dyn Fn(&str, &str) -> bool,
}

impl std::fmt::Debug for ApplyContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyContext")
            .field("config", self.config)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}
