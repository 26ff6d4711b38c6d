//! Revision → Deployment + PodAutoscaler (§1.1, §5.1), and the Revision's status from
//! what they and the Deployment's first pod show (§1.4).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};
use knserve_core::api::ConditionStatus;
use knserve_core::api::condition_types::READY;
use knserve_core::reconcile::{RevisionHealth, RevisionObservation};
use kube::api::ListParams;
use kube::core::Selector;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use serde_json::Value;

use super::digest;
use super::kube_io::{apply, drain, error_policy, succeeded, write_status};
use super::{Context, Error, RESYNC, now};
use crate::crd::{self, PodAutoscaler};
use crate::desired::autoscaling::{ACTIVE, SCALE_TARGET_INITIALIZED};
use crate::desired::revision::{
    DeploymentConfig, QUEUE_CONTAINER_NAME, deployment_name, desired_deployment,
    desired_pod_autoscaler, observability_env,
};
use crate::desired::serving::{self, INVALID_SPEC};

/// How soon a revision whose Deployment waits for pods is revisited. A container that
/// crash-loops or an image that cannot be pulled changes nothing the reconciler watches
/// (pods are not watched, and the Deployment's status stays at no available replica
/// until its progress deadline), so waiting for [`RESYNC`] would leave the failure
/// unreported for minutes.
///
/// Choice: Knative has no such recheck; its revision learns of a crash loop on the next
/// Deployment or PodAutoscaler event, at the latest when the progress deadline passes.
const POD_RECHECK: Duration = Duration::from_secs(10);

/// Runs the Revision reconciler.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let results = Controller::new(
        Api::<crd::Revision>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<Deployment>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<PodAutoscaler>::all(client),
        watcher::Config::default(),
    )
    .run(reconcile, error_policy, ctx);
    drain("Revision", results).await;
}

async fn reconcile(revision: Arc<crd::Revision>, ctx: Arc<Context>) -> Result<Action, Error> {
    if revision.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = revision.namespace().unwrap_or_default();
    let client = ctx.client.clone();
    let revisions: Api<crd::Revision> = Api::namespaced(client.clone(), &namespace);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let autoscalers: Api<PodAutoscaler> = Api::namespaced(client.clone(), &namespace);
    let pods: Api<Pod> = Api::namespaced(client, &namespace);
    let config = ctx.config();
    let autoscaler = &config.validation.autoscaler;
    let mut deployment_config =
        DeploymentConfig::from_map(&config.deployment).unwrap_or_else(|e| {
            tracing::error!(error = %e, "config-deployment: using the defaults");
            DeploymentConfig::default()
        });
    deployment_config.observability_env = observability_env(&config.observability);
    let live = deployments
        .get_opt(&deployment_name(&revision.name_any()))
        .await?;
    let live_replicas = live
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.replicas);
    let digests = match image_digests(&revision, &deployment_config).await {
        Ok(digests) => digests,
        Err(message) => {
            let mut status = failed(&revision, CONTAINER_MISSING, message);
            keep_digests(&mut status, &revision);
            write_status(&revisions, &revision, revision.status.as_ref(), &status).await?;
            succeeded(&*revision, &ctx);
            return Ok(Action::requeue(POD_RECHECK));
        }
    };
    let by_digest = digests.applied_to(&revision);
    let children = desired_deployment(&by_digest, live_replicas, &deployment_config, autoscaler)
        .map_err(|e| e.to_string())
        .and_then(|d| {
            let pa = desired_pod_autoscaler(&revision, autoscaler).map_err(|e| e.to_string())?;
            Ok((d.deployment, pa))
        });
    let (status, requeue) = match children {
        Ok((deployment, pa)) => {
            let deployment = apply(&deployments, &deployment).await?;
            let pa = match autoscalers.get_opt(&pa.name_any()).await? {
                Some(live)
                    if live.spec == pa.spec
                        && live.metadata.annotations == pa.metadata.annotations =>
                {
                    live
                }
                _ => apply(&autoscalers, &pa).await?,
            };
            observed_status(&revision, &deployment, &pa, &pods, &deployment_config).await
        }
        Err(message) => (failed(&revision, INVALID_SPEC, message), RESYNC),
    };
    let mut status = status;
    digests.record(&mut status);
    write_status(&revisions, &revision, revision.status.as_ref(), &status).await?;
    succeeded(&*revision, &ctx);
    Ok(Action::requeue(requeue))
}

