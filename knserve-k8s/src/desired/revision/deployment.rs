//! The revision's Deployment (spec §1.2, §4.3, §4.5, §5.1).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, HTTPGetAction, Lifecycle, LifecycleHandler, PodSpec,
    PodTemplateSpec, Probe,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use knserve_core::api::{self, child_name, keys};
use knserve_core::autoscaler::ScalingParams;
use knserve_core::config::AutoscalerConfig;
use knserve_core::duration::parse_duration;
use knserve_core::error::FieldError;

use super::config::DeploymentConfig;
use super::queue::{QUEUE_ADMIN_PORT, queue_container, timeout_seconds};
use super::{
    InvalidInput, controller_ref, namespace_of, revision_child_annotations, revision_child_labels,
    revision_name,
};
use crate::crd::Revision;

/// Why a revision's children cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum RevisionError {
    /// A field is missing or breaks a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The `autoscaling.knative.dev/*` or `serving.knative.dev/progress-deadline`
    /// annotations break their rules (every problem, `; `-separated).
    #[error("{}", join(.0))]
    Annotations(Vec<FieldError>),
    /// The pod spec does not fit a Kubernetes PodSpec.
    #[error("spec: the pod spec is not a Kubernetes PodSpec: {0}")]
    Json(serde_json::Error),
}

fn join(errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| format!("metadata.{}: {}", e.path, e.message))
        .collect();
    parts.join("; ")
}

/// A revision's Deployment and the replica count it starts with.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredDeployment {
    /// The Deployment to apply. `spec.replicas` is the live count passed in, or
    /// [`initial_replicas`](Self::initial_replicas) when there was none.
    pub deployment: Deployment,
    /// The initial scale: `max(initial-scale, min-scale)` from the annotations, else
    /// `config-autoscaler`.
    pub initial_replicas: i32,
}

/// The Deployment's name: `<rev>-deployment`, shortened with a hash past 63 characters.
pub fn deployment_name(revision: &str) -> String {
    child_name(revision, "-deployment")
}

/// The Deployment that runs `revision` (spec §5.1).
///
/// `live_replicas` is `spec.replicas` of the existing Deployment, if any: the autoscaler
/// owns the count after creation, so it is written back unchanged (as Knative does); a
/// new Deployment starts at the initial scale.
///
/// # Errors
/// A revision without name, namespace, uid or containers; annotations that break their
/// rules; a negative `containerConcurrency` or `timeoutSeconds`.
pub fn desired_deployment(
    revision: &Revision,
    live_replicas: Option<i32>,
    deployment: &DeploymentConfig,
    autoscaler: &AutoscalerConfig,
) -> Result<DesiredDeployment, RevisionError> {
    let name = revision_name(revision)?;
    let annotations = revision.metadata.annotations.clone().unwrap_or_default();
    let deadline = progress_deadline(&annotations, deployment.progress_deadline)?;
    let params = ScalingParams::for_revision(
        &annotations,
        revision.spec.container_concurrency,
        autoscaler,
        deadline,
    )
    .map_err(RevisionError::Annotations)?;
    let initial = params.initial_scale.max(params.min_scale);
    let initial_replicas = i32::try_from(initial).unwrap_or(i32::MAX);
    let labels = revision_child_labels(revision)?;
    let child_annotations = revision_child_annotations(revision);
    let selector = [keys::REVISION_LABEL, keys::REVISION_UID_LABEL]
        .iter()
        .filter_map(|k| labels.get_key_value(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let spec = DeploymentSpec {
        replicas: Some(live_replicas.unwrap_or(initial_replicas)),
        selector: LabelSelector {
            match_labels: Some(selector),
            ..LabelSelector::default()
        },
        progress_deadline_seconds: Some(i32::try_from(deadline.as_secs()).unwrap_or(i32::MAX)),
        revision_history_limit: Some(0),
        strategy: Some(DeploymentStrategy {
            type_: Some("RollingUpdate".to_owned()),
            rolling_update: Some(RollingUpdateDeployment {
                max_unavailable: Some(IntOrString::Int(0)),
                ..RollingUpdateDeployment::default()
            }),
        }),
        template: PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(labels.clone()),
                annotations: Some(child_annotations.clone()),
                ..ObjectMeta::default()
            }),
            spec: Some(pod_spec(revision, deployment)?),
        },
        ..DeploymentSpec::default()
    };
    let metadata = ObjectMeta {
        name: Some(deployment_name(&name)),
        namespace: Some(namespace_of(revision)?),
        labels: Some(labels),
        annotations: Some(child_annotations),
        owner_references: Some(vec![controller_ref(revision)?]),
        ..ObjectMeta::default()
    };
    Ok(DesiredDeployment {
        deployment: Deployment {
            metadata,
            spec: Some(spec),
            status: None,
        },
        initial_replicas,
    })
}

