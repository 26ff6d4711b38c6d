//! The revision's PodAutoscaler (spec §2.3, §2.12).

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use knserve_core::api::keys;
use knserve_core::autoscaler::Reachability;
use knserve_core::autoscaler::annotations::{CLASS, METRIC};
use knserve_core::config::{AutoscalerConfig, PodAutoscalerClass};

use super::deployment::{RevisionError, deployment_name};
use super::queue::container_concurrency;
use super::{
    controller_ref, namespace_of, revision_child_annotations, revision_child_labels, revision_name,
};
use crate::crd::{PodAutoscaler, PodAutoscalerSpec, Revision};

/// The PA `spec.reachability` of a revision from its `serving.knative.dev/routingState`
/// label (§2.12): `active` → `Reachable`, `reserve` → `Unreachable`, else empty
/// (unknown).
///
/// Choice: only the label is read here; the "failed and has no ready pods" rule needs
/// the Deployment and is left to the autoscaler, which sees it.
pub fn reachability(revision: &Revision) -> &'static str {
    let state = revision
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(keys::ROUTING_STATE_LABEL))
        .map(String::as_str);
    match Reachability::of_revision(state, false, false, 0) {
        Reachability::Reachable => "Reachable",
        Reachability::Unreachable => "Unreachable",
        Reachability::Unknown => "",
    }
}

/// The `<rev>` PodAutoscaler: the revision's labels and annotations, the class defaulted
/// from `config-autoscaler` `pod-autoscaler-class` and the metric from the class
/// (`concurrency` for KPA, `cpu` for HPA, none for a foreign class), the revision's
/// `containerConcurrency`, its Deployment as scale target, its protocol and its
/// reachability.
///
/// # Errors
/// A revision without name, namespace or uid, or with a negative `containerConcurrency`.
pub fn desired_pod_autoscaler(
    revision: &Revision,
    autoscaler: &AutoscalerConfig,
) -> Result<PodAutoscaler, RevisionError> {
    let name = revision_name(revision)?;
    let namespace = namespace_of(revision)?;
    let mut annotations = revision_child_annotations(revision);
    let class = match CLASS.get(&annotations) {
        Some((_, class)) => PodAutoscalerClass::from_name(class),
        None => autoscaler.pod_autoscaler_class.clone(),
    };
    annotations
        .entry(CLASS.canonical.to_owned())
        .or_insert_with(|| class.name().to_owned());
    let default_metric = match class {
        PodAutoscalerClass::Kpa => Some("concurrency"),
        PodAutoscalerClass::Hpa => Some("cpu"),
        PodAutoscalerClass::Other(_) => None,
    };
    if let Some(metric) = default_metric {
        annotations
            .entry(METRIC.canonical.to_owned())
            .or_insert_with(|| metric.to_owned());
    }
    let spec = PodAutoscalerSpec {
        container_concurrency: i64::from(container_concurrency(&revision.spec)?),
        scale_target_ref: ObjectReference {
            api_version: Some("apps/v1".to_owned()),
            kind: Some("Deployment".to_owned()),
            name: Some(deployment_name(&name)),
            ..ObjectReference::default()
        },
        reachability: reachability(revision).to_owned(),
        protocol_type: if revision.spec.is_h2c() {
            "h2c"
        } else {
            "http1"
        }
        .to_owned(),
    };
    let mut pa = PodAutoscaler::new(&name, spec);
    pa.metadata = ObjectMeta {
        name: Some(name),
        namespace: Some(namespace),
        labels: Some(revision_child_labels(revision)?),
        annotations: Some(annotations),
        owner_references: Some(vec![controller_ref(revision)?]),
        ..ObjectMeta::default()
    };
    Ok(pa)
}
