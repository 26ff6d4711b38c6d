//! The Revision's health from its Deployment and first pod, with pod statuses as the
//! kubelet writes them, and how a failure travels to the Configuration and Service.

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::api::apps::v1::DeploymentStatus;
use knserve_core::api::condition_types::{
    CONFIGURATIONS_READY, CONTAINER_HEALTHY, RESOURCES_AVAILABLE,
};
use knserve_core::api::{Condition, ValidationConfig, find_condition};
use serde_json::json;

use super::*;

const NOW: &str = "2026-12-05T12:00:00Z";

const SERVICE: &str = r#"
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
  namespace: example
  uid: 2f0c9a10-0000-4000-8000-000000000001
  generation: 1
spec:
  template:
    spec:
      containers:
      - image: example.com/hello:v1
"#;

/// Everything knserve writes for the sample Service, as the API server stores it.
struct Fixture {
    service: crd::Service,
    configuration: crd::Configuration,
    revision: crd::Revision,
    deployment: Deployment,
    pa: PodAutoscaler,
}

fn fixture() -> Fixture {
    let validation = ValidationConfig::default();
    let service: crd::Service = serde_yaml_ng::from_str(SERVICE).expect("the sample parses");
    let outcome = serving::service(&service, None, None, &validation, NOW);
    let mut configuration = outcome.children.expect("a valid Service").0;
    configuration.metadata.uid = Some("2f0c9a10-0000-4000-8000-000000000002".into());
    configuration.metadata.generation = Some(1);
    let none = BTreeSet::new();
    let stamped = serving::configuration(&configuration, &[], &none, &|_| false, &validation, NOW);
    let mut revision = stamped
        .new_revision
        .expect("generation 1 stamps a revision");
    revision.metadata.uid = Some("2f0c9a10-0000-4000-8000-000000000003".into());
    revision.metadata.generation = Some(1);
    configuration.status = Some(stamped.status);
    let autoscaler = &validation.autoscaler;
    let deployment = desired_deployment(&revision, None, &DeploymentConfig::default(), autoscaler)
        .expect("the revision builds a Deployment")
        .deployment;
    let pa = desired_pod_autoscaler(&revision, autoscaler).expect("and a PodAutoscaler");
    Fixture {
        service,
        configuration,
        revision,
        deployment,
        pa,
    }
}

/// The Deployment wanting one replica and having none available, with `conditions`.
fn waiting(deployment: &Deployment, conditions: serde_json::Value) -> Deployment {
    let mut deployment = deployment.clone();
    deployment.spec.as_mut().expect("spec").replicas = Some(1);
    deployment.status = Some(
        serde_json::from_value::<DeploymentStatus>(json!({
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "unavailableReplicas": 1,
            "conditions": conditions,
        }))
        .expect("a Deployment status"),
    );
    deployment
}

/// Before the progress deadline: the ReplicaSet is progressing, no pod is available.
fn progressing() -> serde_json::Value {
    json!([
        {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
         "message": "Deployment does not have minimum availability."},
        {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
         "message": "ReplicaSet \"hello-00001-deployment-5c8f7d9b6\" is progressing."},
    ])
}

/// After `progressDeadlineSeconds` without progress.
fn timed_out() -> serde_json::Value {
    json!([
        {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
         "message": "Deployment does not have minimum availability."},
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": "ReplicaSet \"hello-00001-deployment-5c8f7d9b6\" has timed out progressing."},
    ])
}

fn pod(status: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "hello-00001-deployment-5c8f7d9b6-x7k2p", "namespace": "example"},
        "status": status,
    }))
    .expect("a kubelet pod status")
}

/// The queue-proxy as it runs next to a user container that does not come up.
fn queue_proxy() -> serde_json::Value {
    json!({
        "name": "queue-proxy", "image": "ghcr.io/knserve/knserve:latest", "imageID": "",
        "ready": false, "restartCount": 0, "started": true,
        "state": {"running": {"startedAt": "2026-12-05T11:50:02Z"}}, "lastState": {},
    })
}

