//! The `queue-proxy` sidecar container (spec §4.1, §4.3) and the readiness probe it runs
//! for the user container.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, HTTPHeader,
    ObjectFieldSelector, Probe as KubeProbe, ResourceRequirements, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString as KubeIntOrString;
use knserve_core::api::{self, IntOrString, Probe, TcpSocketAction, keys};
use knserve_core::config::ObservabilityConfig;

use super::config::{DeploymentConfig, QUEUE_ARGS};
use super::deployment::RevisionError;
use super::{InvalidInput, revision_name};
use crate::crd::Revision;

/// The sidecar's container name, as in Knative.
pub const QUEUE_CONTAINER_NAME: &str = "queue-proxy";
/// The sidecar's serving port for HTTP/1 revisions.
pub const QUEUE_HTTP_PORT: i32 = 8012;
/// The sidecar's serving port for h2c revisions.
pub const QUEUE_H2C_PORT: i32 = 8013;
/// The TLS port the sidecar is told about (`QUEUE_SERVING_TLS_PORT`; not served).
pub const QUEUE_TLS_PORT: i32 = 8112;
/// The sidecar's admin port (`/wait-for-drain`, the user container's preStop target).
pub const QUEUE_ADMIN_PORT: i32 = 8022;
/// The sidecar's autoscaler stats port (`http-autometric`).
pub const QUEUE_METRICS_PORT: i32 = 9090;

/// `timeoutSeconds` when a revision was not defaulted (config-defaults'
/// `revision-timeout-seconds` default).
pub(super) const DEFAULT_TIMEOUT_SECONDS: i64 = 300;
/// The header the sidecar's kubelet readiness probe carries.
const PROBE_HEADER: &str = "K-Network-Probe";
/// Kubelet's patience with one aggressive readiness check: the sidecar retries the user
/// probe for up to 10 s inside a single request (§4.3).
const AGGRESSIVE_PROBE_TIMEOUT_SECONDS: i32 = 10;

/// The sidecar's serving port for `revision`: 8013 for h2c, else 8012.
pub(super) fn serving_port(spec: &api::RevisionSpec) -> i32 {
    if spec.is_h2c() {
        QUEUE_H2C_PORT
    } else {
        QUEUE_HTTP_PORT
    }
}

/// The readiness probe the sidecar runs against the user container, as serialized into
/// `SERVING_READINESS_PROBE` (§4.3): the serving container's probe with the host forced to
/// 127.0.0.1, an unset or named port replaced by the user port, the scheme defaulted to
/// `HTTP` and the timeout raised to 1 s when a period is set. An `exec` probe, a probe
/// without a handler or no probe at all becomes a TCP probe of the user port (the exec
/// probe itself stays with kubelet on the user container).
pub fn sidecar_readiness_probe(spec: &api::RevisionSpec) -> Probe {
    let user_port = spec.user_port();
    let mut probe = spec
        .serving_container()
        .and_then(|c| c.readiness_probe.clone())
        .unwrap_or_default();
    let host = Some("127.0.0.1".to_owned());
    if let Some(http) = probe.http_get.as_mut() {
        http.host = host;
        http.port = Some(user_port_if_unset(http.port.take(), user_port));
        http.scheme.get_or_insert_with(|| "HTTP".to_owned());
    } else if let Some(tcp) = probe.tcp_socket.as_mut() {
        tcp.host = host;
        tcp.port = Some(user_port_if_unset(tcp.port.take(), user_port));
    } else if let Some(grpc) = probe.grpc.as_mut() {
        if grpc.port == 0 {
            grpc.port = user_port;
        }
    } else {
        probe.exec = None;
        probe.tcp_socket = Some(TcpSocketAction {
            port: Some(IntOrString::Int(user_port)),
            host,
            ..TcpSocketAction::default()
        });
    }
    if probe.period() > 0 && probe.timeout_seconds.is_none_or(|t| t < 1) {
        probe.timeout_seconds = Some(1);
    }
    probe
}

