//! Probe rules (`validateProbe`, `validateReadinessProbe`): one handler, a named port
//! only if it names the serving port, and Knative's readiness thresholds.
//!
//! A numeric port is not checked: Knative probes the serving container at the user port
//! whatever number is written (knserve's defaulting writes the user port in).

use super::fieldmask::{EMPTY_PROBE, HANDLER, HTTP_GET, Mask, NOT_ALLOWED, PROBE};
use crate::api::container::ContainerPort;
use crate::api::meta::Extra;
use crate::api::probe::{IntOrString, Probe};
use crate::error::ValidationErrors;

/// Whose probe it is: the serving container's (with its port, name defaulted to
/// `http`) or a sidecar's (with `multi-container-probing` enabled).
#[derive(Debug, Clone, Copy)]
pub(super) enum ProbeOwner<'a> {
    /// The serving container, listening on this port.
    User(&'a ContainerPort),
    /// A sidecar: a probe must name its own port.
    Sidecar,
}

/// Checks a readiness probe; paths are relative to the probe.
///
/// `periodSeconds: 0` asks for Knative's aggressive probing, which has its own
/// timeouts, so `timeoutSeconds` and `failureThreshold` must then be 0; otherwise both
/// must be at least 1.
pub(super) fn validate_readiness_probe(probe: &Probe, owner: ProbeOwner<'_>) -> ValidationErrors {
    let mut errors = validate_probe(probe, owner);
    let at_least = |errors: &mut ValidationErrors, field: &str, value: i32, min: i32| {
        if value < min {
            errors.add(field, format!("must be at least {min}, got {value}"));
        }
    };
    at_least(&mut errors, "periodSeconds", probe.period(), 0);
    let initial = probe.initial_delay_seconds.unwrap_or(0);
    at_least(&mut errors, "initialDelaySeconds", initial, 0);
    // An unset threshold reads as defaulting leaves it (`successThreshold` 1; with a
    // period, `timeoutSeconds` 1 and `failureThreshold` 3), so that the verdict on an
    // object is the same before and after defaulting.
    let success = probe.success_threshold.unwrap_or(1);
    at_least(&mut errors, "successThreshold", success, 1);
    if probe.period() == 0 {
        let timeout = probe.timeout_seconds.unwrap_or(0);
        let failure = probe.failure_threshold.unwrap_or(0);
        for (field, value) in [("failureThreshold", failure), ("timeoutSeconds", timeout)] {
            if value != 0 {
                errors.add(
                    field,
                    format!("must not be set when periodSeconds is 0 (Knative's aggressive probing), got {value}"),
                );
            }
        }
    } else {
        let timeout = probe.timeout_seconds.unwrap_or(1);
        let failure = probe.failure_threshold.unwrap_or(3);
        at_least(&mut errors, "timeoutSeconds", timeout, 1);
        at_least(&mut errors, "failureThreshold", failure, 1);
    }
    errors
}

/// Checks a liveness or startup probe (and the shared part of a readiness probe);
/// paths are relative to the probe. Knative checks no numbers here.
pub(super) fn validate_probe(probe: &Probe, owner: ProbeOwner<'_>) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    report_mask(&PROBE, &probe.extra, "", &mut errors);
    // Knative prefixes the errors found so far with each handler's name as it goes (a
    // quirk kept so that the paths match its own).
    if let Some(http) = &probe.http_get {
        report_mask(&HTTP_GET, &http.extra, "", &mut errors);
        errors = prefixed(errors, "httpGet");
        check_port(http.port.as_ref(), owner, "httpGet.port", &mut errors);
    }
    if let Some(tcp) = &probe.tcp_socket {
        report_mask(&HANDLER, &tcp.extra, "", &mut errors);
        errors = prefixed(errors, "tcpSocket");
        check_port(tcp.port.as_ref(), owner, "tcpSocket.port", &mut errors);
    }
    if let Some(exec) = &probe.exec {
        report_mask(&HANDLER, &exec.extra, "", &mut errors);
        errors = prefixed(errors, "exec");
    }
    if let Some(grpc) = &probe.grpc {
        report_mask(&HANDLER, &grpc.extra, "", &mut errors);
        errors = prefixed(errors, "grpc");
    }
    let handlers = probe.handlers();
    match handlers.len() {
        0 => {
            for field in ["httpGet", "tcpSocket", "exec", "grpc"] {
                errors.add(
                    field,
                    "expected exactly one of httpGet, tcpSocket, exec, grpc, got none",
                );
            }
        }
        1 => {}
        _ => {
            let rule = format!(
                "expected exactly one of httpGet, tcpSocket, exec, grpc, got {}",
                handlers.join(", ")
            );
            for field in &handlers {
                // Knative names the gRPC handler `gRPC` in this error's paths.
                let path = if *field == "grpc" { "gRPC" } else { field };
                errors.add(path, rule.clone());
            }
        }
    }
    errors
}

/// A sidecar's probe without `multi-container-probing`: every set field is refused
/// (Knative masks it with an empty probe); `{}` passes.
pub(super) fn validate_unprobed_sidecar_probe(probe: &Probe) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(probe) else {
        return errors;
    };
    for key in EMPTY_PROBE.disallowed(&fields, &[]) {
        errors.add(
            key,
            "must not set the field(s): a sidecar's probe requires config-features multi-container-probing to be enabled",
        );
    }
    errors
}

fn check_port(
    port: Option<&IntOrString>,
    owner: ProbeOwner<'_>,
    field: &str,
    errors: &mut ValidationErrors,
) {
    match owner {
        ProbeOwner::User(serving) => {
            if let Some(IntOrString::String(name)) = port {
                if !name.is_empty() && *name != serving.name {
                    errors.add(
                        field,
                        format!(
                            "a named probe port must name the container port ({:?}), got {name:?}",
                            serving.name
                        ),
                    );
                }
            }
        }
        ProbeOwner::Sidecar => {
            if port.is_none_or(IntOrString::is_unset) {
                errors.add(field, "must be set on a sidecar's probe, got none");
            }
        }
    }
}

fn report_mask(mask: &Mask, extra: &Extra, at: &str, errors: &mut ValidationErrors) {
    for key in mask.disallowed(extra, &[]) {
        errors.add(crate::error::join_path(at, &key), NOT_ALLOWED);
    }
}

fn prefixed(errors: ValidationErrors, prefix: &str) -> ValidationErrors {
    let mut out = ValidationErrors::new();
    out.extend_under(prefix, errors);
    out
}