/// `serving.knative.dev/progress-deadline`, else `config-deployment`'s.
fn progress_deadline(
    annotations: &BTreeMap<String, String>,
    default: Duration,
) -> Result<Duration, RevisionError> {
    let Some(raw) = annotations.get(keys::PROGRESS_DEADLINE_ANNOTATION) else {
        return Ok(default);
    };
    match parse_duration(raw.trim()) {
        Ok(d) if !d.is_zero() && d.subsec_nanos() == 0 => Ok(d),
        _ => Err(RevisionError::Annotations(vec![FieldError::new(
            format!("annotations[{}]", keys::PROGRESS_DEADLINE_ANNOTATION),
            format!("must be a positive whole number of seconds such as \"600s\", got {raw:?}"),
        )])),
    }
}

/// The pod spec: the revision's, without Knative's own fields, the user containers
/// rewritten and the sidecar appended.
fn pod_spec(revision: &Revision, config: &DeploymentConfig) -> Result<PodSpec, RevisionError> {
    let spec: &api::RevisionSpec = &revision.spec;
    let Some(serving) = spec.serving_container_index() else {
        let rule = if spec.containers.is_empty() {
            "must have at least one container"
        } else {
            "one container must declare the serving port"
        };
        return Err(InvalidInput::new("spec.containers", rule).into());
    };
    let mut value = serde_json::to_value(spec).map_err(RevisionError::Json)?;
    if let Some(fields) = value.as_object_mut() {
        for knative_only in [
            "containerConcurrency",
            "timeoutSeconds",
            "responseStartTimeoutSeconds",
            "idleTimeoutSeconds",
        ] {
            fields.remove(knative_only);
        }
    }
    let mut pod: PodSpec = serde_json::from_value(value).map_err(RevisionError::Json)?;
    let injected = injected_env(revision)?;
    for (i, container) in pod.containers.iter_mut().enumerate() {
        rewrite_container(
            container,
            &injected,
            (i == serving).then(|| spec.user_port()),
        );
    }
    pod.containers.push(queue_container(revision, config)?);
    pod.termination_grace_period_seconds = Some(timeout_seconds(spec)?);
    pod.enable_service_links.get_or_insert(false);
    Ok(pod)
}

/// `K_REVISION`, `K_CONFIGURATION`, `K_SERVICE` (every container).
fn injected_env(revision: &Revision) -> Result<Vec<EnvVar>, InvalidInput> {
    let label = |key: &str| {
        revision
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(key))
            .cloned()
            .unwrap_or_default()
    };
    Ok([
        ("K_REVISION", revision_name(revision)?),
        ("K_CONFIGURATION", label(keys::CONFIGURATION_LABEL)),
        ("K_SERVICE", label(keys::SERVICE_LABEL)),
    ]
    .into_iter()
    .map(|(name, value)| env(name, value))
    .collect())
}

fn env(name: &str, value: String) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value),
        ..EnvVar::default()
    }
}

/// Knative's changes to a user container: the injected environment, the preStop drain
/// hook, logs as the termination message; for the serving container (`user_port` set)
/// also `PORT`, the single `user-port` port, the readiness probe moved to the sidecar
/// (unless it is `exec`, which kubelet must run) and liveness/startup probes aimed at
/// the user port. Other containers keep their readiness probes (kubelet runs them).
fn rewrite_container(container: &mut Container, injected: &[EnvVar], user_port: Option<i32>) {
    let vars = container.env.get_or_insert_with(Vec::new);
    if let Some(port) = user_port {
        vars.push(env("PORT", port.to_string()));
    }
    vars.extend(injected.iter().cloned());
    container.lifecycle = Some(Lifecycle {
        pre_stop: Some(LifecycleHandler {
            http_get: Some(HTTPGetAction {
                path: Some("/wait-for-drain".to_owned()),
                port: IntOrString::Int(QUEUE_ADMIN_PORT),
                ..HTTPGetAction::default()
            }),
            ..LifecycleHandler::default()
        }),
        ..Lifecycle::default()
    });
    container
        .termination_message_policy
        .get_or_insert_with(|| "FallbackToLogsOnError".to_owned());
    let Some(port) = user_port else { return };
    container.ports = Some(vec![ContainerPort {
        name: Some("user-port".to_owned()),
        container_port: port,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }]);
    if container
        .readiness_probe
        .as_ref()
        .is_some_and(|p| p.exec.is_none())
    {
        container.readiness_probe = None;
    }
    for probe in [&mut container.liveness_probe, &mut container.startup_probe]
        .into_iter()
        .flatten()
    {
        aim_at_user_port(probe, port);
    }
}

/// Points an HTTP, TCP or gRPC probe at the user port (Knative only lets a probe name
/// that port, so an unset or named one means it).
fn aim_at_user_port(probe: &mut Probe, port: i32) {
    if let Some(http) = probe.http_get.as_mut() {
        http.port = IntOrString::Int(port);
    }
    if let Some(tcp) = probe.tcp_socket.as_mut() {
        tcp.port = IntOrString::Int(port);
    }
    if let Some(grpc) = probe.grpc.as_mut() {
        if grpc.port == 0 {
            grpc.port = port;
        }
    }
}
