//! Traffic-target rules (Knative's `validateTrafficList` and `TrafficTarget.Validate`).

use std::collections::BTreeMap;

use crate::api::naming::{dns1035_violation, is_qualified_name};
use crate::api::route::TrafficTarget;
use crate::error::ValidationErrors;

/// Checks a spec's traffic targets, as Knative does after defaulting; paths are relative
/// to the list's parent (`traffic[1].percent`).
///
/// In a Service (`in_service`) `configurationName` is implied and may not be written.
/// The percents must sum to 100 (a defaulted Service always has a target). An empty tag
/// is no tag; a duplicated tag is reported at both targets.
pub fn validate_traffic(traffic: &[TrafficTarget], in_service: bool) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    let mut tags: BTreeMap<&str, usize> = BTreeMap::new();
    let mut total: i64 = 0;
    for (i, target) in traffic.iter().enumerate() {
        let path = |field: &str| format!("traffic[{i}].{field}");
        validate_latest_revision(target, &path, &mut errors);
        validate_target_names(target, in_service, &path, &mut errors);
        if let Some(percent) = target.percent.filter(|p| !(0..=100).contains(p)) {
            errors.add(
                path("percent"),
                format!("must be between 0 and 100, got {percent}"),
            );
        }
        if target.url.as_deref().is_some_and(|u| !u.is_empty()) {
            errors.add(path("url"), "must not be set in spec (it is status only)");
        }
        total = total.saturating_add(target.percent.unwrap_or(0));
        let tag = target.tag();
        if tag.is_empty() {
            continue;
        }
        if let Some(rule) = dns1035_violation(tag) {
            // Knative's ErrInvalidArrayValue("tag", i): the index follows the field.
            errors.add(format!("traffic.tag[{i}]"), rule);
        }
        if let Some(first) = tags.get(tag) {
            let rule =
                format!("must be unique, {tag:?} is the tag of traffic[{first}] and traffic[{i}]");
            errors.add(path("tag"), rule.clone());
            errors.add(format!("traffic[{first}].tag"), rule);
        } else {
            tags.insert(tag, i);
        }
    }
    if total != 100 {
        errors.add("traffic", format!("percents must sum to 100, got {total}"));
    }
    errors
}

fn validate_latest_revision(
    target: &TrafficTarget,
    path: &dyn Fn(&str) -> String,
    errors: &mut ValidationErrors,
) {
    let revision = target.revision_name();
    match target.latest_revision {
        Some(true) if !revision.is_empty() => errors.add(
            path("latestRevision"),
            format!("must not be true when revisionName is set, got revisionName {revision:?}"),
        ),
        Some(false) if revision.is_empty() => errors.add(
            path("latestRevision"),
            "must not be false unless revisionName is set",
        ),
        _ => {}
    }
}

/// Knative's `validateRevisionAndConfiguration`: the first case that applies decides.
fn validate_target_names(
    target: &TrafficTarget,
    in_service: bool,
    path: &dyn Fn(&str) -> String,
    errors: &mut ValidationErrors,
) {
    let revision = target.revision_name();
    let configuration = target.configuration_name();
    let invalid_name = |name: &str| format!("must be a valid Kubernetes name, got {name:?}");
    if in_service && !configuration.is_empty() {
        errors.add(
            path("configurationName"),
            "must not be set in a Service (the Service's own configuration is implied)",
        );
    } else if !revision.is_empty() && !configuration.is_empty() {
        let rule = "expected exactly one of revisionName, configurationName, got both";
        errors.add(path("revisionName"), rule);
        errors.add(path("configurationName"), rule);
    } else if !revision.is_empty() {
        if !is_qualified_name(revision) {
            errors.add(path("revisionName"), invalid_name(revision));
        }
    } else if !configuration.is_empty() {
        if !is_qualified_name(configuration) {
            errors.add(path("configurationName"), invalid_name(configuration));
        }
    } else if !in_service {
        let rule = "expected exactly one of revisionName, configurationName, got neither";
        errors.add(path("revisionName"), rule);
        errors.add(path("configurationName"), rule);
    }
}
