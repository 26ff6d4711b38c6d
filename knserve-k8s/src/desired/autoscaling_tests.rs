use std::collections::BTreeMap;

use knserve_core::autoscaler::DEFAULT_PROGRESS_DEADLINE;

use super::*;
use crate::crd::{PodAutoscalerSpec, ServerlessServiceStatus};

const WALL: &str = "2025-01-01T00:00:00Z";

fn pa(annotations: &[(&str, &str)]) -> PodAutoscaler {
    let mut pa = PodAutoscaler::new(
        "hello-00001",
        PodAutoscalerSpec {
            container_concurrency: 0,
            scale_target_ref: ObjectReference {
                api_version: Some("apps/v1".into()),
                kind: Some("Deployment".into()),
                name: Some("hello-00001-deployment".into()),
                ..ObjectReference::default()
            },
            reachability: "Reachable".into(),
            protocol_type: "http1".into(),
        },
    );
    pa.metadata.namespace = Some("default".into());
    pa.metadata.uid = Some("pa-uid".into());
    pa.metadata.generation = Some(1);
    pa.metadata.annotations = Some(
        annotations
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    );
    pa
}

/// An SKS with its Services, in `mode`, with the activator endpoints populated or not.
fn sks(mode: &str, activator_populated: bool) -> ServerlessService {
    let mut sks = ServerlessService::new("hello-00001", ServerlessServiceSpec::default());
    sks.spec.mode = mode.into();
    sks.metadata.generation = Some(1);
    let populated = if activator_populated {
        ConditionStatus::True
    } else {
        ConditionStatus::False
    };
    sks.status = Some(ServerlessServiceStatus {
        observed_generation: Some(1),
        conditions: vec![
            Condition::new(READY, ConditionStatus::True),
            Condition::new(ACTIVATOR_ENDPOINTS_POPULATED, populated),
        ],
        service_name: Some("hello-00001".into()),
        private_service_name: Some("hello-00001-private".into()),
    });
    sks
}

struct Fixture {
    pa: PodAutoscaler,
    config: AutoscalerConfig,
    machine: PaMachine,
}

impl Fixture {
    fn new(annotations: &[(&str, &str)]) -> Self {
        Self {
            pa: pa(annotations),
            config: AutoscalerConfig::default(),
            machine: PaMachine::new(Timestamp::ZERO),
        }
    }

    fn step(
        &mut self,
        secs: u64,
        decision: Option<u32>,
        deployment: DeploymentScale,
        sks: Option<&ServerlessService>,
    ) -> PaDesired {
        let input = PaInputs {
            pa: &self.pa,
            config: &self.config,
            progress_deadline: DEFAULT_PROGRESS_DEADLINE,
            decider: decision.map(|d| DeciderStatus {
                desired: Some(d),
                // Non-negative: Serve while there is demand, so Proxy time starts at zero.
                excess_burst_capacity: 0,
            }),
            deployment: Some(deployment),
            sks,
            now: Timestamp::from_secs(secs),
            wall_time: WALL,
        };
        let out = desired(&input, &mut self.machine);
        self.pa.status = Some(out.status.clone());
        out
    }
}

fn scale(replicas: i32, ready: i32) -> DeploymentScale {
    DeploymentScale { replicas, ready }
}

fn cond<'a>(status: &'a PodAutoscalerStatus, type_: &str) -> &'a Condition {
    find_condition(&status.conditions, type_).expect("condition is written")
}

#[test]
fn initial_scale_is_honoured_before_any_decision() {
    let mut f = Fixture::new(&[("autoscaling.knative.dev/initial-scale", "3")]);
    let serving = sks("Proxy", true);
    let out = f.step(0, None, scale(0, 0), Some(&serving));
    assert_eq!(
        out.replicas,
        Some(3),
        "a new revision starts at its initial scale"
    );
    assert_eq!(out.status.desired_scale, Some(3));
    let active = cond(&out.status, ACTIVE);
    assert_eq!(active.status, ConditionStatus::Unknown);
    assert_eq!(
        active.reason.as_deref(),
        Some("Queued"),
        "provisioning is Queued"
    );
    assert_eq!(cond(&out.status, READY).status, ConditionStatus::Unknown);

    let out = f.step(2, None, scale(3, 3), Some(&serving));
    assert_eq!(out.replicas, None, "the Deployment already has 3");
    assert_eq!(cond(&out.status, ACTIVE).status, ConditionStatus::True);
    assert_eq!(
        cond(&out.status, SCALE_TARGET_INITIALIZED).status,
        ConditionStatus::True
    );
    assert_eq!(cond(&out.status, READY).status, ConditionStatus::True);
    assert_eq!(out.status.actual_scale, Some(3));
}