/// The revision's status from its applied children and, while its Deployment waits for
/// pods, its first pod; with how soon to look again.
async fn observed_status(
    revision: &crd::Revision,
    deployment: &Deployment,
    pa: &PodAutoscaler,
    pods: &Api<Pod>,
    config: &DeploymentConfig,
) -> (crd::serving::RevisionStatus, Duration) {
    let (pod, requeue) = if waits_for_pods(deployment) {
        (first_pod(pods, deployment).await, POD_RECHECK)
    } else {
        (None, RESYNC)
    };
    let observation = observe(revision, deployment, pa, pod.as_ref(), config);
    if let RevisionHealth::Failed { reason, .. } | RevisionHealth::Unavailable { reason, .. } =
        &observation.health
    {
        tracing::debug!(revision = %revision.name_any(), reason, "revision not coming up");
    }
    let status = serving::revision_status(revision, &observation, &now());
    (status, requeue)
}

/// The revision failed before its Deployment could be built: `ContainerHealthy` and
/// `Ready` False with `reason`.
fn failed(revision: &crd::Revision, reason: &str, message: String) -> crd::serving::RevisionStatus {
    let observation = RevisionObservation {
        health: RevisionHealth::Failed {
            reason: reason.to_owned(),
            message,
        },
        actual_replicas: 0,
        desired_replicas: None,
        active: None,
    };
    serving::revision_status(revision, &observation, &now())
}

/// Knative's `ReasonContainerMissing`: an image could not be resolved to its digest.
const CONTAINER_MISSING: &str = "ContainerMissing";

/// The status field of the init containers' digests (`initContainerStatuses`).
const INIT_CONTAINER_STATUSES: &str = "initContainerStatuses";

/// The revision's image digests, one `{name, imageDigest}` per container in spec order
/// (`imageDigest` absent when the image runs as written), as Knative's `ContainerStatus`.
#[derive(Debug)]
struct Digests {
    containers: Vec<Value>,
    init_containers: Vec<Value>,
}

impl Digests {
    /// The revision with each image replaced by its digest where it has one (Knative's
    /// `makeContainer`: by position in the spec).
    fn applied_to(&self, revision: &crd::Revision) -> crd::Revision {
        let mut revision = revision.clone();
        let replace = |containers: &mut [knserve_core::api::Container], statuses: &[Value]| {
            for (container, status) in containers.iter_mut().zip(statuses) {
                if let Some(digest) = status.get("imageDigest").and_then(Value::as_str) {
                    digest.clone_into(&mut container.image);
                }
            }
        };
        replace(&mut revision.spec.containers, &self.containers);
        replace(&mut revision.spec.init_containers, &self.init_containers);
        revision
    }

    /// Writes the digests into `status`.
    fn record(&self, status: &mut crd::serving::RevisionStatus) {
        status.container_statuses.clone_from(&self.containers);
        if self.init_containers.is_empty() {
            status.extra.remove(INIT_CONTAINER_STATUSES);
        } else {
            status.extra.insert(
                INIT_CONTAINER_STATUSES.to_owned(),
                Value::Array(self.init_containers.clone()),
            );
        }
    }
}

/// Keeps the digests the revision's status already has (a failed resolution records none).
fn keep_digests(status: &mut crd::serving::RevisionStatus, revision: &crd::Revision) {
    if let Some(old) = revision.status.as_ref() {
        status
            .container_statuses
            .clone_from(&old.container_statuses);
    }
}