fn image_pull_back_off() -> Pod {
    pod(json!({
        "phase": "Pending",
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-12-05T11:50:00Z"},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
             "message": "containers with unready status: [user-container queue-proxy]"},
        ],
        "containerStatuses": [
            queue_proxy(),
            {"name": "user-container", "image": "example.com/hello:v1", "imageID": "",
             "ready": false, "restartCount": 0, "started": false,
             "state": {"waiting": {"reason": "ImagePullBackOff",
                "message": "Back-off pulling image \"example.com/hello:v1\": ErrImagePull: failed to pull and unpack image \"example.com/hello:v1\": not found"}},
             "lastState": {}},
        ],
    }))
}

fn crash_loop(exit_code: i32, message: Option<&str>) -> Pod {
    let mut terminated = json!({
        "exitCode": exit_code, "reason": if exit_code == 0 { "Completed" } else { "Error" },
        "startedAt": "2026-12-05T11:51:10Z", "finishedAt": "2026-12-05T11:51:11Z",
        "containerID": "containerd://4b8e0c1d2f",
    });
    if let Some(message) = message {
        terminated["message"] = json!(message);
    }
    pod(json!({
        "phase": "Running",
        "conditions": [{"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [
            queue_proxy(),
            {"name": "user-container", "image": "example.com/hello:v1",
             "imageID": "example.com/hello@sha256:0f3c", "ready": false, "restartCount": 3,
             "started": false,
             "state": {"waiting": {"reason": "CrashLoopBackOff",
                "message": "back-off 40s restarting failed container=user-container pod=hello-00001-deployment-5c8f7d9b6-x7k2p_example(3d1c)"}},
             "lastState": {"terminated": terminated}},
        ],
    }))
}

fn unschedulable() -> Pod {
    pod(json!({
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "lastTransitionTime": "2026-12-05T11:50:00Z",
            "message": "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."}],
    }))
}

fn unavailable(reason: &str, message: &str) -> Option<RevisionHealth> {
    Some(RevisionHealth::Unavailable {
        reason: reason.to_owned(),
        message: message.to_owned(),
    })
}

fn failed(reason: &str, message: &str) -> Option<RevisionHealth> {
    Some(RevisionHealth::Failed {
        reason: reason.to_owned(),
        message: message.to_owned(),
    })
}

fn defaults() -> DeploymentConfig {
    DeploymentConfig::default()
}

#[test]
fn an_image_that_cannot_be_pulled_is_unavailable_once_the_deployment_timed_out() {
    let f = fixture();
    let deployment = waiting(&f.deployment, timed_out());
    assert_eq!(
        pod_failure(&deployment, &image_pull_back_off(), &defaults()),
        unavailable(
            "ImagePullBackOff",
            "Back-off pulling image \"example.com/hello:v1\": ErrImagePull: failed to pull and unpack image \"example.com/hello:v1\": not found"
        ),
        "a waiting container after the progress deadline makes ResourcesAvailable False"
    );
}

#[test]
fn a_waiting_container_before_the_progress_deadline_is_still_deploying() {
    let f = fixture();
    let deployment = waiting(&f.deployment, progressing());
    let pod = image_pull_back_off();
    assert_eq!(pod_failure(&deployment, &pod, &defaults()), None);
    let seen = observe(&f.revision, &deployment, &f.pa, Some(&pod), &defaults());
    assert_eq!(
        seen.health,
        RevisionHealth::Deploying,
        "an image may still be pulled before the deadline"
    );
}

#[test]
fn a_crash_loop_reports_the_exit_code_and_message_before_the_deadline() {
    let f = fixture();
    let deployment = waiting(&f.deployment, progressing());
    let pod = crash_loop(
        1,
        Some("panic: open /etc/hello/config.yaml: no such file or directory\n"),
    );
    assert_eq!(
        pod_failure(&deployment, &pod, &defaults()),
        failed(
            "ExitCode1",
            "Container failed with: panic: open /etc/hello/config.yaml: no such file or directory\n"
        ),
        "lastState.terminated fails ContainerHealthy at once, as Knative does"
    );
}