#[test]
fn decisions_are_clamped_to_min_and_max_scale() {
    let mut f = Fixture::new(&[
        ("autoscaling.knative.dev/min-scale", "2"),
        ("autoscaling.knative.dev/max-scale", "5"),
    ]);
    let serving = sks("Serve", false);
    let out = f.step(0, Some(10), scale(1, 1), Some(&serving));
    assert_eq!(out.replicas, Some(5), "max-scale caps the decision");
    let out = f.step(2, Some(0), scale(5, 5), Some(&serving));
    assert_eq!(out.replicas, Some(2), "min-scale floors the decision");
    assert_eq!(out.status.desired_scale, Some(2));
}

#[test]
fn scales_to_zero_only_after_the_grace_period_with_the_sks_in_proxy() {
    let mut f = Fixture::new(&[]);
    let serving = sks("Serve", false);
    let out = f.step(0, Some(1), scale(1, 1), Some(&serving));
    assert_eq!(cond(&out.status, ACTIVE).status, ConditionStatus::True);

    // Demand is gone: the last pod stays for a stable window while Active.
    let out = f.step(10, Some(0), scale(1, 1), Some(&serving));
    assert_eq!(out.replicas, None, "an Active PA keeps one pod (already 1)");
    // After a stable window the PA turns Inactive and asks for Proxy, keeping the pod.
    let out = f.step(70, Some(0), scale(1, 1), Some(&serving));
    assert_eq!(out.replicas, None, "going inactive does not remove the pod");
    let active = cond(&out.status, ACTIVE);
    assert_eq!(active.status, ConditionStatus::False);
    assert_eq!(active.reason.as_deref(), Some("NoTraffic"));
    assert_eq!(out.sks.as_ref().unwrap().spec.mode, "Proxy");

    // The SKS still serves: the activator is not confirmed, so no scale and a quick look.
    let out = f.step(71, Some(0), scale(1, 1), Some(&serving));
    assert_eq!(
        out.replicas, None,
        "no zero before the activator is in the path"
    );
    assert_eq!(out.requeue_after, Some(PROBE_REQUEUE));

    let proxying = sks("Proxy", true);
    for t in [72, 85, 99] {
        let out = f.step(t, Some(0), scale(1, 1), Some(&proxying));
        assert_eq!(
            out.replicas, None,
            "no zero inside the grace period (t={t})"
        );
        assert!(
            out.requeue_after.is_some(),
            "the gate names when to look again"
        );
    }
    let out = f.step(100, Some(0), scale(1, 1), Some(&proxying));
    assert_eq!(
        out.replicas,
        Some(0),
        "zero once the grace period has passed"
    );
}

#[test]
fn invalid_annotations_report_a_false_condition_naming_the_annotation() {
    let mut f = Fixture::new(&[
        ("autoscaling.knative.dev/min-scale", "lots"),
        ("autoscaling.knative.dev/window", "1s"),
    ]);
    let out = f.step(0, Some(3), scale(1, 1), None);
    assert_eq!(
        out.replicas, None,
        "nothing is scaled under invalid annotations"
    );
    assert!(out.sks.is_none() && out.params.is_none());
    let ready = cond(&out.status, READY);
    assert_eq!(ready.status, ConditionStatus::False);
    assert_eq!(ready.reason.as_deref(), Some(INVALID_ANNOTATIONS));
    let message = ready.message.as_deref().unwrap();
    for key in [
        "autoscaling.knative.dev/min-scale",
        "autoscaling.knative.dev/window",
    ] {
        assert!(message.contains(key), "the message names {key}: {message}");
    }
}