/// A numeric port stays; an unset or named one (Knative only lets a probe name the user's
/// own port) becomes the user port.
pub(super) fn user_port_if_unset(port: Option<IntOrString>, user_port: i32) -> IntOrString {
    match port.as_ref().and_then(IntOrString::as_int) {
        Some(n) if n != 0 => IntOrString::Int(n),
        _ => IntOrString::Int(user_port),
    }
}

/// The sidecar's own (kubelet) readiness probe: `GET /` on its serving port with
/// `K-Network-Probe: queue`, which runs the user probe. Timing is the user's; for an
/// aggressive user probe (period 0) kubelet asks every second and waits up to 10 s.
fn queue_readiness_probe(user: &Probe, port: i32) -> KubeProbe {
    let aggressive = user.period() <= 0;
    KubeProbe {
        http_get: Some(HTTPGetAction {
            port: KubeIntOrString::Int(port),
            http_headers: Some(vec![HTTPHeader {
                name: PROBE_HEADER.to_owned(),
                value: "queue".to_owned(),
            }]),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: user.initial_delay_seconds,
        period_seconds: Some(if aggressive { 1 } else { user.period() }),
        timeout_seconds: if aggressive {
            Some(AGGRESSIVE_PROBE_TIMEOUT_SECONDS)
        } else {
            user.timeout_seconds
        },
        success_threshold: user.success_threshold,
        failure_threshold: user.failure_threshold,
        ..KubeProbe::default()
    }
}

/// The `queue-proxy` container of `revision`'s pods: image and resources from
/// `config-deployment`, the ports, the readiness probe and every variable
/// [`crate::queue::QueueEnv`] reads.
pub fn queue_container(
    revision: &Revision,
    config: &DeploymentConfig,
) -> Result<Container, RevisionError> {
    let port = serving_port(&revision.spec);
    let probe = sidecar_readiness_probe(&revision.spec);
    let probe_json = serde_json::to_string(&probe).map_err(RevisionError::Json)?;
    Ok(Container {
        name: QUEUE_CONTAINER_NAME.to_owned(),
        image: Some(config.queue_sidecar_image.clone()),
        args: Some(QUEUE_ARGS.iter().map(|a| (*a).to_owned()).collect()),
        env: Some(queue_env(
            revision,
            port,
            probe_json,
            config.observability_env.as_deref(),
        )?),
        ports: Some(queue_ports(port)),
        readiness_probe: Some(queue_readiness_probe(&probe, port)),
        resources: Some(queue_resources(config)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    })
}

fn queue_ports(serving: i32) -> Vec<ContainerPort> {
    let port = |name: &str, container_port: i32| ContainerPort {
        name: Some(name.to_owned()),
        container_port,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    };
    let serving_name = if serving == QUEUE_H2C_PORT {
        "h2c"
    } else {
        "http"
    };
    vec![
        port(serving_name, serving),
        port("http-autometric", QUEUE_METRICS_PORT),
        port("admin", QUEUE_ADMIN_PORT),
    ]
}

fn queue_resources(config: &DeploymentConfig) -> ResourceRequirements {
    let list = |entries: [(&str, &Option<String>); 3]| {
        let map: BTreeMap<String, Quantity> = entries
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), Quantity(v.clone()))))
            .collect();
        (!map.is_empty()).then_some(map)
    };
    ResourceRequirements {
        requests: list([
            ("cpu", &config.queue_sidecar_cpu_request),
            ("memory", &config.queue_sidecar_memory_request),
            (
                "ephemeral-storage",
                &config.queue_sidecar_ephemeral_storage_request,
            ),
        ]),
        limits: list([
            ("cpu", &config.queue_sidecar_cpu_limit),
            ("memory", &config.queue_sidecar_memory_limit),
            (
                "ephemeral-storage",
                &config.queue_sidecar_ephemeral_storage_limit,
            ),
        ]),
        ..ResourceRequirements::default()
    }
}

