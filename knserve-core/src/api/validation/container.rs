//! Rules for one container (Knative's `validate`, `ValidateUserContainer`,
//! `validateSidecarContainer`, `validateInitContainer`): allowed fields, name, image,
//! env, ports, resources, security context, probes and mounts.

use std::collections::BTreeMap;

use serde_json::Value;

use super::context::ValidationConfig;
use super::fieldmask::{
    CONTAINER, CONTAINER_PORT, ENV_VAR, ENV_VAR_SOURCE, NOT_ALLOWED, RESOURCES,
};
use super::image::check_image_reference;
use super::probe::{
    ProbeOwner, validate_probe, validate_readiness_probe, validate_unprobed_sidecar_probe,
};
use super::security::validate_container_security_context;
use super::volume::validate_volume_mounts;
use crate::api::container::{Container, ContainerPort, EnvVar, Volume};
use crate::api::env::{RESERVED_ENV, RESERVED_SIDECAR_ENV};
use crate::error::ValidationErrors;

/// Ports the queue-proxy and Knative's sidecars listen on (§7).
pub const RESERVED_PORTS: [i32; 6] = [8012, 8013, 8022, 9090, 9091, 8008];

/// The container name Knative keeps for its queue-proxy sidecar.
const RESERVED_CONTAINER_NAME: &str = "queue-proxy";

/// Which part a container plays in the pod.
#[derive(Debug, Clone, Copy)]
pub(super) enum Role<'a> {
    /// The serving container; `port` is the serving port with Knative's defaults
    /// (`http`, 8080) filled in.
    User(&'a ContainerPort),
    /// A container without ports, next to the serving one.
    Sidecar,
    /// One of `initContainers`.
    Init,
}

/// Checks one container; paths are relative to it. `volumes` are the pod's volumes by
/// name.
pub(super) fn validate_container(
    container: &Container,
    role: Role<'_>,
    volumes: &BTreeMap<&str, &Volume>,
    config: &ValidationConfig,
) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    let features = &config.features;
    validate_probes(container, role, config, &mut errors);
    for key in CONTAINER.disallowed(&container.extra, &[]) {
        errors.add(key, NOT_ALLOWED);
    }
    if container.name == RESERVED_CONTAINER_NAME {
        errors.add(
            "name",
            format!("{RESERVED_CONTAINER_NAME:?} is a reserved container name (Knative's sidecar)"),
        );
    }
    let reserved: &[&str] = match role {
        Role::User(_) => &RESERVED_ENV,
        Role::Sidecar | Role::Init => &RESERVED_SIDECAR_ENV,
    };
    for (i, var) in container.env.iter().enumerate() {
        errors.extend_under(
            &format!("env[{i}]"),
            validate_env_var(var, reserved, config),
        );
    }
    validate_env_from(&container.env_from, &mut errors);
    if container.image.is_empty() {
        errors.add("image", "is required");
    } else if let Err(reason) = check_image_reference(&container.image) {
        errors.add(
            "image",
            format!(
                "must be an image reference ({reason}), got {:?}",
                container.image
            ),
        );
    }
    let ports = match role {
        Role::Init => container.ports.as_slice(),
        _ => &container.ports[..container.ports.len().min(1)],
    };
    for port in ports {
        validate_port(port, !matches!(role, Role::Init), &mut errors);
    }
    for key in RESOURCES.disallowed(&container.resources.extra, &[]) {
        errors.add(format!("resources.{key}"), NOT_ALLOWED);
    }
    if let Some(sc) = container.extra.get("securityContext") {
        errors.extend_under(
            "securityContext",
            validate_container_security_context(sc, features),
        );
    }
    if let Some(policy) = container.extra.get("terminationMessagePolicy") {
        if !matches!(
            policy.as_str(),
            Some("" | "File" | "FallbackToLogsOnError") | None
        ) {
            errors.add(
                "terminationMessagePolicy",
                format!("must be File or FallbackToLogsOnError, got {policy}"),
            );
        }
    }
    errors.extend_under(
        "",
        validate_volume_mounts(&container.volume_mounts, volumes, features),
    );
    errors
}