/// The digests of the revision's images: the ones its status records once every
/// container has one (a revision is resolved once, as in Knative), else resolved now
/// ([`digest`]).
///
/// Choice: resolved inline, within `digest-resolution-timeout` per image, where Knative
/// resolves on a background queue and marks the revision `ResolvingDigests` meanwhile;
/// reconciles of other revisions run concurrently, so a slow registry delays only the
/// revisions whose images it serves.
///
/// # Errors
/// Knative's `ContainerMissing` message for the first image that could not be resolved.
async fn image_digests(
    revision: &crd::Revision,
    config: &DeploymentConfig,
) -> Result<Digests, String> {
    let spec = &revision.spec;
    let status = revision.status.as_ref();
    let recorded = status
        .map(|s| s.container_statuses.clone())
        .unwrap_or_default();
    let recorded_init = status
        .and_then(|s| s.extra.get(INIT_CONTAINER_STATUSES))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if recorded.len() == spec.containers.len() && recorded_init.len() == spec.init_containers.len()
    {
        return Ok(Digests {
            containers: recorded,
            init_containers: recorded_init,
        });
    }
    let images = spec
        .init_containers
        .iter()
        .chain(&spec.containers)
        .map(|c| c.image.clone())
        .collect::<Vec<String>>();
    let resolved = digest::resolve_all(
        &images,
        &config.registries_skipping_tag_resolving,
        config.digest_resolution_timeout,
    )
    .await?;
    let statuses = |containers: &[knserve_core::api::Container]| -> Vec<Value> {
        containers
            .iter()
            .map(|c| {
                let mut entry = serde_json::Map::new();
                entry.insert("name".to_owned(), Value::String(c.name.clone()));
                if let Some(digest) = resolved.get(&c.image).filter(|d| !d.is_empty()) {
                    entry.insert("imageDigest".to_owned(), Value::String(digest.clone()));
                }
                Value::Object(entry)
            })
            .collect()
    };
    Ok(Digests {
        containers: statuses(&spec.containers),
        init_containers: statuses(&spec.init_containers),
    })
}

/// What the Deployment, its first pod and the PodAutoscaler say about the revision,
/// as Knative's `reconcileDeployment` and `PropagateAutoscalerStatus` read them:
/// - failed as [`pod_failure`] says, when it says so;
/// - else unavailable when the Deployment stopped progressing (`Progressing=False`,
///   e.g. `ProgressDeadlineExceeded`) or cannot create pods (`ReplicaFailure=True`,
///   which wins when both are), with the Deployment's reason and message;
/// - else ready once it was ready before, a pod is ready, or the PodAutoscaler reports
///   its initial scale reached (`ScaleTargetInitialized`, which covers an initial scale
///   of 0); it stays ready through scale to zero;
/// - active as the PodAutoscaler's `Active` condition says.
///
/// Choice: the observation holds one health, so where Knative marks both
/// `ResourcesAvailable=False` (the Deployment timed out) and `ContainerHealthy=False`
/// (the container exits), knserve reports only the container's failure. `Ready` is the
/// same as Knative's (the last failure Knative marks, the container's), but
/// `ResourcesAvailable` reads `Unknown`/`Deploying` rather than `False`.
fn observe(
    revision: &crd::Revision,
    deployment: &Deployment,
    pa: &PodAutoscaler,
    pod: Option<&Pod>,
    config: &DeploymentConfig,
) -> RevisionObservation {
    let status = deployment.status.clone().unwrap_or_default();
    let pa_status = pa.status.clone().unwrap_or_default();
    let pa_condition = |type_: &str| {
        pa_status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| c.status)
    };
    let was_ready = revision
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY))
        .is_some_and(|c| c.status == ConditionStatus::True);
    let ready_pods = status.ready_replicas.unwrap_or(0);
    let failure = pod
        .and_then(|pod| pod_failure(deployment, pod, config))
        .or_else(|| deployment_failure(deployment));
    let health = if let Some(failure) = failure {
        failure
    } else if was_ready
        || ready_pods > 0
        || pa_condition(SCALE_TARGET_INITIALIZED) == Some(ConditionStatus::True)
    {
        RevisionHealth::Ready
    } else {
        RevisionHealth::Deploying
    };
    RevisionObservation {
        health,
        actual_replicas: u32::try_from(ready_pods).unwrap_or(0),
        desired_replicas: pa_status.desired_scale.and_then(|d| u32::try_from(d).ok()),
        active: match pa_condition(ACTIVE) {
            Some(ConditionStatus::True) => Some(true),
            Some(ConditionStatus::False) => Some(false),
            _ => None,
        },
    }
}

/// The Deployment's own failure, as Knative's `TransformDeploymentStatus` reads it
/// (`ReplicaFailure` is read last there, so its reason is the one `Ready` shows).
fn deployment_failure(deployment: &Deployment) -> Option<RevisionHealth> {
    let conditions = deployment.status.as_ref()?.conditions.as_deref()?;
    let find = |type_: &str, status: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
    };
    let c = find("ReplicaFailure", "True").or_else(|| find("Progressing", "False"))?;
    Some(RevisionHealth::Unavailable {
        reason: c.reason.clone().unwrap_or_else(|| c.type_.clone()),
        message: c.message.clone().unwrap_or_default(),
    })
}

