//! Rules for a revision template's metadata and for a standalone Revision's metadata
//! (Knative's `RevisionTemplateSpec.Validate` and `Revision.Validate`).

use super::context::ValidationConfig;
use super::meta::{validate_duration_annotation, validate_name, validate_owner_label};
use super::revision::validate_revision_spec;
use crate::api::keys::PROGRESS_DEADLINE_ANNOTATION;
use crate::api::meta::ObjectMeta;
use crate::api::naming::check_byo_name;
use crate::api::revision::{RevisionSpec, RevisionTemplateSpec};
use crate::autoscaler::validate_annotations;
use crate::error::ValidationErrors;
use crate::goparse::{is_quantity, outside, parse_float};

/// The `networking.knative.dev` annotations a template may carry; any other key starting
/// with the group (even without a slash) is refused.
const NETWORKING_ANNOTATIONS: [&str; 9] = [
    "networking.knative.dev/ingress.class",
    "networking.knative.dev/certificate.class",
    "networking.knative.dev/disableAutoTLS",
    "networking.knative.dev/disable-external-domain-tls",
    "networking.knative.dev/httpOption",
    "networking.knative.dev/ingress-class",
    "networking.knative.dev/certificate-class",
    "networking.knative.dev/disable-auto-tls",
    "networking.knative.dev/http-protocol",
];

/// The queue-proxy's share of the user container's resources, in percent (deprecated);
/// the legacy spelling is read when the canonical one is absent.
const QUEUE_RESOURCE_PERCENTAGE: [&str; 2] = [
    "queue.sidecar.serving.knative.dev/resource-percentage",
    "queue.sidecar.serving.knative.dev/resourcePercentage",
];

/// The queue-proxy's explicit resources: each a Kubernetes quantity.
const QUEUE_RESOURCES: [&str; 6] = [
    "queue.sidecar.serving.knative.dev/cpu-resource-request",
    "queue.sidecar.serving.knative.dev/cpu-resource-limit",
    "queue.sidecar.serving.knative.dev/memory-resource-request",
    "queue.sidecar.serving.knative.dev/memory-resource-limit",
    "queue.sidecar.serving.knative.dev/ephemeral-storage-resource-request",
    "queue.sidecar.serving.knative.dev/ephemeral-storage-resource-limit",
];

/// Checks a Configuration's or Service's template; paths are relative to the template
/// (`metadata.name`, `spec.containers[0].image`).
pub(super) fn validate_template(
    template: &RevisionTemplateSpec,
    parent: &ObjectMeta,
    config: &ValidationConfig,
) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    let meta = &template.metadata;
    errors.extend_under("spec", validate_revision_spec(&template.spec, config));
    errors.extend_under(
        "metadata",
        validate_annotations(&meta.annotations, &config.autoscaler),
    );
    validate_networking_annotations(meta, &mut errors);
    let name = meta.name.as_deref().unwrap_or("");
    let generate_name = meta.generate_name.as_deref().unwrap_or("");
    errors.extend(check_byo_name(name, generate_name, parent));
    validate_queue_annotations(meta, &mut errors);
    validate_duration_annotation(meta, &[PROGRESS_DEADLINE_ANNOTATION], &mut errors);
    errors
}

/// Checks a standalone Revision on create: its name, owner label, autoscaling
/// annotations and spec. (Knative checks the networking, queue-proxy and
/// progress-deadline annotations on templates only.)
pub(super) fn validate_revision_object(
    meta: &ObjectMeta,
    spec: &RevisionSpec,
    config: &ValidationConfig,
) -> ValidationErrors {
    let mut errors = validate_revision_meta(meta, config);
    errors.extend_under("spec", validate_revision_spec(spec, config));
    errors
}

/// A standalone Revision's metadata rules, which also apply on update.
pub(super) fn validate_revision_meta(
    meta: &ObjectMeta,
    config: &ValidationConfig,
) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    validate_name(meta, &mut errors);
    errors.extend_under(
        "metadata",
        validate_annotations(&meta.annotations, &config.autoscaler),
    );
    validate_owner_label(meta, "Configuration", &mut errors);
    errors
}

fn validate_networking_annotations(meta: &ObjectMeta, errors: &mut ValidationErrors) {
    for key in meta.annotations.keys() {
        if key.starts_with("networking.knative.dev")
            && !NETWORKING_ANNOTATIONS.contains(&key.as_str())
        {
            errors.add(
                format!("metadata.annotations.{key}"),
                format!(
                    "unknown networking annotation, expected one of {}",
                    NETWORKING_ANNOTATIONS.join(", ")
                ),
            );
        }
    }
}

/// Knative's `validateQueueSidecarResourceAnnotations`; its paths are
/// `metadata.annotations.[<key>]`, as Knative's `ViaKey` then `ViaField` write them.
fn validate_queue_annotations(meta: &ObjectMeta, errors: &mut ValidationErrors) {
    let path = |key: &str| format!("metadata.annotations.[{key}]");
    if let Some((key, value)) = QUEUE_RESOURCE_PERCENTAGE
        .iter()
        .find_map(|k| meta.annotation(k).map(|v| (*k, v)))
    {
        match parse_float(value) {
            None => errors.add(path(key), format!("must be a number, got {value:?}")),
            Some(v) if outside(v, 0.1, 100.0) => errors.add(
                path(key),
                format!("must be between 0.1 and 100, got {value:?}"),
            ),
            Some(_) => {}
        }
    }
    for key in QUEUE_RESOURCES {
        if let Some(value) = meta.annotation(key).filter(|v| !is_quantity(v)) {
            errors.add(
                path(key),
                format!(
                    "must be a Kubernetes quantity such as \"100m\" or \"128Mi\", got {value:?}"
                ),
            );
        }
    }
}
