//! Traffic-target rules (§1.6 rules 1–5).

use std::collections::BTreeMap;

use crate::api::naming::{dns1035_violation, is_qualified_name};
use crate::api::route::TrafficTarget;
use crate::error::ValidationErrors;

/// Checks a spec's traffic targets; paths are relative to the list's parent
/// (`traffic[1].percent`).
///
/// In a Service (`in_service`) `configurationName` is implied and may not be written,
/// and an empty list stands for the default 100% on the latest revision; a Route's list
/// must sum to 100.
pub fn validate_traffic(traffic: &[TrafficTarget], in_service: bool) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    let mut tags: BTreeMap<&str, usize> = BTreeMap::new();
    let mut total: i64 = 0;
    for (i, target) in traffic.iter().enumerate() {
        let path = |field: &str| format!("traffic[{i}].{field}");
        let percent = target.percent();
        total = total.saturating_add(percent);
        if !(0..=100).contains(&percent) {
            errors.add(
                path("percent"),
                format!("must be between 0 and 100, got {percent}"),
            );
        }
        validate_target_names(target, in_service, &path, &mut errors);
        match (target.latest_revision, target.revision_name()) {
            (Some(true), name) if !name.is_empty() => errors.add(
                path("latestRevision"),
                format!("must not be true when revisionName is set, got revisionName {name:?}"),
            ),
            (Some(false), "") => errors.add(
                path("latestRevision"),
                "must not be false unless revisionName is set",
            ),
            _ => {}
        }
        if let Some(tag) = target.tag.as_deref() {
            if let Some(rule) = dns1035_violation(tag) {
                errors.add(path("tag"), rule);
            } else if let Some(first) = tags.get(tag) {
                errors.add(
                    path("tag"),
                    format!("must be unique, {tag:?} is also the tag of traffic[{first}]"),
                );
            } else {
                tags.insert(tag, i);
            }
        }
        if target.url.is_some() {
            errors.add(path("url"), "must not be set in spec (it is status only)");
        }
    }
    if total != 100 && !(in_service && traffic.is_empty()) {
        errors.add("traffic", format!("percents must sum to 100, got {total}"));
    }
    errors
}

fn validate_target_names(
    target: &TrafficTarget,
    in_service: bool,
    path: &dyn Fn(&str) -> String,
    errors: &mut ValidationErrors,
) {
    let revision = target.revision_name();
    let configuration = target.configuration_name();
    if in_service && target.configuration_name.is_some() {
        errors.add(
            path("configurationName"),
            "must not be set in a Service (the Service's own configuration is implied)",
        );
    } else if !in_service {
        match (revision.is_empty(), configuration.is_empty()) {
            (false, false) => errors.add(
                path("revisionName"),
                "expected exactly one of revisionName, configurationName, got both",
            ),
            (true, true) => errors.add(
                path("revisionName"),
                "expected exactly one of revisionName, configurationName, got neither",
            ),
            _ => {}
        }
    }
    for (field, name) in [
        ("revisionName", revision),
        ("configurationName", configuration),
    ] {
        if !name.is_empty() && !is_qualified_name(name) {
            errors.add(
                path(field),
                format!("must be a valid Kubernetes name, got {name:?}"),
            );
        }
    }
}