/// Whether the Deployment wants pods and has none available: the only time Knative
/// reads a pod, since a crash loop or an image that cannot be pulled shows nowhere
/// else. A Deployment without `spec.replicas` wants the API server's default, 1.
fn waits_for_pods(deployment: &Deployment) -> bool {
    let wanted = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let available = deployment
        .status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0);
    wanted > 0 && available == 0
}

/// One pod of the Deployment (its selector, `limit=1`), as Knative lists it: they all
/// run the same template, so the first one tells how all of them fail. `None` when
/// there is none yet or the list failed (logged; the status then says what the
/// Deployment says, and the next reconcile tries again).
async fn first_pod(pods: &Api<Pod>, deployment: &Deployment) -> Option<Pod> {
    let name = deployment.name_any();
    let selector = deployment.spec.as_ref()?.selector.clone();
    let selector = match Selector::try_from(selector) {
        Ok(selector) if !selector.selects_all() => selector,
        Ok(_) => return None,
        Err(error) => {
            tracing::warn!(deployment = %name, %error, "deployment selector unreadable");
            return None;
        }
    };
    let params = ListParams::default().labels_from(&selector).limit(1);
    match pods.list(&params).await {
        Ok(list) => list.items.into_iter().next(),
        Err(error) => {
            tracing::warn!(deployment = %name, %error, "listing the revision's pods failed");
            None
        }
    }
}

/// What the Deployment's first pod says is wrong, by Knative's `reconcileDeployment`
/// rules, or `None` (nothing, or the Deployment has a pod available):
/// - `PodScheduled=False` → unavailable with that condition's reason and message
///   (`Unschedulable`), unless `pod-is-always-schedulable`;
/// - then the first container other than the queue-proxy that either
///   - exited before (`lastState.terminated`) → failed, `ExitCode<n>`, `Container
///     failed with: <message>` (`container exited with no error` for exit code 0
///     without a message), or
///   - is waiting (`state.waiting`) after the Deployment's progress deadline passed
///     (`Progressing=False` `ProgressDeadlineExceeded`) → unavailable with the waiting
///     reason and message (`ImagePullBackOff`).
///
/// A container's verdict wins over the scheduling one, as in Knative where it is
/// marked last.
fn pod_failure(
    deployment: &Deployment,
    pod: &Pod,
    config: &DeploymentConfig,
) -> Option<RevisionHealth> {
    if !waits_for_pods(deployment) {
        return None;
    }
    let status = pod.status.as_ref()?;
    let unscheduled = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .filter(|_| !config.pod_is_always_schedulable)
        .map(|c| RevisionHealth::Unavailable {
            reason: c.reason.clone().unwrap_or_default(),
            message: c.message.clone().unwrap_or_default(),
        });
    let timed_out = timed_out(deployment);
    let containers = status.container_statuses.iter().flatten();
    for container in containers.filter(|c| c.name != QUEUE_CONTAINER_NAME) {
        let terminated = container
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref());
        if let Some(terminated) = terminated {
            return Some(exited(terminated));
        }
        let waiting = container.state.as_ref().and_then(|s| s.waiting.as_ref());
        if let Some(waiting) = waiting.filter(|_| timed_out) {
            return Some(RevisionHealth::Unavailable {
                reason: waiting.reason.clone().unwrap_or_default(),
                message: waiting.message.clone().unwrap_or_default(),
            });
        }
    }
    unscheduled
}

/// Knative's `hasDeploymentTimedOut`: `Progressing=False` `ProgressDeadlineExceeded`.
fn timed_out(deployment: &Deployment) -> bool {
    deployment
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| {
            c.type_ == "Progressing"
                && c.status == "False"
                && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        })
}

/// Knative's `ExitCodeReason` and `RevisionContainerExitingMessage`.
fn exited(terminated: &ContainerStateTerminated) -> RevisionHealth {
    let message = terminated.message.as_deref().unwrap_or_default();
    let message = if terminated.exit_code == 0 && message.is_empty() {
        "container exited with no error"
    } else {
        message
    };
    RevisionHealth::Failed {
        reason: format!("ExitCode{}", terminated.exit_code),
        message: format!("Container failed with: {message}"),
    }
}

#[cfg(test)]
#[path = "revision_tests.rs"]
mod tests;
