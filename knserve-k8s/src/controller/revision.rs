//! Revision → Deployment + PodAutoscaler (§1.1, §5.1), and the Revision's status from
//! what they show (§1.4).

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use knserve_core::api::ConditionStatus;
use knserve_core::api::condition_types::READY;
use knserve_core::reconcile::{RevisionHealth, RevisionObservation};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use super::kube_io::{apply, drain, error_policy, succeeded, write_status};
use super::{Context, Error, RESYNC, now};
use crate::crd::{self, PodAutoscaler};
use crate::desired::autoscaling::{ACTIVE, SCALE_TARGET_INITIALIZED};
use crate::desired::revision::{
    DeploymentConfig, deployment_name, desired_deployment, desired_pod_autoscaler,
};
use crate::desired::serving::{self, INVALID_SPEC};

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
    let autoscalers: Api<PodAutoscaler> = Api::namespaced(client, &namespace);
    let config = ctx.config();
    let autoscaler = &config.validation.autoscaler;
    let deployment_config = DeploymentConfig::from_map(&config.deployment).unwrap_or_else(|e| {
        tracing::error!(error = %e, "config-deployment: using the defaults");
        DeploymentConfig::default()
    });
    let live = deployments
        .get_opt(&deployment_name(&revision.name_any()))
        .await?;
    let live_replicas = live
        .as_ref()
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.replicas);
    let children = desired_deployment(&revision, live_replicas, &deployment_config, autoscaler)
        .map_err(|e| e.to_string())
        .and_then(|d| {
            let pa = desired_pod_autoscaler(&revision, autoscaler).map_err(|e| e.to_string())?;
            Ok((d.deployment, pa))
        });
    let status = match children {
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
            let observation = observe(&revision, &deployment, &pa);
            serving::revision_status(&revision, &observation, &now())
        }
        Err(message) => invalid(&revision, message),
    };
    write_status(&revisions, &revision, revision.status.as_ref(), &status).await?;
    succeeded(&*revision, &ctx);
    Ok(Action::requeue(RESYNC))
}

fn invalid(revision: &crd::Revision, message: String) -> crd::serving::RevisionStatus {
    let observation = RevisionObservation {
        health: RevisionHealth::Failed {
            reason: INVALID_SPEC.to_owned(),
            message,
        },
        actual_replicas: 0,
        desired_replicas: None,
        active: None,
    };
    serving::revision_status(revision, &observation, &now())
}

/// What the Deployment and PodAutoscaler say about the revision:
/// - failed when the Deployment stopped progressing (`ProgressDeadlineExceeded`) or
///   cannot create pods (`ReplicaFailure`), with the Deployment's reason and message;
/// - ready once it was ready before, a pod is ready, or the PodAutoscaler reports its
///   initial scale reached (`ScaleTargetInitialized`, which covers an initial scale of
///   0); it stays ready through scale to zero;
/// - active as the PodAutoscaler's `Active` condition says.
fn observe(
    revision: &crd::Revision,
    deployment: &Deployment,
    pa: &PodAutoscaler,
) -> RevisionObservation {
    let status = deployment.status.clone().unwrap_or_default();
    let conditions = status.conditions.unwrap_or_default();
    let failure = conditions.iter().find(|c| {
        (c.type_ == "Progressing"
            && c.status == "False"
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
            || (c.type_ == "ReplicaFailure" && c.status == "True")
    });
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
    let health = if let Some(c) = failure {
        RevisionHealth::Failed {
            reason: c.reason.clone().unwrap_or_else(|| c.type_.clone()),
            message: c.message.clone().unwrap_or_default(),
        }
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
