//! The autoscaler's PodAutoscaler reconcile as a pure function (spec §2.8–§2.11): from a
//! PA, `config-autoscaler`, the decider's latest status and the observed Deployment and
//! ServerlessService to the Deployment scale, the desired ServerlessService and the PA
//! status to write.
//!
//! The rules themselves — bounds, initial scale, the scale-to-zero gate, the `Active`
//! condition, SKS mode and activator count — live in the per-revision
//! [`knserve_core::autoscaler::PodAutoscaler`] machine; this module only translates
//! Kubernetes objects into its [`Observed`] and its [`Reconciled`] back into objects.
//!
//! Choices where Kubernetes differs from the local backend:
//! - *Activator in the path* (§2.10's probe) is read from the SKS: its spec says `Proxy`,
//!   its status describes that spec (`observedGeneration`) and its
//!   `ActivatorEndpointsPopulated` condition is True — the SKS reconciler sets it once
//!   the public Service's endpoints are the activators'.
//! - *Time in Proxy mode* is the machine's own record of when it chose Proxy (the
//!   machine keeps it; the SKS's transition time is not an input of it).
//! - *Ready instances* are the Deployment's ready replicas, counted only once the SKS has
//!   a public Service (the machine's "ready behind a ready serverless service");
//!   `actualScale` reports the Deployment's ready replicas as they are.
//! - *After an autoscaler restart* the machine is rebuilt from the PA's recorded `Active`
//!   condition by [`restore_machine`]; the times it measures restart from then.

use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use knserve_core::FieldError;
use knserve_core::Timestamp;
use knserve_core::api::{Condition, ConditionStatus, find_condition};
use knserve_core::autoscaler::{
    Activity, DeciderStatus, InactiveReason, Observed, PodAutoscaler as PaMachine, Reconciled,
    ScalingParams, SksMode,
};
use knserve_core::config::{AutoscalerConfig, PodAutoscalerClass};
use kube::{Resource, ResourceExt};

use crate::crd::{PodAutoscaler, PodAutoscalerStatus, ServerlessService, ServerlessServiceSpec};

/// The annotation naming a PA's autoscaler class.
pub const CLASS_ANNOTATION: &str = "autoscaling.knative.dev/class";
/// PA condition: the summary (Active ∧ ScaleTargetInitialized ∧ SKSReady).
pub const READY: &str = "Ready";
/// PA condition: the revision has (or is getting) instances.
pub const ACTIVE: &str = "Active";
/// PA condition: the revision reached its initial scale once (never reverts).
pub const SCALE_TARGET_INITIALIZED: &str = "ScaleTargetInitialized";
/// PA condition: the ServerlessService is Ready.
pub const SKS_READY: &str = "SKSReady";
/// SKS condition: the public Service's endpoints are the activators'.
pub const ACTIVATOR_ENDPOINTS_POPULATED: &str = "ActivatorEndpointsPopulated";
/// The PA `Ready` reason when its annotations break a rule.
pub const INVALID_ANNOTATIONS: &str = "InvalidAnnotations";
/// How soon to look again while the activator is not yet confirmed in the path (the
/// period of Knative's activator probe).
pub const PROBE_REQUEUE: Duration = Duration::from_secs(1);

/// Whether a PA is this autoscaler's: its class annotation, else the cluster default,
/// is `kpa.autoscaling.knative.dev`.
pub fn is_kpa(pa: &PodAutoscaler, config: &AutoscalerConfig) -> bool {
    match pa.annotations().get(CLASS_ANNOTATION) {
        Some(class) => class == PodAutoscalerClass::KPA,
        None => config.pod_autoscaler_class == PodAutoscalerClass::Kpa,
    }
}

/// The scale target as observed: `spec.replicas` and `status.readyReplicas`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeploymentScale {
    /// The replicas the Deployment asks for.
    pub replicas: i32,
    /// Its ready replicas.
    pub ready: i32,
}

