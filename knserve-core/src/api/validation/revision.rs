//! Rules for a `RevisionSpec` and a revision template (§1.2, §1.3).

use std::collections::BTreeSet;

use super::container::validate_container;
use super::context::ValidationConfig;
use crate::api::naming::is_dns1123_label;
use crate::api::revision::RevisionSpec;
use crate::error::ValidationErrors;

/// Checks a revision spec against the cluster's settings; paths are relative to the
/// spec (`containers[0].image`).
pub fn validate_revision_spec(spec: &RevisionSpec, config: &ValidationConfig) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    validate_containers(spec, config, &mut errors);
    validate_pod_fields(spec, config, &mut errors);
    validate_volumes(spec, config, &mut errors);
    validate_numbers(spec, config, &mut errors);
    errors
}

fn validate_containers(
    spec: &RevisionSpec,
    config: &ValidationConfig,
    errors: &mut ValidationErrors,
) {
    let count = spec.containers.len();
    if count == 0 {
        errors.add("containers", "is required (at least one container)");
        return;
    }
    if count > 1 && !config.features.multi_container.permits() {
        errors.add(
            "containers",
            format!("more than one container requires config-features multi-container to be enabled, got {count}"),
        );
    }
    let with_ports: Vec<usize> = (0..count)
        .filter(|i| !spec.containers[*i].ports.is_empty())
        .collect();
    if count > 1 && with_ports.is_empty() {
        errors.add(
            "containers",
            "one container must declare the serving port when there are several, got none",
        );
    }
    for i in with_ports.iter().skip(1) {
        errors.add(
            format!("containers[{i}].ports"),
            format!(
                "only one container may declare a port, containers[{}] already does",
                with_ports[0]
            ),
        );
    }
    let volumes: BTreeSet<&str> = spec.volumes.iter().map(|v| v.name.as_str()).collect();
    let serving = spec.serving_container_index();
    let mut names = BTreeSet::new();
    for (i, container) in spec.containers.iter().enumerate() {
        let found = validate_container(container, Some(i) == serving, &volumes, config);
        errors.extend_under(&format!("containers[{i}]"), found);
        if !container.name.is_empty() && !names.insert(container.name.as_str()) {
            errors.add(
                format!("containers[{i}].name"),
                format!("duplicate container name {:?}", container.name),
            );
        }
    }
    for (i, container) in spec.init_containers.iter().enumerate() {
        if !container.name.is_empty() && !names.insert(container.name.as_str()) {
            errors.add(
                format!("initContainers[{i}].name"),
                format!("duplicate container name {:?}", container.name),
            );
        }
        if container.image.trim().is_empty() {
            errors.add(format!("initContainers[{i}].image"), "is required");
        }
    }
}

fn validate_pod_fields(
    spec: &RevisionSpec,
    config: &ValidationConfig,
    errors: &mut ValidationErrors,
) {
    if !spec.init_containers.is_empty() && !config.features.podspec_init_containers.permits() {
        errors.add(
            "initContainers",
            "not allowed unless config-features kubernetes.podspec-init-containers is enabled",
        );
    }
    for (field, key, flag) in config.features.gated_pod_fields() {
        if spec.extra.contains_key(field) && !flag.permits() {
            errors.add(
                field,
                format!("not allowed unless config-features {key} is enabled"),
            );
        }
    }
}

fn validate_volumes(spec: &RevisionSpec, config: &ValidationConfig, errors: &mut ValidationErrors) {
    let features = &config.features;
    let gates = [
        (
            "emptyDir",
            "kubernetes.podspec-volumes-emptydir",
            features.podspec_volumes_emptydir,
        ),
        (
            "hostPath",
            "kubernetes.podspec-volumes-hostpath",
            features.podspec_volumes_hostpath,
        ),
        (
            "persistentVolumeClaim",
            "kubernetes.podspec-persistent-volume-claim",
            features.podspec_persistent_volume_claim,
        ),
    ];
    let mut names = BTreeSet::new();
    for (i, volume) in spec.volumes.iter().enumerate() {
        if !is_dns1123_label(&volume.name) {
            errors.add(
                format!("volumes[{i}].name"),
                format!("must be a DNS-1123 label, got {:?}", volume.name),
            );
        } else if !names.insert(volume.name.as_str()) {
            errors.add(
                format!("volumes[{i}].name"),
                format!("duplicate volume name {:?}", volume.name),
            );
        }
        let sources = volume.source.len();
        if sources != 1 {
            errors.add(
                format!("volumes[{i}]"),
                format!("expected exactly one volume source, got {sources}"),
            );
        }
        for (source, key, flag) in gates {
            if volume.source.contains_key(source) && !flag.permits() {
                errors.add(
                    format!("volumes[{i}].{source}"),
                    format!("not allowed unless config-features {key} is enabled"),
                );
            }
        }
    }
}

fn validate_numbers(spec: &RevisionSpec, config: &ValidationConfig, errors: &mut ValidationErrors) {
    let defaults = &config.defaults;
    if let Some(cc) = spec.container_concurrency {
        let min = i64::from(!defaults.allow_container_concurrency_zero);
        let max = defaults.container_concurrency_max_limit;
        if cc < min || cc > max {
            errors.add(
                "containerConcurrency",
                format!("must be between {min} and {max}, got {cc}"),
            );
        }
    }
    // Knative bounds only timeoutSeconds (0 is unset); responseStartTimeoutSeconds and
    // idleTimeoutSeconds have no bounds in v0.50.
    let max = defaults.max_revision_timeout_seconds;
    if let Some(t) = spec
        .timeout_seconds
        .filter(|t| *t != 0 && (*t < 0 || *t > max))
    {
        errors.add(
            "timeoutSeconds",
            format!("must be between 0 and {max}, got {t}"),
        );
    }
}