#[test]
fn the_sks_proxies_with_two_activators_until_it_has_a_private_service() {
    let mut f = Fixture::new(&[]);
    let out = f.step(0, None, scale(0, 0), None);
    let sks = out.sks.expect("an SKS is always desired");
    assert_eq!(sks.spec.mode, "Proxy");
    assert_eq!(sks.spec.num_activators, 2);
    assert_eq!(sks.spec.protocol_type, "http1");
    assert_eq!(
        sks.spec.object_ref.name.as_deref(),
        Some("hello-00001-deployment")
    );
    assert_eq!(sks.metadata.namespace.as_deref(), Some("default"));
    let owner = &sks.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("PodAutoscaler", "pa-uid", Some(true)),
        "the PA controls its SKS"
    );
    assert_eq!(
        out.status.metrics_service_name.as_deref(),
        Some("hello-00001-private")
    );
    assert_eq!(out.status.service_name, None);
}

#[test]
fn the_sks_serves_when_burst_capacity_is_positive_and_counts_activators() {
    let mut f = Fixture::new(&[("autoscaling.knative.dev/target-burst-capacity", "0")]);
    let existing = sks("Proxy", true);
    let input = PaInputs {
        pa: &f.pa,
        config: &f.config,
        progress_deadline: DEFAULT_PROGRESS_DEADLINE,
        decider: Some(DeciderStatus {
            desired: Some(2),
            excess_burst_capacity: 0,
        }),
        deployment: Some(scale(2, 2)),
        sks: Some(&existing),
        now: Timestamp::ZERO,
        wall_time: WALL,
    };
    let out = desired(&input, &mut f.machine);
    let sks = out.sks.unwrap();
    assert_eq!(
        sks.spec.mode, "Serve",
        "want > 0 and EBC ≥ 0 serve directly"
    );
    assert_eq!(sks.spec.num_activators, 2, "TBC 0 keeps two activators");
    assert_eq!(out.status.service_name.as_deref(), Some("hello-00001"));
    assert_eq!(cond(&out.status, SKS_READY).status, ConditionStatus::True);
}

#[test]
fn a_transition_time_is_kept_while_a_condition_holds() {
    let mut f = Fixture::new(&[]);
    let serving = sks("Serve", false);
    f.step(0, Some(1), scale(1, 1), Some(&serving));
    let before = cond(f.pa.status.as_ref().unwrap(), ACTIVE).clone();
    let input = PaInputs {
        pa: &f.pa,
        config: &f.config,
        progress_deadline: DEFAULT_PROGRESS_DEADLINE,
        decider: None,
        deployment: Some(scale(1, 1)),
        sks: Some(&serving),
        now: Timestamp::from_secs(2),
        wall_time: "2030-01-01T00:00:00Z",
    };
    let out = desired(&input, &mut f.machine);
    assert_eq!(
        cond(&out.status, ACTIVE).last_transition_time,
        before.last_transition_time,
        "an unchanged status keeps its transition time"
    );
    assert_eq!(
        out.status.desired_scale,
        Some(1),
        "an unknown decision does not overwrite a known desired scale"
    );
}

#[test]
fn a_restored_machine_resumes_the_recorded_activity() {
    let mut status = PodAutoscalerStatus::default();
    status
        .conditions
        .push(Condition::new(ACTIVE, ConditionStatus::False));
    let machine = restore_machine(Some(&status), Timestamp::from_secs(5));
    assert_eq!(
        machine.activity(),
        Activity::Inactive(InactiveReason::NoTraffic)
    );
    assert_eq!(machine.mode(), SksMode::Proxy);

    status.conditions[0].status = ConditionStatus::True;
    let machine = restore_machine(Some(&status), Timestamp::from_secs(5));
    assert_eq!(machine.activity(), Activity::Active);

    let machine = restore_machine(None, Timestamp::from_secs(5));
    assert_eq!(machine.activity(), Activity::Activating);
}

#[test]
fn only_kpa_class_pas_are_this_autoscalers() {
    let config = AutoscalerConfig::default();
    assert!(is_kpa(&pa(&[]), &config), "the default class is KPA");
    assert!(is_kpa(
        &pa(&[(CLASS_ANNOTATION, "kpa.autoscaling.knative.dev")]),
        &config
    ));
    assert!(!is_kpa(
        &pa(&[(CLASS_ANNOTATION, "hpa.autoscaling.knative.dev")]),
        &config
    ));
}