fn validate_probes(
    container: &Container,
    role: Role<'_>,
    config: &ValidationConfig,
    errors: &mut ValidationErrors,
) {
    let probes = [
        ("livenessProbe", &container.liveness_probe),
        ("readinessProbe", &container.readiness_probe),
        ("startupProbe", &container.startup_probe),
    ];
    let probing = config.features.multi_container_probing.is_enabled();
    for (field, probe) in probes {
        let Some(probe) = probe else { continue };
        let found = match role {
            Role::Init => {
                errors.add(field, "must not be set on an init container");
                continue;
            }
            Role::Sidecar if !probing => validate_unprobed_sidecar_probe(probe),
            Role::User(port) if field == "readinessProbe" => {
                validate_readiness_probe(probe, ProbeOwner::User(port))
            }
            Role::User(port) => validate_probe(probe, ProbeOwner::User(port)),
            Role::Sidecar if field == "readinessProbe" => {
                validate_readiness_probe(probe, ProbeOwner::Sidecar)
            }
            Role::Sidecar => validate_probe(probe, ProbeOwner::Sidecar),
        };
        errors.extend_under(field, found);
    }
    if matches!(role, Role::Init)
        && container
            .extra
            .get("lifecycle")
            .is_some_and(|v| !v.is_null())
    {
        errors.add("lifecycle", "must not be set on an init container");
    }
}

/// Knative's `validateContainerPortBasic` plus, for the serving port, its protocol and
/// name. Paths are Knative's: `ports.containerPort`, without the index.
fn validate_port(port: &ContainerPort, serving: bool, errors: &mut ValidationErrors) {
    for key in CONTAINER_PORT.disallowed(&port.extra, &[]) {
        errors.add(format!("ports.{key}"), NOT_ALLOWED);
    }
    let number = port.container_port;
    if RESERVED_PORTS.contains(&number) {
        errors.add(
            "ports.containerPort",
            format!(
                "{number} is a reserved port (8012, 8013, 8022, 9090, 9091 and 8008 are used by Knative)"
            ),
        );
    }
    if !(0..=65535).contains(&number) {
        errors.add(
            "ports.containerPort",
            format!("must be between 0 and 65535, got {number}"),
        );
    }
    if !serving {
        return;
    }
    if let Some(protocol) = port
        .protocol
        .as_deref()
        .filter(|p| !p.is_empty() && *p != "TCP")
    {
        errors.add("ports.protocol", format!("must be TCP, got {protocol:?}"));
    }
    if !matches!(port.name.as_str(), "" | "http1" | "h2c") {
        errors.add(
            "ports",
            format!(
                "name must be empty, \"http1\" or \"h2c\", got {:?}",
                port.name
            ),
        );
    }
}

fn validate_env_var(
    var: &EnvVar,
    reserved: &[&str],
    config: &ValidationConfig,
) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    for key in ENV_VAR.disallowed(&var.extra, &[]) {
        errors.add(key, NOT_ALLOWED);
    }
    if var.name.is_empty() {
        errors.add("name", "is required");
    } else if reserved.contains(&var.name.as_str()) {
        errors.add(
            "name",
            format!("{:?} is a reserved environment variable", var.name),
        );
    }
    let Some(Value::Object(source)) = &var.value_from else {
        return errors;
    };
    let field_ref = config.features.podspec_field_ref.lets_field_through();
    let also: &[&str] = if field_ref {
        &["fieldRef", "resourceFieldRef"]
    } else {
        &[]
    };
    for key in ENV_VAR_SOURCE.disallowed(source, also) {
        let rule = if matches!(key.as_str(), "fieldRef" | "resourceFieldRef") {
            "must not set the field(s) unless config-features kubernetes.podspec-fieldref is enabled"
        } else {
            NOT_ALLOWED
        };
        errors.add(format!("valueFrom.{key}"), rule);
    }
    errors
}

/// Each `envFrom` entry names exactly one of a config map and a secret. The path is
/// `envFrom` without the index: Knative reports `envFrom.configMapRef` (and prefixes
/// it further when later entries set a `secretRef` or `configMapRef`).
fn validate_env_from(env_from: &[Value], errors: &mut ValidationErrors) {
    for (i, entry) in env_from.iter().enumerate() {
        let set = |key: &str| entry.get(key).is_some_and(|v| !v.is_null());
        match (set("configMapRef"), set("secretRef")) {
            (true, true) => errors.add(
                "envFrom",
                format!("entry {i}: expected exactly one of configMapRef, secretRef, got both"),
            ),
            (false, false) => errors.add(
                "envFrom",
                format!("entry {i}: expected exactly one of configMapRef, secretRef, got neither"),
            ),
            _ => {}
        }
    }
}