#[test]
fn a_container_that_exits_zero_without_a_message_exited_with_no_error() {
    let f = fixture();
    let deployment = waiting(&f.deployment, timed_out());
    assert_eq!(
        pod_failure(&deployment, &crash_loop(0, None), &defaults()),
        failed(
            "ExitCode0",
            "Container failed with: container exited with no error"
        ),
        "the exit wins over the waiting CrashLoopBackOff even after the deadline"
    );
    assert_eq!(
        pod_failure(&deployment, &crash_loop(2, None), &defaults()),
        failed("ExitCode2", "Container failed with: "),
        "a failing exit without a message keeps Knative's wording"
    );
}

#[test]
fn an_unschedulable_pod_is_unavailable_without_waiting_for_the_deadline() {
    let f = fixture();
    let deployment = waiting(&f.deployment, progressing());
    assert_eq!(
        pod_failure(&deployment, &unschedulable(), &defaults()),
        unavailable(
            "Unschedulable",
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        )
    );
}

#[test]
fn pod_is_always_schedulable_leaves_an_unscheduled_pod_deploying() {
    let data: HashMap<String, String> =
        [("pod-is-always-schedulable".to_owned(), "true".to_owned())].into();
    let config = DeploymentConfig::from_map(&data).expect("a Go boolean");
    assert!(config.pod_is_always_schedulable);
    assert!(
        !defaults().pod_is_always_schedulable,
        "Knative's default is false"
    );
    let f = fixture();
    let deployment = waiting(&f.deployment, progressing());
    assert_eq!(pod_failure(&deployment, &unschedulable(), &config), None);
    let bad: HashMap<String, String> =
        [("pod-is-always-schedulable".to_owned(), "yes".to_owned())].into();
    let err = DeploymentConfig::from_map(&bad).expect_err("not a Go boolean");
    assert!(
        err.to_string().contains("pod-is-always-schedulable"),
        "{err}"
    );
}

#[test]
fn the_queue_proxys_exits_are_not_read() {
    let f = fixture();
    let deployment = waiting(&f.deployment, progressing());
    let pod = pod(json!({
        "phase": "Running",
        "containerStatuses": [
            {"name": "queue-proxy", "ready": false, "restartCount": 1, "image": "q", "imageID": "",
             "state": {"running": {}},
             "lastState": {"terminated": {"exitCode": 1, "message": "queue-proxy: bad env"}}},
            {"name": "user-container", "ready": false, "restartCount": 0, "image": "u", "imageID": "",
             "state": {"running": {}}, "lastState": {}},
        ],
    }));
    assert_eq!(pod_failure(&deployment, &pod, &defaults()), None);
}

#[test]
fn pods_are_read_only_while_the_deployment_wants_some_and_has_none_available() {
    let f = fixture();
    let mut available = waiting(&f.deployment, timed_out());
    assert!(waits_for_pods(&available));
    available.status.as_mut().unwrap().available_replicas = Some(1);
    assert!(!waits_for_pods(&available));
    assert_eq!(
        pod_failure(&available, &crash_loop(1, Some("boom")), &defaults()),
        None,
        "a Deployment with an available pod is not failing"
    );
    let mut scaled_to_zero = waiting(&f.deployment, progressing());
    scaled_to_zero.spec.as_mut().unwrap().replicas = Some(0);
    assert!(!waits_for_pods(&scaled_to_zero));
}

#[test]
fn a_deployment_that_cannot_create_pods_is_unavailable() {
    let f = fixture();
    let deployment = waiting(
        &f.deployment,
        json!([
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet \"x\" has timed out progressing."},
            {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
             "message": "pods \"x-1\" is forbidden: exceeded quota: compute, requested: cpu=1, used: cpu=2, limited: cpu=2"},
        ]),
    );
    let seen = observe(&f.revision, &deployment, &f.pa, None, &defaults());
    assert_eq!(
        Some(seen.health),
        unavailable(
            "FailedCreate",
            "pods \"x-1\" is forbidden: exceeded quota: compute, requested: cpu=1, used: cpu=2, limited: cpu=2"
        ),
        "ReplicaFailure lands on ResourcesAvailable and wins over Progressing, as in Knative"
    );
}

fn condition_of<'a>(conditions: &'a [Condition], type_: &str) -> &'a Condition {
    find_condition(conditions, type_).unwrap_or_else(|| panic!("{type_} is set"))
}