/// The queue-proxy's `OBSERVABILITY_CONFIG` for `config`: the JSON of Knative's
/// `observability.Config` with its `tracing` object (`protocol`, `endpoint`,
/// `samplingRate`), which [`crate::queue::QueueEnv`] reads; `None` when tracing is off,
/// so a cluster that does not trace runs the same pods as before.
pub fn observability_env(config: &ObservabilityConfig) -> Option<String> {
    let tracing = &config.tracing;
    tracing.enabled().then(|| {
        serde_json::json!({
            "tracing": {
                "protocol": tracing.protocol.as_str(),
                "endpoint": tracing.endpoint,
                "samplingRate": tracing.sampling_rate,
            }
        })
        .to_string()
    })
}

fn queue_env(
    revision: &Revision,
    port: i32,
    probe: String,
    observability: Option<&str>,
) -> Result<Vec<EnvVar>, RevisionError> {
    let spec = &revision.spec;
    let label = |key: &str| {
        revision
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(key))
            .cloned()
            .unwrap_or_default()
    };
    let namespace = super::namespace_of(revision)?;
    let seconds = |value: Option<i64>| value.filter(|s| *s > 0).unwrap_or(0).to_string();
    let values = [
        ("SERVING_NAMESPACE", namespace),
        ("SERVING_SERVICE", label(keys::SERVICE_LABEL)),
        ("SERVING_CONFIGURATION", label(keys::CONFIGURATION_LABEL)),
        ("SERVING_REVISION", revision_name(revision)?),
        ("QUEUE_SERVING_PORT", port.to_string()),
        ("QUEUE_SERVING_TLS_PORT", QUEUE_TLS_PORT.to_string()),
        ("USER_PORT", spec.user_port().to_string()),
        (
            "CONTAINER_CONCURRENCY",
            container_concurrency(spec)?.to_string(),
        ),
        (
            "REVISION_TIMEOUT_SECONDS",
            timeout_seconds(spec)?.to_string(),
        ),
        (
            "REVISION_RESPONSE_START_TIMEOUT_SECONDS",
            seconds(spec.response_start_timeout_seconds),
        ),
        (
            "REVISION_IDLE_TIMEOUT_SECONDS",
            seconds(spec.idle_timeout_seconds),
        ),
        ("SERVING_READINESS_PROBE", probe),
        ("ENABLE_HTTP2_AUTO_DETECTION", "false".to_owned()),
        ("ENABLE_MULTI_CONTAINER_PROBES", "false".to_owned()),
    ];
    let mut env: Vec<EnvVar> = values
        .into_iter()
        .map(|(name, value)| EnvVar {
            name: name.to_owned(),
            value: Some(value),
            ..EnvVar::default()
        })
        .collect();
    if let Some(json) = observability {
        env.push(EnvVar {
            name: "OBSERVABILITY_CONFIG".to_owned(),
            value: Some(json.to_owned()),
            ..EnvVar::default()
        });
    }
    env.push(field_ref("SERVING_POD", "metadata.name"));
    env.push(field_ref("SERVING_POD_IP", "status.podIP"));
    Ok(env)
}

fn field_ref(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_owned(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// `containerConcurrency`, unset meaning 0 (unlimited).
pub(super) fn container_concurrency(spec: &api::RevisionSpec) -> Result<u32, InvalidInput> {
    u32::try_from(spec.container_concurrency.unwrap_or(0)).map_err(|_| {
        InvalidInput::new(
            "spec.containerConcurrency",
            "must be a whole number from 0 (unlimited) to 4294967295",
        )
    })
}

/// `timeoutSeconds`; unset or 0 is the default 300, as Knative's defaulting sets it.
pub(super) fn timeout_seconds(spec: &api::RevisionSpec) -> Result<i64, InvalidInput> {
    match spec.timeout_seconds {
        None | Some(0) => Ok(DEFAULT_TIMEOUT_SECONDS),
        Some(t) if t > 0 => Ok(t),
        Some(_) => Err(InvalidInput::new(
            "spec.timeoutSeconds",
            "must be a positive number of seconds",
        )),
    }
}
