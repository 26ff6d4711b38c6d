//! PodAutoscaler of class `hpa.autoscaling.knative.dev` → a HorizontalPodAutoscaler on
//! CPU or memory, as Knative's HPA reconciler does: the Kubernetes HPA owns the
//! Deployment's replicas; the revision is always served by its pods (SKS `Serve`), so it
//! never scales to zero; the PodAutoscaler's status mirrors the HPA's.

use std::sync::Arc;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use knserve_core::api::ConditionStatus;
use knserve_core::config::PodAutoscalerClass;
use knserve_core::reconcile::{condition, set_condition};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use super::kube_io::{apply, drain, error_policy, succeeded, write_status};
use super::{Context, Error, RESYNC, now};
use crate::crd::{PodAutoscaler, PodAutoscalerStatus, ServerlessService, ServerlessServiceSpec};
use crate::desired::autoscaling::CLASS_ANNOTATION;
use crate::desired::hpa::desired_hpa;
use crate::desired::revision::controller_ref;

/// The reason of `Ready=False` when the HPA cannot be built.
pub const INVALID_HPA: &str = "InvalidHPA";

/// Runs the HPA-class PodAutoscaler reconciler.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let results = Controller::new(
        Api::<PodAutoscaler>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<HorizontalPodAutoscaler>::all(client),
        watcher::Config::default(),
    )
    .run(reconcile, error_policy, ctx);
    drain("PodAutoscaler(hpa)", results).await;
}

fn is_hpa(pa: &PodAutoscaler, ctx: &Context) -> bool {
    match pa.annotations().get(CLASS_ANNOTATION) {
        Some(class) => class == PodAutoscalerClass::HPA,
        None => ctx.config().validation.autoscaler.pod_autoscaler_class == PodAutoscalerClass::Hpa,
    }
}

async fn reconcile(pa: Arc<PodAutoscaler>, ctx: Arc<Context>) -> Result<Action, Error> {
    if pa.metadata.deletion_timestamp.is_some() || !is_hpa(&pa, &ctx) {
        return Ok(Action::await_change());
    }
    let namespace = pa.namespace().unwrap_or_default();
    let client = ctx.client.clone();
    let pas: Api<PodAutoscaler> = Api::namespaced(client.clone(), &namespace);
    let mut status = pa.status.clone().unwrap_or_default();
    status.observed_generation = pa.metadata.generation;
    let wall = now();
    match desired_hpa(&pa, &ctx.config().validation.autoscaler) {
        Ok(hpa) => {
            let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &namespace);
            let live = apply(&hpas, &hpa).await?;
            let sks = serve_sks(&pa)?;
            let sks_api: Api<ServerlessService> = Api::namespaced(client, &namespace);
            apply(&sks_api, &sks).await?;
            mirror(&mut status, &live, &pa.name_any(), &wall);
        }
        Err(e) => {
            let c = condition(
                "Ready",
                ConditionStatus::False,
                Some(INVALID_HPA),
                Some(e.to_string()),
            );
            set_condition(&mut status.conditions, c, Some(&wall));
        }
    }
    write_status(&pas, &pa, pa.status.as_ref(), &status).await?;
    succeeded(&*pa, &ctx);
    Ok(Action::requeue(RESYNC))
}

/// The revision's SKS, always in `Serve`: with an HPA there is no scale from zero.
fn serve_sks(pa: &PodAutoscaler) -> Result<ServerlessService, Error> {
    let owner = controller_ref(pa).map_err(|e| Error::Build(e.to_string()))?;
    let spec = ServerlessServiceSpec {
        mode: "Serve".to_owned(),
        object_ref: pa.spec.scale_target_ref.clone(),
        protocol_type: pa.spec.protocol_type.clone(),
        num_activators: 0,
    };
    let mut sks = ServerlessService::new(&pa.name_any(), spec);
    sks.metadata.namespace = pa.namespace();
    sks.metadata.labels = Some(pa.labels().clone());
    sks.metadata.owner_references = Some(vec![owner]);
    Ok(sks)
}

/// `desiredScale`/`actualScale` from the HPA, `Ready` once it has acted.
fn mirror(status: &mut PodAutoscalerStatus, hpa: &HorizontalPodAutoscaler, name: &str, now: &str) {
    let hpa_status = hpa.status.clone().unwrap_or_default();
    status.desired_scale = Some(hpa_status.desired_replicas);
    status.actual_scale = hpa_status.current_replicas;
    status.service_name = Some(name.to_owned());
    status.metrics_service_name = Some(format!("{name}-private"));
    let ready = if hpa_status.desired_replicas > 0 {
        condition("Ready", ConditionStatus::True, None, None)
    } else {
        condition(
            "Ready",
            ConditionStatus::Unknown,
            Some("HPANotReady"),
            Some("The HorizontalPodAutoscaler has not scaled yet.".to_owned()),
        )
    };
    set_condition(&mut status.conditions, ready, Some(now));
}
