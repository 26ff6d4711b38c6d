//! Probe rules (§1.2): one handler, the serving port only, Knative's thresholds.

use crate::api::container::ContainerPort;
use crate::api::probe::{IntOrString, Probe};
use crate::error::ValidationErrors;

/// Checks a serving container's readiness probe; paths are relative to the probe.
///
/// `periodSeconds: 0` asks for Knative's aggressive probing, which has its own
/// timeouts, so `timeoutSeconds` and `failureThreshold` must then be unset; otherwise
/// both must be at least 1.
pub(super) fn validate_readiness_probe(
    probe: &Probe,
    port: Option<&ContainerPort>,
) -> ValidationErrors {
    let mut errors = validate_probe(probe, port);
    let non_negative = [
        ("periodSeconds", probe.period_seconds),
        ("initialDelaySeconds", probe.initial_delay_seconds),
    ];
    for (field, value) in non_negative {
        if let Some(v) = value.filter(|v| *v < 0) {
            errors.add(field, format!("must be at least 0, got {v}"));
        }
    }
    if let Some(v) = probe.success_threshold.filter(|v| *v < 1) {
        errors.add("successThreshold", format!("must be at least 1, got {v}"));
    }
    let timeout = probe.timeout_seconds.unwrap_or(0);
    let failure = probe.failure_threshold.unwrap_or(0);
    if probe.period() == 0 {
        for (field, value) in [("timeoutSeconds", timeout), ("failureThreshold", failure)] {
            if value != 0 {
                errors.add(
                    field,
                    format!("must not be set when periodSeconds is 0 (Knative's aggressive probing), got {value}"),
                );
            }
        }
    } else {
        for (field, value) in [("timeoutSeconds", timeout), ("failureThreshold", failure)] {
            if value < 1 {
                errors.add(
                    field,
                    format!("must be at least 1 when periodSeconds is set, got {value}"),
                );
            }
        }
    }
    errors
}

/// Checks a serving container's liveness probe; paths are relative to the probe.
pub(super) fn validate_liveness_probe(
    probe: &Probe,
    port: Option<&ContainerPort>,
) -> ValidationErrors {
    let mut errors = validate_probe(probe, port);
    for (field, value) in [
        ("periodSeconds", probe.period_seconds),
        ("initialDelaySeconds", probe.initial_delay_seconds),
        ("timeoutSeconds", probe.timeout_seconds),
        ("failureThreshold", probe.failure_threshold),
        ("successThreshold", probe.success_threshold),
    ] {
        if let Some(v) = value.filter(|v| *v < 0) {
            errors.add(field, format!("must be at least 0, got {v}"));
        }
    }
    errors
}

/// Exactly one handler; an `exec` command; a port, if given, naming the container port.
fn validate_probe(probe: &Probe, port: Option<&ContainerPort>) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    let handlers = probe.handlers();
    match handlers.len() {
        0 => errors.add(
            "",
            "expected exactly one of httpGet, tcpSocket, exec, grpc, got none",
        ),
        1 => {}
        _ => errors.add(
            "",
            format!(
                "expected exactly one of httpGet, tcpSocket, exec, grpc, got {}",
                handlers.join(", ")
            ),
        ),
    }
    if let Some(exec) = &probe.exec {
        if exec.command.is_empty() {
            errors.add("exec.command", "is required");
        }
    }
    let ports = [
        (
            "httpGet.port",
            probe.http_get.as_ref().and_then(|h| h.port.as_ref()),
        ),
        (
            "tcpSocket.port",
            probe.tcp_socket.as_ref().and_then(|t| t.port.as_ref()),
        ),
    ];
    for (field, probe_port) in ports {
        if let Some(rule) = probe_port.and_then(|p| port_violation(p, port)) {
            errors.add(field, rule);
        }
    }
    if let Some(grpc) = &probe.grpc {
        let user = IntOrString::Int(grpc.port);
        if let Some(rule) = port_violation(&user, port) {
            errors.add("grpc.port", rule);
        }
    }
    errors
}

/// A probe may only target the container's own port, by number or by name; 0 or empty
/// means that port.
fn port_violation(probe_port: &IntOrString, port: Option<&ContainerPort>) -> Option<String> {
    if probe_port.is_unset() {
        return None;
    }
    let name = port.map_or("", |p| p.name.as_str());
    let number = port
        .map(|p| p.container_port)
        .filter(|n| *n != 0)
        .unwrap_or(crate::api::revision::DEFAULT_USER_PORT);
    match probe_port {
        IntOrString::String(s) if s.parse::<i32>().is_err() => {
            (s != name).then(|| format!("must name the container port ({name:?}), got {s:?}"))
        }
        other => (other.as_int() != Some(number))
            .then(|| format!("must be the container port ({number}), got {other}")),
    }
}
