//! The PodAutoscaler controller: reads a PA and what it drives from the watch stores,
//! calls [`crate::desired::autoscaling::desired`] and applies the result.
//!
//! Writes: the ServerlessService by server-side apply (field manager [`FIELD_MANAGER`]),
//! the Deployment's replicas through its `scale` subresource, the PA's status by a merge
//! patch of `status` — each only when it differs from what is observed, so the
//! every-tick requeue costs no API writes while nothing changes.
//!
//! A 404 on a write means the object is gone (the PA deleted mid-reconcile, or the
//! Deployment): the reconcile stops quietly and waits for the next change instead of
//! backing off; a gone PA's decider and machine are dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use knserve_core::RevisionKey;
use knserve_core::autoscaler::{DEFAULT_PROGRESS_DEADLINE, PodAutoscaler as PaMachine};
use knserve_core::config::AutoscalerConfig;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::Deciders;
use crate::crd::{PodAutoscaler, ServerlessService};
use crate::desired::autoscaling::{
    DeploymentScale, PaDesired, PaInputs, desired, is_kpa, restore_machine,
};

/// The field manager of the autoscaler's server-side applies.
pub const FIELD_MANAGER: &str = "knserve-autoscaler";
/// The first retry after a failed reconcile; doubled per failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What a reconcile writes the PA's status as, in [`ReconcileError`].
const STATUS: &str = "the status";

/// Why a reconcile failed (retried with back-off).
#[derive(Debug, thiserror::Error)]
#[error("writing {what} of PodAutoscaler {revision}")]
pub struct ReconcileError {
    what: &'static str,
    revision: RevisionKey,
    #[source]
    source: kube::Error,
}

impl ReconcileError {
    /// Whether the object written no longer exists (404).
    fn is_gone(&self) -> bool {
        matches!(&self.source, kube::Error::Api(status) if status.is_not_found())
    }

    /// Whether the PA itself is gone (its status write got a 404).
    fn pa_gone(&self) -> bool {
        self.what == STATUS && self.is_gone()
    }
}

/// What every reconcile shares.
pub(super) struct Context {
    pub(super) client: Client,
    pub(super) deciders: Arc<Deciders>,
    pub(super) config: watch::Receiver<AutoscalerConfig>,
    pub(super) deployments: Store<Deployment>,
    pub(super) sks: Store<ServerlessService>,
    pub(super) tick: Duration,
    machines: Mutex<HashMap<RevisionKey, PaMachine>>,
    failures: Mutex<HashMap<RevisionKey, u32>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("deciders", &self.deciders)
            .field("tick", &self.tick)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub(super) fn new(
        client: Client,
        deciders: Arc<Deciders>,
        config: watch::Receiver<AutoscalerConfig>,
        deployments: Store<Deployment>,
        sks: Store<ServerlessService>,
        tick: Duration,
    ) -> Self {
        Self {
            client,
            deciders,
            config,
            deployments,
            sks,
            tick,
            machines: Mutex::default(),
            failures: Mutex::default(),
        }
    }

    /// Drops everything kept for a revision whose PA is gone or not ours.
    pub(super) fn forget(&self, revision: &RevisionKey) {
        self.deciders.remove(revision);
        lock(&self.machines).remove(revision);
        lock(&self.failures).remove(revision);
    }

    /// Keeps only the revisions `keep` says yes to (PAs deleted unseen); returns those
    /// whose decider was removed.
    pub(super) fn retain(&self, keep: impl Fn(&RevisionKey) -> bool) -> Vec<RevisionKey> {
        lock(&self.machines).retain(|k, _| keep(k));
        lock(&self.failures).retain(|k, _| keep(k));
        self.deciders.retain(keep)
    }