/// Everything one reconcile of a PA reads.
#[derive(Debug, Clone, Copy)]
pub struct PaInputs<'a> {
    /// The PodAutoscaler.
    pub pa: &'a PodAutoscaler,
    /// `config-autoscaler`.
    pub config: &'a AutoscalerConfig,
    /// `config-deployment`'s progress deadline (the annotation overrides it).
    pub progress_deadline: Duration,
    /// The decider's latest status for this revision; `None` when it has none yet.
    pub decider: Option<DeciderStatus>,
    /// The Deployment `<rev>-deployment`, if it exists.
    pub deployment: Option<DeploymentScale>,
    /// The ServerlessService `<rev>`, if it exists.
    pub sks: Option<&'a ServerlessService>,
    /// The machine's clock.
    pub now: Timestamp,
    /// The wall-clock time, RFC 3339, for conditions' `lastTransitionTime`.
    pub wall_time: &'a str,
}

/// What one reconcile of a PA wants written.
#[derive(Debug, Clone)]
pub struct PaDesired {
    /// The revision's resolved scaling parameters; `None` when its annotations are invalid.
    pub params: Option<ScalingParams>,
    /// Set the Deployment's replicas (through `/scale`) to this; `None`: leave them.
    pub replicas: Option<i32>,
    /// The ServerlessService to apply; `None`: leave it.
    pub sks: Option<ServerlessService>,
    /// The PA's status.
    pub status: PodAutoscalerStatus,
    /// Reconcile again after this long even if nothing changes.
    pub requeue_after: Option<Duration>,
}

/// Reconciles one PA: its machine steps once and the result becomes objects.
///
/// A PA whose annotations break a rule gets `Ready=False` (`InvalidAnnotations`, the
/// message naming every annotation and rule) and nothing else is changed.
pub fn desired(input: &PaInputs<'_>, machine: &mut PaMachine) -> PaDesired {
    let pa = input.pa;
    let params = match ScalingParams::for_revision(
        pa.annotations(),
        Some(pa.spec.container_concurrency),
        input.config,
        input.progress_deadline,
    ) {
        Ok(params) => params,
        Err(errors) => return invalid(input, &errors),
    };
    let ready = input
        .deployment
        .map_or(0, |d| d.ready.max(0).unsigned_abs());
    let public = input
        .sks
        .and_then(|s| s.status.as_ref())
        .and_then(|s| s.service_name.clone());
    let observed = Observed {
        ready: if public.is_some() { ready } else { 0 },
        reachable: pa.spec.reachability != "Unreachable",
        activator_in_path: activator_in_path(input.sks),
    };
    let decider = input
        .decider
        .unwrap_or_else(|| DeciderStatus::initial(&params));
    let reconciled = machine.reconcile(input.now, &params, decider, observed);
    let replicas = match (reconciled.scale, input.deployment) {
        (Some(scale), Some(d)) if to_i32(scale) != d.replicas => Some(to_i32(scale)),
        _ => None,
    };
    let requeue_after = if reconciled.probe_activator {
        Some(
            reconciled
                .requeue_after
                .map_or(PROBE_REQUEUE, |r| r.min(PROBE_REQUEUE)),
        )
    } else {
        reconciled.requeue_after
    };
    PaDesired {
        params: Some(params),
        replicas,
        sks: Some(desired_sks(pa, &reconciled, input.sks)),
        status: status(input, &reconciled, ready, public),
        requeue_after,
    }
}

