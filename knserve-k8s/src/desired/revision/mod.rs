//! Revision → Deployment and PodAutoscaler (spec §1.1, §1.2, §2.3, §4.1, §4.3, §5.1).
//!
//! - [`desired_deployment`]: the `<rev>-deployment` Deployment — the user containers with
//!   Knative's injected environment and the readiness probe moved to the `queue-proxy`
//!   sidecar ([`queue_container`]), whose environment is exactly what
//!   [`crate::queue::QueueEnv`] reads.
//! - [`desired_pod_autoscaler`]: the `<rev>` PodAutoscaler, its class and metric
//!   defaulted and its reachability taken from the routing state.
//! - [`DeploymentConfig`]: `config-deployment` (sidecar image and resources, progress
//!   deadline).
//!
//! The helpers [`controller_ref`] and [`InvalidInput`] are shared by the other desired
//! modules.
//!
//! Replicas: the autoscaler owns `spec.replicas` once the Deployment exists, so
//! [`desired_deployment`] takes the live count and writes it back unchanged (as
//! Knative's revision reconciler does); only a Deployment that does not exist yet gets
//! the initial scale.

mod config;
mod deployment;
mod pa;
mod queue;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use knserve_core::api::keys;
use kube::Resource;

use crate::crd::Revision;

pub use self::config::{DEFAULT_QUEUE_IMAGE, DeploymentConfig, QUEUE_ARGS};
pub use self::deployment::{DesiredDeployment, RevisionError, deployment_name, desired_deployment};
pub use self::pa::{desired_pod_autoscaler, reachability};
pub use self::queue::{
    QUEUE_ADMIN_PORT, QUEUE_CONTAINER_NAME, QUEUE_H2C_PORT, QUEUE_HTTP_PORT, QUEUE_METRICS_PORT,
    QUEUE_TLS_PORT, observability_env, queue_container, sidecar_readiness_probe,
};

/// An input object lacks something the desired objects are built from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct InvalidInput {
    /// The path of the missing or bad field (`metadata.uid`, `spec.containers`).
    pub field: String,
    /// The rule it breaks.
    pub rule: &'static str,
}

impl InvalidInput {
    /// An error for `field` breaking `rule`.
    pub fn new(field: impl Into<String>, rule: &'static str) -> Self {
        Self {
            field: field.into(),
            rule,
        }
    }
}

/// A controller owner reference to `owner` with `blockOwnerDeletion`, so garbage
/// collection deletes the child with its owner and foreground deletion waits for it.
///
/// # Errors
/// When the owner has no name or uid (it was not read from the API server).
pub fn controller_ref<K: Resource<DynamicType = ()>>(
    owner: &K,
) -> Result<OwnerReference, InvalidInput> {
    let meta = owner.meta();
    if meta.name.as_deref().unwrap_or("").is_empty() {
        return Err(InvalidInput::new(
            "metadata.name",
            "the owner must have a name",
        ));
    }
    if meta.uid.as_deref().unwrap_or("").is_empty() {
        return Err(InvalidInput::new(
            "metadata.uid",
            "the owner must have a uid (read it from the API server)",
        ));
    }
    let mut reference = owner
        .controller_owner_ref(&())
        .ok_or_else(|| InvalidInput::new("metadata", "the owner must have a name and uid"))?;
    reference.block_owner_deletion = Some(true);
    Ok(reference)
}

/// The namespace of `object`, which must be set.
pub(crate) fn namespace_of<K: Resource>(object: &K) -> Result<String, InvalidInput> {
    object
        .meta()
        .namespace
        .clone()
        .filter(|ns| !ns.is_empty())
        .ok_or_else(|| InvalidInput::new("metadata.namespace", "must be set"))
}

/// Revision labels that change over the revision's life and so must not reach its
/// pods (a change would roll the Deployment): the routing state and the route.
const VOLATILE_LABELS: [&str; 2] = [keys::ROUTING_STATE_LABEL, keys::ROUTE_LABEL];

/// Revision annotations not copied to children: the routing-state timestamp (changes
/// over time) and `kubectl`'s last-applied copy.
const VOLATILE_ANNOTATIONS: [&str; 3] = [
    keys::ROUTING_STATE_MODIFIED_ANNOTATION,
    keys::LAST_APPLIED_CONFIGURATION,
    "serving.knative.dev/lastPinned",
];

/// The labels of a revision's children (Deployment, pods, PodAutoscaler): the
/// revision's own labels without the volatile ones, `serving.knative.dev/revision`,
/// `serving.knative.dev/revisionUID`, and `app: <rev>` unless the user set `app`.
pub fn revision_child_labels(
    revision: &Revision,
) -> Result<BTreeMap<String, String>, InvalidInput> {
    let name = revision_name(revision)?;
    let uid = revision
        .metadata
        .uid
        .clone()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| InvalidInput::new("metadata.uid", "the revision must have a uid"))?;
    let mut labels: BTreeMap<String, String> = revision
        .metadata
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| !VOLATILE_LABELS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(keys::REVISION_LABEL.to_owned(), name.clone());
    labels.insert(keys::REVISION_UID_LABEL.to_owned(), uid);
    labels.entry("app".to_owned()).or_insert(name);
    Ok(labels)
}

/// The annotations of a revision's children: the revision's, without the volatile ones.
pub fn revision_child_annotations(revision: &Revision) -> BTreeMap<String, String> {
    revision
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| !VOLATILE_ANNOTATIONS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The revision's name, which must be set.
pub(crate) fn revision_name(revision: &Revision) -> Result<String, InvalidInput> {
    revision
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| InvalidInput::new("metadata.name", "the revision must have a name"))
}
