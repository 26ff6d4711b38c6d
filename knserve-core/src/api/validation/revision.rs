//! Rules for a `RevisionSpec` and a revision template (§1.2, §1.3).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::container::{Role, validate_container};
use super::context::ValidationConfig;
use super::fieldmask::{NOT_ALLOWED, POD_SPEC, gated_pod_fields};
use super::security::validate_pod_security_context;
use super::volume::validate_volumes;
use crate::api::container::{Container, ContainerPort, Volume};
use crate::api::revision::{DEFAULT_USER_PORT, RevisionSpec};
use crate::error::{FieldError, ValidationErrors};

/// Checks a revision spec against the cluster's settings; paths are relative to the
/// spec (`containers[0].image`). The order is Knative's `ValidatePodSpec`.
pub fn validate_revision_spec(spec: &RevisionSpec, config: &ValidationConfig) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    validate_pod_fields(spec, config, &mut errors);
    let mounted: BTreeSet<&str> = spec
        .init_containers
        .iter()
        .chain(&spec.containers)
        .flat_map(|c| c.volume_mounts.iter().map(|m| m.name.as_str()))
        .collect();
    errors.extend_under(
        "",
        validate_volumes(&spec.volumes, &mounted, &config.features),
    );
    // By name, the last of a duplicated name winning, as Knative's map does.
    let volumes: BTreeMap<&str, &Volume> =
        spec.volumes.iter().map(|v| (v.name.as_str(), v)).collect();
    validate_init_containers(spec, &volumes, config, &mut errors);
    validate_containers(spec, &volumes, config, &mut errors);
    if let Some(account) = spec
        .service_account_name
        .as_deref()
        .filter(|a| !a.is_empty())
    {
        let details = dns1123_subdomain_errors(account);
        if !details.is_empty() {
            errors.push(FieldError::invalid_value(
                account,
                "serviceAccountName",
                details.join("\n"),
            ));
        }
    }
    validate_numbers(spec, config, &mut errors);
    errors
}

/// The pod-spec mask (`PodSpecMask`) and the pod's security context.
fn validate_pod_fields(
    spec: &RevisionSpec,
    config: &ValidationConfig,
    errors: &mut ValidationErrors,
) {
    let features = &config.features;
    let mut also = gated_pod_fields(features);
    // Only `automountServiceAccountToken: false` is kept.
    if spec.extra.get("automountServiceAccountToken") == Some(&Value::Bool(false)) {
        also.push("automountServiceAccountToken");
    }
    let gates = features.gated_pod_fields();
    for key in POD_SPEC.disallowed(&spec.extra, &also) {
        let rule = match gates.iter().find(|(field, _, _)| *field == key) {
            Some((_, flag_key, _)) => {
                format!("must not set the field(s) unless config-features {flag_key} is enabled")
            }
            None => NOT_ALLOWED.to_owned(),
        };
        errors.add(key, rule);
    }
    if !spec.init_containers.is_empty() && !features.podspec_init_containers.lets_field_through() {
        errors.add(
            "initContainers",
            "must not set the field(s) unless config-features kubernetes.podspec-init-containers is enabled",
        );
    }
    if let Some(sc) = spec.extra.get("securityContext").filter(|v| !v.is_null()) {
        errors.extend_under(
            "securityContext",
            validate_pod_security_context(sc, features),
        );
    }
}

/// Knative's `validateInitContainers`. Its paths name an init container by its index
/// under `containers` (`containers[0].livenessProbe` for the first init container): a
/// quirk kept so that the paths match.
fn validate_init_containers(
    spec: &RevisionSpec,
    volumes: &BTreeMap<&str, &Volume>,
    config: &ValidationConfig,
    errors: &mut ValidationErrors,
) {
    if spec.init_containers.is_empty() {
        return;
    }
    let flag = config.features.podspec_init_containers;
    if !flag.is_enabled() {
        errors.add(
            "initContainers",
            format!(
                "init containers require config-features kubernetes.podspec-init-containers to be enabled, got {} ({} found)",
                flag.as_str(),
                spec.init_containers.len()
            ),
        );
        return;
    }
    let names: BTreeSet<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    for (i, container) in spec.init_containers.iter().enumerate() {
        let at = format!("containers[{i}]");
        if names.contains(container.name.as_str()) {
            errors.add(
                format!("{at}.name"),
                format!(
                    "duplicate container name {:?} (init container {i})",
                    container.name
                ),
            );
        }
        errors.extend_under(
            &at,
            validate_container(container, Role::Init, volumes, config),
        );
    }
}

fn validate_containers(
    spec: &RevisionSpec,
    volumes: &BTreeMap<&str, &Volume>,
    config: &ValidationConfig,
    errors: &mut ValidationErrors,
) {
    let containers = &spec.containers;
    let port = serving_port(containers, errors);
    match containers.len() {
        0 => errors.add("containers", "is required (at least one container)"),
        1 => errors.extend_under(
            "containers[0]",
            validate_container(&containers[0], Role::User(&port), volumes, config),
        ),
        count => {
            let flag = config.features.multi_container;
            if !flag.is_enabled() {
                errors.add(
                    "containers",
                    format!("more than one container requires config-features multi-container to be enabled, got {count} containers"),
                );
                return;
            }
            let mut names = BTreeSet::new();
            for (i, container) in containers.iter().enumerate() {
                if !names.insert(container.name.as_str()) {
                    errors.add(
                        format!("containers[{i}].name"),
                        format!("duplicate container name {:?}", container.name),
                    );
                }
                let role = if container.ports.is_empty() {
                    Role::Sidecar
                } else {
                    Role::User(&port)
                };
                errors.extend_under(
                    &format!("containers[{i}]"),
                    validate_container(container, role, volumes, config),
                );
            }
        }
    }
}

/// Knative's `validateContainersPorts`: exactly one port across the containers (none
/// is fine for a lone container); returns the serving port with its name defaulted to
/// `http` and its number to 8080. The path is Knative's `containers[*].ports`.
fn serving_port(containers: &[Container], errors: &mut ValidationErrors) -> ContainerPort {
    let count: usize = containers.iter().map(|c| c.ports.len()).sum();
    let mut port = containers
        .iter()
        .rev()
        .find_map(|c| c.ports.first())
        .cloned()
        .unwrap_or_default();
    if port.name.is_empty() {
        port.name = "http".to_owned();
    }
    if port.container_port == 0 {
        port.container_port = DEFAULT_USER_PORT;
    }
    if count == 0 && containers.len() > 1 {
        errors.add(
            "containers[*].ports",
            "one container must declare the serving port when there are several, got none",
        );
    } else if count > 1 {
        errors.add(
            "containers[*].ports",
            format!("only a single port is allowed across all containers, got {count}"),
        );
    }
    port
}

/// Kubernetes' `IsDNS1123Subdomain`: at most 253 characters of dot-separated labels of
/// `a-z 0-9 -`, each starting and ending with a letter or digit (no per-label limit).
/// Its messages, word for word as apimachinery gives them (Knative passes them on as
/// the details of its error), empty when `s` is one.
fn dns1123_subdomain_errors(s: &str) -> Vec<String> {
    const MAX: usize = 253;
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let mut errors = Vec::new();
    if s.len() > MAX {
        errors.push(format!("must be no more than {MAX} characters"));
    }
    if !s.split('.').all(label) {
        errors.push(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
             characters, '-' or '.', and must start and end with an alphanumeric character \
             (e.g. 'example.com', regex used for validation is \
             '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
                .to_owned(),
        );
    }
    errors
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
