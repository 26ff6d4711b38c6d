//! Rules for object metadata (§1.6 rules 6–8).

use crate::api::keys::{
    AUTOSCALING_ANNOTATION_PREFIX, VISIBILITY_CLUSTER_LOCAL, VISIBILITY_LABEL,
    VISIBILITY_LABEL_LEGACY,
};
use crate::api::meta::ObjectMeta;
use crate::api::naming::{MAX_NAME_LENGTH, dns1035_violation, is_dns1035_label};
use crate::duration::parse_duration;
use crate::error::ValidationErrors;

/// `metadata.name` must be a DNS-1035 label; `generateName` may stand in for it.
pub(super) fn validate_name(meta: &ObjectMeta, errors: &mut ValidationErrors) {
    match (meta.name.as_deref(), meta.generate_name.as_deref()) {
        (Some(name), _) if !name.is_empty() => {
            if let Some(rule) = dns1035_violation(name) {
                errors.add("metadata.name", rule);
            }
        }
        (_, Some(prefix)) if !prefix.is_empty() => {
            // The API server appends 5 characters; the prefix must leave a valid label.
            let sample = format!("{prefix}abcde");
            if sample.len() > MAX_NAME_LENGTH || !is_dns1035_label(&sample) {
                errors.add(
                    "metadata.generateName",
                    format!("must be the prefix of a DNS-1035 label of at most 58 characters, got {prefix:?}"),
                );
            }
        }
        _ => errors.add("metadata.name", "is required (or metadata.generateName)"),
    }
}

/// The metadata of a Service, Configuration or Route: a valid name, no autoscaling
/// annotations (they belong on the template) and a valid visibility label.
pub(super) fn validate_parent_meta(meta: &ObjectMeta, errors: &mut ValidationErrors) {
    validate_name(meta, errors);
    for key in meta.annotations.keys() {
        if key.starts_with(AUTOSCALING_ANNOTATION_PREFIX) {
            errors.add(
                format!("metadata.annotations[{key}]"),
                "autoscaling annotations must be put under spec.template.metadata.annotations to take effect",
            );
        }
    }
    for key in [VISIBILITY_LABEL, VISIBILITY_LABEL_LEGACY] {
        if let Some(value) = meta.label(key).filter(|v| *v != VISIBILITY_CLUSTER_LOCAL) {
            errors.add(
                format!("metadata.labels[{key}]"),
                format!("must be \"cluster-local\", got {value:?}"),
            );
        }
    }
}

/// A duration annotation (`rollout-duration`, `progress-deadline`): a Go duration of
/// whole seconds, not negative.
pub(super) fn validate_duration_annotation(
    meta: &ObjectMeta,
    key: &str,
    errors: &mut ValidationErrors,
) {
    let Some(value) = meta.annotation(key) else {
        return;
    };
    let rule = match parse_duration(value) {
        Err(crate::duration::DurationError::Negative(_)) => "must not be negative",
        Err(_) => "must be a Go duration such as \"60s\" or \"2m\"",
        Ok(d) if d.subsec_nanos() != 0 => "must be a whole number of seconds",
        Ok(_) => return,
    };
    errors.add(
        format!("metadata.annotations[{key}]"),
        format!("{rule}, got {value:?}"),
    );
}