/// The state machine for a PA first seen by this process: rebuilt from the PA's
/// recorded `Active` condition (the machine has no constructor for a given state, so one
/// reconcile with seed inputs walks it there).
///
/// `Active=False` → Inactive (`NoTraffic`) in Proxy mode; `Active=True` → Active and
/// initialized; otherwise a new, activating machine. Times restart at `now`, so a
/// restart never shortens a grace period, it may only lengthen it.
pub fn restore_machine(status: Option<&PodAutoscalerStatus>, now: Timestamp) -> PaMachine {
    let mut machine = PaMachine::new(now);
    let active = status.and_then(|s| find_condition(&s.conditions, ACTIVE));
    let seed = |initial_scale, desired, ready, reachable| {
        let mut params = ScalingParams::from_config(0, &AutoscalerConfig::default());
        params.initial_scale = initial_scale;
        params.min_scale = 0;
        params.max_scale = 0;
        let decider = DeciderStatus {
            desired: Some(desired),
            excess_burst_capacity: -1,
        };
        let observed = Observed {
            ready,
            reachable,
            activator_in_path: false,
        };
        (params, decider, observed)
    };
    let (params, decider, observed) = match active.map(|c| c.status) {
        Some(ConditionStatus::False) => seed(0, 0, 0, false),
        Some(ConditionStatus::True) => seed(1, 1, 1, true),
        _ => return machine,
    };
    machine.reconcile(now, &params, decider, observed);
    machine
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Whether the SKS confirms the activator fronts the revision.
fn activator_in_path(sks: Option<&ServerlessService>) -> bool {
    let Some(sks) = sks else { return false };
    let Some(status) = &sks.status else {
        return false;
    };
    let current = match (status.observed_generation, sks.metadata.generation) {
        (Some(observed), Some(generation)) => observed == generation,
        _ => true,
    };
    current
        && sks.spec.mode == "Proxy"
        && find_condition(&status.conditions, ACTIVATOR_ENDPOINTS_POPULATED)
            .is_some_and(Condition::is_true)
}

/// The ServerlessService `<rev>`: mode, target and activator count; owned by the PA.
///
/// Before the SKS has a private Service it is kept in Proxy mode with the minimum two
/// activators (§2.11).
fn desired_sks(
    pa: &PodAutoscaler,
    reconciled: &Reconciled,
    current: Option<&ServerlessService>,
) -> ServerlessService {
    let has_private = current
        .and_then(|s| s.status.as_ref())
        .is_some_and(|s| s.private_service_name.is_some());
    let (mode, activators) = if has_private {
        (reconciled.mode, reconciled.activators)
    } else {
        (SksMode::Proxy, knserve_core::autoscaler::MIN_ACTIVATORS)
    };
    let name = pa.name_any();
    let target = &pa.spec.scale_target_ref;
    let object_ref = ObjectReference {
        api_version: Some(
            target
                .api_version
                .clone()
                .unwrap_or_else(|| "apps/v1".into()),
        ),
        kind: Some(target.kind.clone().unwrap_or_else(|| "Deployment".into())),
        name: Some(
            target
                .name
                .clone()
                .unwrap_or_else(|| format!("{name}-deployment")),
        ),
        ..ObjectReference::default()
    };
    let spec = ServerlessServiceSpec {
        mode: match mode {
            SksMode::Serve => "Serve",
            SksMode::Proxy => "Proxy",
        }
        .to_owned(),
        object_ref,
        protocol_type: pa.spec.protocol_type.clone(),
        num_activators: to_i32(activators),
    };
    let mut sks = ServerlessService::new(&name, spec);
    sks.metadata = ObjectMeta {
        name: Some(name),
        namespace: pa.namespace(),
        labels: pa.metadata.labels.clone(),
        owner_references: pa.controller_owner_ref(&()).map(|r| vec![r]),
        ..ObjectMeta::default()
    };
    sks
}

/// The PA status after a reconcile.
fn status(
    input: &PaInputs<'_>,
    reconciled: &Reconciled,
    ready: u32,
    public: Option<String>,
) -> PodAutoscalerStatus {
    let previous = input.pa.status.clone().unwrap_or_default();
    let mut conditions = previous.conditions.clone();
    let wall = input.wall_time;
    set_condition(&mut conditions, active_condition(reconciled.activity), wall);
    let initialized = if reconciled.scale_target_initialized {
        condition(SCALE_TARGET_INITIALIZED, ConditionStatus::True, "", "")
    } else {
        condition(
            SCALE_TARGET_INITIALIZED,
            ConditionStatus::Unknown,
            "Queued",
            "the revision has not yet reached its initial scale",
        )
    };
    set_condition(&mut conditions, initialized, wall);
    set_condition(&mut conditions, sks_ready(input.sks), wall);
    let summary = summary(&conditions);
    set_condition(&mut conditions, summary, wall);
    PodAutoscalerStatus {
        observed_generation: input.pa.metadata.generation,
        conditions,
        service_name: public.or(previous.service_name),
        metrics_service_name: Some(format!("{}-private", input.pa.name_any())),
        // A transient "unknown" (after a restart) does not overwrite a known value.
        desired_scale: reconciled.want.map(to_i32).or(previous.desired_scale),
        actual_scale: Some(to_i32(ready)),
    }
}

/// The status of a PA whose annotations break a rule.
fn invalid(input: &PaInputs<'_>, errors: &[FieldError]) -> PaDesired {
    let mut status = input.pa.status.clone().unwrap_or_default();
    let message = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let ready = condition(READY, ConditionStatus::False, INVALID_ANNOTATIONS, &message);
    set_condition(&mut status.conditions, ready, input.wall_time);
    status.observed_generation = input.pa.metadata.generation;
    PaDesired {
        params: None,
        replicas: None,
        sks: None,
        status,
        requeue_after: None,
    }
}

fn active_condition(activity: Activity) -> Condition {
    let (status, message) = match activity {
        Activity::Active => (ConditionStatus::True, ""),
        Activity::Activating => (
            ConditionStatus::Unknown,
            "Requests to the target are being buffered as resources are provisioned.",
        ),
        Activity::Inactive(InactiveReason::NoTraffic) => (
            ConditionStatus::False,
            "The target is not receiving traffic.",
        ),
        Activity::Inactive(InactiveReason::TimedOut) => {
            (ConditionStatus::False, "The target could not be activated.")
        }
    };
    condition(ACTIVE, status, activity.reason(), message)
}

fn sks_ready(sks: Option<&ServerlessService>) -> Condition {
    let ready = sks
        .and_then(|s| s.status.as_ref())
        .and_then(|s| find_condition(&s.conditions, READY));
    match ready {
        Some(c) if c.is_true() => condition(SKS_READY, ConditionStatus::True, "", ""),
        Some(c) => condition(
            SKS_READY,
            ConditionStatus::Unknown,
            "NotReady",
            c.message
                .as_deref()
                .unwrap_or("the ServerlessService is not ready"),
        ),
        None => condition(
            SKS_READY,
            ConditionStatus::Unknown,
            "NotReady",
            "the ServerlessService has no status yet",
        ),
    }
}

/// `Ready`: the first False dependent, else the first Unknown one, else True.
fn summary(conditions: &[Condition]) -> Condition {
    let dependents: Vec<&Condition> = [ACTIVE, SCALE_TARGET_INITIALIZED, SKS_READY]
        .iter()
        .filter_map(|t| find_condition(conditions, t))
        .collect();
    let worst = [ConditionStatus::False, ConditionStatus::Unknown]
        .into_iter()
        .find_map(|s| dependents.iter().find(|c| c.status == s));
    match worst {
        Some(c) => condition(
            READY,
            c.status,
            c.reason.as_deref().unwrap_or_default(),
            c.message.as_deref().unwrap_or_default(),
        ),
        None => condition(READY, ConditionStatus::True, "", ""),
    }
}

fn condition(type_: &str, status: ConditionStatus, reason: &str, message: &str) -> Condition {
    let mut c = Condition::new(type_, status);
    c.reason = (!reason.is_empty()).then(|| reason.to_owned());
    c.message = (!message.is_empty()).then(|| message.to_owned());
    c
}

/// Replaces (or adds) a condition, keeping its transition time when its status holds.
fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition, now: &str) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            new.last_transition_time = if old.status == new.status {
                old.last_transition_time.clone()
            } else {
                Some(now.to_owned())
            };
            *old = new;
        }
        None => {
            new.last_transition_time = Some(now.to_owned());
            conditions.push(new);
        }
    }
}

#[cfg(test)]
#[path = "autoscaling_tests.rs"]
mod tests;
