//! Rules for object metadata: names, the annotations a parent may not carry, the
//! duration annotations and the owner labels (Knative's `apis.ValidateObjectMetadata`
//! and `serving.ValidateObjectMetadata`).
//!
//! Knative does not check the visibility label's value (any value other than
//! `cluster-local` is public), so neither does knserve.

use crate::api::keys::{CONFIGURATION_LABEL, SERVICE_LABEL};
use crate::api::meta::ObjectMeta;
use crate::api::naming::{dns1035_prefix_violation, dns1035_violation};
use crate::duration::parse_duration;
use crate::error::ValidationErrors;

/// Annotations of the autoscaling group: Knative matches the group without the slash.
const AUTOSCALING_GROUP: &str = "autoscaling.knative.dev";

/// `metadata.name` and `metadata.generateName`, as `apis.ValidateObjectMetadata`:
/// `generateName` must be a DNS-1035 prefix, `name` a DNS-1035 label, one of them set.
/// Only the first problem is reported, as in Knative.
pub(super) fn validate_name(meta: &ObjectMeta, errors: &mut ValidationErrors) {
    let name = meta.name.as_deref().unwrap_or("");
    let generate_name = meta.generate_name.as_deref().unwrap_or("");
    if let Some(rule) = dns1035_prefix_violation(generate_name) {
        errors.add("metadata.generateName", rule);
    } else if let Some(rule) = (!name.is_empty())
        .then(|| dns1035_violation(name))
        .flatten()
    {
        errors.add("metadata.name", rule);
    } else if name.is_empty() && generate_name.is_empty() {
        errors.add("metadata.name", "is required (or metadata.generateName)");
    }
}

/// The metadata of a Service, Configuration or Route: a valid name and no autoscaling
/// annotations (they belong on the template).
pub(super) fn validate_parent_meta(meta: &ObjectMeta, errors: &mut ValidationErrors) {
    validate_name(meta, errors);
    for key in meta.annotations.keys() {
        if key.starts_with(AUTOSCALING_GROUP) {
            errors.add(
                format!("metadata.annotations.{key}"),
                "autoscaling annotations must be put under spec.template.metadata.annotations to take effect",
            );
        }
    }
}

/// An owner label (`serving.knative.dev/service` on a Configuration or Route,
/// `serving.knative.dev/configuration` on a Revision) must name an owner reference of
/// that kind.
pub(super) fn validate_owner_label(
    meta: &ObjectMeta,
    owner_kind: &str,
    errors: &mut ValidationErrors,
) {
    let label = match owner_kind {
        "Service" => SERVICE_LABEL,
        _ => CONFIGURATION_LABEL,
    };
    let Some(value) = meta.label(label) else {
        return;
    };
    let owned = meta
        .owner_references
        .iter()
        .any(|r| r.kind == owner_kind && r.name == value);
    if !owned {
        errors.add(
            format!("metadata.labels.{label}"),
            format!("must name an owner reference of kind {owner_kind}, got {value:?}"),
        );
    }
}

/// A duration annotation's value (`rollout-duration`, `progress-deadline`) read by the
/// admission rule: a Go duration of whole seconds, not negative (zero included); else
/// the rule it breaks.
pub fn duration_annotation(value: &str) -> Result<std::time::Duration, &'static str> {
    match parse_duration(value) {
        Err(crate::duration::DurationError::Negative(_)) => Err("must not be negative"),
        Err(_) => Err("must be a Go duration such as \"60s\" or \"2m\""),
        Ok(d) if d.subsec_nanos() != 0 => Err("must be a whole number of seconds"),
        Ok(d) => Ok(d),
    }
}

/// A duration annotation (`rollout-duration`, `progress-deadline`) under any of `keys`
/// (the first present wins): when not empty, a Go duration of whole seconds, not negative.
pub(super) fn validate_duration_annotation(
    meta: &ObjectMeta,
    keys: &[&str],
    errors: &mut ValidationErrors,
) {
    let Some((key, value)) = keys
        .iter()
        .find_map(|k| meta.annotation(k).map(|v| (*k, v)))
    else {
        return;
    };
    if value.is_empty() {
        return;
    }
    let Err(rule) = duration_annotation(value) else {
        return;
    };
    errors.add(
        format!("metadata.annotations.{key}"),
        format!("{rule}, got {value:?}"),
    );
}