    /// Whether a PA machine is kept for `revision`.
    #[cfg(test)]
    pub(super) fn has_machine(&self, revision: &RevisionKey) -> bool {
        lock(&self.machines).contains_key(revision)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn key_of(pa: &PodAutoscaler) -> RevisionKey {
    RevisionKey::new(pa.namespace().unwrap_or_default(), pa.name_any())
}

/// One reconcile of one PA.
pub(super) async fn reconcile(
    pa: Arc<PodAutoscaler>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let config = ctx.config.borrow().clone();
    let revision = key_of(&pa);
    if !is_kpa(&pa, &config) || pa.metadata.deletion_timestamp.is_some() {
        ctx.forget(&revision);
        return Ok(Action::await_change());
    }
    let out = decide(&pa, &ctx, &config, &revision);
    let ready = out.status.actual_scale.unwrap_or(0).max(0).unsigned_abs();
    match &out.params {
        Some(params) => {
            let reachable = pa.spec.reachability != "Unreachable";
            ctx.deciders
                .upsert(&revision, params.clone(), ready, reachable);
            let label = |name: &str| pa.labels().get(name).cloned().unwrap_or_default();
            ctx.deciders.set_owners(
                &revision,
                &label("serving.knative.dev/service"),
                &label("serving.knative.dev/configuration"),
            );
        }
        None => {
            ctx.deciders.remove(&revision);
        }
    }
    if let Err(error) = write(&ctx, &pa, &revision, &out).await {
        if !error.is_gone() {
            return Err(error);
        }
        debug!(%error, "object gone; waiting for the next change");
        if error.pa_gone() {
            ctx.forget(&revision);
        }
        return Ok(Action::await_change());
    }
    ctx.deciders
        .set_scale(&revision, out.status.desired_scale, out.status.actual_scale);
    lock(&ctx.failures).remove(&revision);
    let after = out.requeue_after.map_or(ctx.tick, |r| r.min(ctx.tick));
    Ok(Action::requeue(after.max(Duration::from_millis(100))))
}

/// Reads the observed objects and steps the PA's machine.
pub(super) fn decide(
    pa: &PodAutoscaler,
    ctx: &Context,
    config: &AutoscalerConfig,
    revision: &RevisionKey,
) -> PaDesired {
    let namespace = revision.namespace.as_ref();
    let deployment = pa
        .spec
        .scale_target_ref
        .name
        .as_deref()
        .and_then(|name| ctx.deployments.get(&ObjectRef::new(name).within(namespace)));
    let deployment = deployment.map(|d| DeploymentScale {
        replicas: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        ready: d
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0),
    });
    let sks = ctx
        .sks
        .get(&ObjectRef::new(&revision.name).within(namespace));
    let now = ctx.deciders.now();
    let wall_time = wall_time();
    let input = PaInputs {
        pa,
        config,
        progress_deadline: DEFAULT_PROGRESS_DEADLINE,
        decider: ctx.deciders.status(revision),
        deployment,
        sks: sks.as_deref(),
        now,
        wall_time: &wall_time,
    };
    let mut machines = lock(&ctx.machines);
    let machine = machines
        .entry(revision.clone())
        .or_insert_with(|| restore_machine(pa.status.as_ref(), now));
    desired(&input, machine)
}

/// Applies what differs from the observed objects.
async fn write(
    ctx: &Context,
    pa: &PodAutoscaler,
    revision: &RevisionKey,
    out: &PaDesired,
) -> Result<(), ReconcileError> {
    let namespace = revision.namespace.as_ref();
    let fail = |what| {
        move |source| ReconcileError {
            what,
            revision: revision.clone(),
            source,
        }
    };
    if let Some(sks) = &out.sks {
        let current = ctx
            .sks
            .get(&ObjectRef::new(&revision.name).within(namespace));
        let owned = current
            .as_ref()
            .is_some_and(|c| c.metadata.owner_references == sks.metadata.owner_references);
        if current.as_ref().is_none_or(|c| c.spec != sks.spec) || !owned {
            let api = Api::<ServerlessService>::namespaced(ctx.client.clone(), namespace);
            let params = PatchParams::apply(FIELD_MANAGER).force();
            api.patch(&revision.name, &params, &Patch::Apply(sks))
                .await
                .map_err(fail("the ServerlessService"))?;
        }
    }
    if let (Some(replicas), Some(name)) = (out.replicas, pa.spec.scale_target_ref.name.as_deref()) {
        info!(%revision, replicas, "scaling");
        let api = Api::<Deployment>::namespaced(ctx.client.clone(), namespace);
        let patch = json!({ "spec": { "replicas": replicas } });
        api.patch_scale(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(fail("the Deployment scale"))?;
    }
    if pa.status.as_ref() != Some(&out.status) {
        let api = Api::<PodAutoscaler>::namespaced(ctx.client.clone(), namespace);
        let patch = json!({ "status": out.status });
        api.patch_status(
            &revision.name,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(fail(STATUS))?;
    }
    Ok(())
}

/// Retries a failed PA with exponential back-off.
pub(super) fn error_policy(
    pa: Arc<PodAutoscaler>,
    error: &ReconcileError,
    ctx: Arc<Context>,
) -> Action {
    let revision = key_of(&pa);
    let mut failures = lock(&ctx.failures);
    let count = failures.entry(revision).or_default();
    *count = count.saturating_add(1);
    let backoff = FIRST_BACKOFF
        .saturating_mul(1 << (*count - 1).min(10))
        .min(MAX_BACKOFF);
    warn!(error = %error, source = ?std::error::Error::source(error), retry_in = ?backoff, "PodAutoscaler reconcile failed");
    Action::requeue(backoff)
}

/// Now, RFC 3339 to the second, for conditions' transition times.
fn wall_time() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(what: &'static str, reason: &str, code: u16) -> ReconcileError {
        let status = kube::core::Status::failure("failed", reason).with_code(code);
        ReconcileError {
            what,
            revision: RevisionKey::new("default", "hello-00001"),
            source: kube::Error::Api(status.boxed()),
        }
    }

    #[test]
    fn a_404_on_the_status_write_means_the_pa_is_gone_and_other_failures_are_retried() {
        assert!(
            error(STATUS, "NotFound", 404).pa_gone(),
            "404 on the PA status: PA gone"
        );
        let scale = error("the Deployment scale", "NotFound", 404);
        assert!(
            scale.is_gone() && !scale.pa_gone(),
            "404 on the scale: the Deployment is gone, not the PA"
        );
        let busy = error(STATUS, "InternalError", 500);
        assert!(!busy.is_gone(), "a 500 is retried with back-off");
    }
}
