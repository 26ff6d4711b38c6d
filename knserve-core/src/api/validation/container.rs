//! Rules for one container: image, name, the port, env, probes and mounts (§1.2).

use std::collections::BTreeSet;

use super::context::ValidationConfig;
use super::probe::{validate_liveness_probe, validate_readiness_probe};
use crate::api::container::{Container, ContainerPort, EnvVar};
use crate::api::env::{RESERVED_ENV, RESERVED_SIDECAR_ENV};
use crate::api::naming::is_dns1123_label;
use crate::error::ValidationErrors;

/// Ports the queue-proxy and Knative's sidecars listen on (§7).
pub const RESERVED_PORTS: [i32; 6] = [8012, 8013, 8022, 9090, 9091, 8008];

/// Mount paths Knative keeps for itself.
const RESERVED_MOUNT_PATHS: [&str; 6] = ["/", "/dev", "/dev/log", "/tmp", "/var", "/var/log"];

/// Checks one container; paths are relative to it. `serving` is whether it is the
/// serving container; `volumes` are the names of the pod's volumes.
pub(super) fn validate_container(
    container: &Container,
    serving: bool,
    volumes: &BTreeSet<&str>,
    config: &ValidationConfig,
) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    if container.image.trim().is_empty() {
        errors.add("image", "is required");
    }
    if !container.name.is_empty() && !is_dns1123_label(&container.name) {
        errors.add(
            "name",
            format!(
                "must be a DNS-1123 label (lowercase letters, digits and '-', at most 63), got {:?}",
                container.name
            ),
        );
    }
    validate_ports(&container.ports, &mut errors);
    validate_env(&container.env, serving, config, &mut errors);
    if serving {
        let port = container.ports.first();
        if let Some(probe) = &container.readiness_probe {
            errors.extend_under("readinessProbe", validate_readiness_probe(probe, port));
        }
        if let Some(probe) = &container.liveness_probe {
            errors.extend_under("livenessProbe", validate_liveness_probe(probe, port));
        }
    } else if !config.features.multi_container_probing.permits() {
        for (field, probe) in [
            ("readinessProbe", &container.readiness_probe),
            ("livenessProbe", &container.liveness_probe),
        ] {
            if probe.is_some() {
                errors.add(
                    field,
                    "not allowed on a sidecar unless config-features multi-container-probing is enabled",
                );
            }
        }
    }
    validate_mounts(container, volumes, &mut errors);
    errors
}

fn validate_ports(ports: &[ContainerPort], errors: &mut ValidationErrors) {
    if ports.len() > 1 {
        errors.add(
            "ports",
            format!("at most one port is allowed, got {}", ports.len()),
        );
    }
    for (i, port) in ports.iter().enumerate() {
        let path = |field: &str| format!("ports[{i}].{field}");
        let number = port.container_port;
        if !(0..=65535).contains(&number) {
            errors.add(
                path("containerPort"),
                format!("must be between 0 and 65535, got {number}"),
            );
        } else if RESERVED_PORTS.contains(&number) {
            errors.add(
                path("containerPort"),
                format!(
                    "{number} is a reserved port (8012, 8013, 8022, 9090, 9091 and 8008 are used by Knative)"
                ),
            );
        }
        if !matches!(port.name.as_str(), "" | "http1" | "h2c") {
            errors.add(
                path("name"),
                format!("must be empty, \"http1\" or \"h2c\", got {:?}", port.name),
            );
        }
        if let Some(protocol) = port.protocol.as_deref().filter(|p| *p != "TCP") {
            errors.add(path("protocol"), format!("must be TCP, got {protocol:?}"));
        }
        for field in port.extra.keys() {
            errors.add(path(field), "must not be set");
        }
    }
}

fn validate_env(
    env: &[EnvVar],
    serving: bool,
    config: &ValidationConfig,
    errors: &mut ValidationErrors,
) {
    let reserved: &[&str] = if serving {
        &RESERVED_ENV
    } else {
        &RESERVED_SIDECAR_ENV
    };
    for (i, var) in env.iter().enumerate() {
        if var.name.is_empty() {
            errors.add(format!("env[{i}].name"), "is required");
        } else if reserved.contains(&var.name.as_str()) {
            errors.add(
                format!("env[{i}].name"),
                format!("{:?} is a reserved environment variable", var.name),
            );
        }
        if config.features.podspec_field_ref.permits() {
            continue;
        }
        for source in ["fieldRef", "resourceFieldRef"] {
            if var
                .value_from
                .as_ref()
                .and_then(|v| v.get(source))
                .is_some()
            {
                errors.add(
                    format!("env[{i}].valueFrom.{source}"),
                    "not allowed unless config-features kubernetes.podspec-fieldref is enabled",
                );
            }
        }
    }
}

fn validate_mounts(container: &Container, volumes: &BTreeSet<&str>, errors: &mut ValidationErrors) {
    let mut paths = BTreeSet::new();
    for (i, mount) in container.volume_mounts.iter().enumerate() {
        if !volumes.contains(mount.name.as_str()) {
            errors.add(
                format!("volumeMounts[{i}].name"),
                format!("must name a volume of the pod, got {:?}", mount.name),
            );
        }
        let path = format!("volumeMounts[{i}].mountPath");
        let mount_path = mount.mount_path.trim_end_matches('/');
        if !mount.mount_path.starts_with('/') {
            errors.add(
                path,
                format!("must be an absolute path, got {:?}", mount.mount_path),
            );
        } else if RESERVED_MOUNT_PATHS.contains(&mount_path) || mount_path.is_empty() {
            errors.add(path, format!("{:?} is a reserved path", mount.mount_path));
        } else if !paths.insert(mount_path) {
            errors.add(path, format!("{:?} is mounted twice", mount.mount_path));
        }
    }
}