fn said(c: &Condition) -> (ConditionStatus, Option<&str>) {
    (c.status, c.reason.as_deref())
}

#[test]
fn an_image_pull_failure_marks_resources_unavailable_and_ready_false() {
    let f = fixture();
    let deployment = waiting(&f.deployment, timed_out());
    let pod = image_pull_back_off();
    let seen = observe(&f.revision, &deployment, &f.pa, Some(&pod), &defaults());
    let status = serving::revision_status(&f.revision, &seen, NOW);
    let resources = condition_of(&status.conditions, RESOURCES_AVAILABLE);
    assert_eq!(
        said(resources),
        (ConditionStatus::False, Some("ImagePullBackOff"))
    );
    assert_eq!(
        said(condition_of(&status.conditions, CONTAINER_HEALTHY)),
        (ConditionStatus::Unknown, Some("Deploying"))
    );
    let ready = condition_of(&status.conditions, READY);
    assert_eq!(
        said(ready),
        (ConditionStatus::False, Some("ImagePullBackOff"))
    );
    assert_eq!(ready.message, resources.message);
}

/// What `kubectl get ksvc` shows for a crash-looping first revision: `Ready=False`,
/// and the Revision's message wrapped by the Configuration as Knative's
/// `MarkLatestCreatedFailed` does, in the Service's `ConfigurationsReady`.
#[test]
fn a_crash_loop_reaches_the_configuration_and_the_service() {
    let f = fixture();
    let deployment = waiting(&f.deployment, progressing());
    let pod = crash_loop(1, Some("boom"));
    let seen = observe(&f.revision, &deployment, &f.pa, Some(&pod), &defaults());
    let mut revision = f.revision.clone();
    revision.status = Some(serving::revision_status(&revision, &seen, NOW));
    let conditions = &revision.status.as_ref().unwrap().conditions;
    assert_eq!(
        said(condition_of(conditions, CONTAINER_HEALTHY)),
        (ConditionStatus::False, Some("ExitCode1"))
    );
    assert_eq!(
        said(condition_of(conditions, READY)),
        (ConditionStatus::False, Some("ExitCode1"))
    );

    let validation = ValidationConfig::default();
    let none = BTreeSet::new();
    let owned = [revision];
    let configured = serving::configuration(
        &f.configuration,
        &owned,
        &none,
        &|_| false,
        &validation,
        NOW,
    );
    let ready = condition_of(&configured.status.conditions, READY);
    let expected = "Revision \"hello-00001\" failed with message: Container failed with: boom.";
    assert_eq!(
        said(ready),
        (ConditionStatus::False, Some("RevisionFailed"))
    );
    assert_eq!(ready.message.as_deref(), Some(expected));

    let mut configuration = f.configuration.clone();
    configuration.status = Some(configured.status);
    let service = serving::service(&f.service, Some(&configuration), None, &validation, NOW);
    let c = condition_of(&service.status.conditions, CONFIGURATIONS_READY);
    assert_eq!(
        (said(c), c.message.as_deref()),
        (
            (ConditionStatus::False, Some("RevisionFailed")),
            Some(expected)
        ),
        "the Service's ConfigurationsReady carries the Configuration's failure"
    );
    let ready = condition_of(&service.status.conditions, READY);
    assert_eq!(
        ready.status,
        ConditionStatus::False,
        "kubectl get ksvc: READY False"
    );
}

#[test]
fn an_exit_after_an_image_pull_failure_replaces_the_stale_unavailability() {
    let f = fixture();
    let deployment = waiting(&f.deployment, timed_out());
    let pulled = image_pull_back_off();
    let seen = observe(&f.revision, &deployment, &f.pa, Some(&pulled), &defaults());
    let mut revision = f.revision.clone();
    revision.status = Some(serving::revision_status(&revision, &seen, NOW));
    let crashed = crash_loop(1, Some("boom"));
    let seen = observe(&revision, &deployment, &f.pa, Some(&crashed), &defaults());
    let status = serving::revision_status(&revision, &seen, NOW);
    assert_eq!(
        said(condition_of(&status.conditions, READY)),
        (ConditionStatus::False, Some("ExitCode1")),
        "Ready names the failure seen last, as Knative's condition set does"
    );
}
