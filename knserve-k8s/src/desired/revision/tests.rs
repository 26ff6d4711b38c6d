//! The helloworld-go revision (Knative's classic sample) as the Configuration reconciler
//! stamps it, and what it becomes.

use std::collections::HashMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, EnvVar};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use knserve_core::config::AutoscalerConfig;
use knserve_core::queue::readiness::{ProbeAction, parse_serving_readiness_probe};

use super::*;
use crate::queue::QueueEnv;

/// `helloworld-go` from Knative's samples, stamped as revision 1 with defaults applied.
pub(crate) const HELLOWORLD_REVISION: &str = r#"
apiVersion: serving.knative.dev/v1
kind: Revision
metadata:
  name: helloworld-go-00001
  namespace: example
  uid: 7d4f0a5e-0000-4000-8000-000000000001
  generation: 1
  labels:
    serving.knative.dev/configuration: helloworld-go
    serving.knative.dev/configurationGeneration: "1"
    serving.knative.dev/configurationUID: 7d4f0a5e-0000-4000-8000-0000000000c0
    serving.knative.dev/service: helloworld-go
    serving.knative.dev/serviceUID: 7d4f0a5e-0000-4000-8000-0000000000a0
    serving.knative.dev/routingState: active
  annotations:
    serving.knative.dev/creator: admin
    serving.knative.dev/routingStateModified: "2026-01-01T00:00:00Z"
  ownerReferences:
  - apiVersion: serving.knative.dev/v1
    kind: Configuration
    name: helloworld-go
    uid: 7d4f0a5e-0000-4000-8000-0000000000c0
    controller: true
    blockOwnerDeletion: true
spec:
  containerConcurrency: 0
  timeoutSeconds: 300
  enableServiceLinks: false
  containers:
  - name: user-container
    image: registry.cn-hangzhou.aliyuncs.com/knative-sample/helloworld-go:160e4dc8
    env:
    - name: TARGET
      value: "Go Sample v1"
    readinessProbe:
      tcpSocket:
        port: 0
      successThreshold: 1
"#;

pub(crate) fn helloworld() -> Revision {
    serde_yaml_ng::from_str(HELLOWORLD_REVISION).expect("the sample revision parses")
}

fn build(revision: &Revision) -> Deployment {
    desired_deployment(
        revision,
        None,
        &DeploymentConfig::default(),
        &AutoscalerConfig::default(),
    )
    .expect("the sample revision builds")
    .deployment
}

fn pod_containers(deployment: &Deployment) -> Vec<Container> {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|p| p.containers.clone())
        .expect("a pod spec")
}

fn env_map(container: &Container) -> HashMap<String, String> {
    container
        .env
        .iter()
        .flatten()
        .filter_map(|EnvVar { name, value, .. }| value.clone().map(|v| (name.clone(), v)))
        .collect()
}

#[test]
fn the_deployment_is_named_after_the_revision_and_owned_by_it() {
    let deployment = build(&helloworld());
    let meta = &deployment.metadata;
    assert_eq!(meta.name.as_deref(), Some("helloworld-go-00001-deployment"));
    assert_eq!(meta.namespace.as_deref(), Some("example"));
    let owner = &meta.owner_references.as_ref().expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Revision", "helloworld-go-00001")
    );
    assert_eq!(
        owner.controller,
        Some(true),
        "the revision is the controller"
    );
    assert_eq!(
        owner.block_owner_deletion,
        Some(true),
        "deletion waits for it"
    );
}

#[test]
fn pods_carry_the_revision_labels_but_not_the_routing_state() {
    let deployment = build(&helloworld());
    let spec = deployment.spec.expect("spec");
    let pod_labels = spec
        .template
        .metadata
        .and_then(|m| m.labels)
        .expect("labels");
    assert_eq!(
        pod_labels["serving.knative.dev/revision"],
        "helloworld-go-00001"
    );
    assert_eq!(
        pod_labels["serving.knative.dev/revisionUID"],
        "7d4f0a5e-0000-4000-8000-000000000001"
    );
    assert_eq!(pod_labels["serving.knative.dev/service"], "helloworld-go");
    assert_eq!(pod_labels["app"], "helloworld-go-00001");
    assert!(
        !pod_labels.contains_key("serving.knative.dev/routingState"),
        "a routing-state change must not roll the pods"
    );
    let selector = spec.selector.match_labels.expect("selector");
    assert_eq!(
        selector.len(),
        2,
        "the selector is the revision name and uid"
    );
    assert!(selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));
}

#[test]
fn the_deployment_starts_at_the_initial_scale_and_keeps_the_live_count() {
    let mut revision = helloworld();
    let annotations = revision.metadata.annotations.get_or_insert_default();
    annotations.insert("autoscaling.knative.dev/initial-scale".into(), "3".into());
    let config = (DeploymentConfig::default(), AutoscalerConfig::default());
    let new = desired_deployment(&revision, None, &config.0, &config.1).expect("builds");
    assert_eq!(new.initial_replicas, 3);
    assert_eq!(
        new.deployment.spec.as_ref().and_then(|s| s.replicas),
        Some(3)
    );
    let live = desired_deployment(&revision, Some(7), &config.0, &config.1).expect("builds");
    assert_eq!(
        live.deployment.spec.and_then(|s| s.replicas),
        Some(7),
        "the autoscaler owns replicas once the Deployment exists"
    );
}

#[test]
fn min_scale_above_the_initial_scale_raises_the_start() {
    let mut revision = helloworld();
    let annotations = revision.metadata.annotations.get_or_insert_default();
    annotations.insert("autoscaling.knative.dev/min-scale".into(), "2".into());
    let desired = desired_deployment(
        &revision,
        None,
        &DeploymentConfig::default(),
        &AutoscalerConfig::default(),
    )
    .expect("builds");
    assert_eq!(desired.initial_replicas, 2);
}

#[test]
fn the_progress_deadline_comes_from_the_annotation_else_config_deployment() {
    let deployment = build(&helloworld());
    assert_eq!(
        deployment.spec.and_then(|s| s.progress_deadline_seconds),
        Some(600)
    );
    let mut revision = helloworld();
    let annotations = revision.metadata.annotations.get_or_insert_default();
    annotations.insert("serving.knative.dev/progress-deadline".into(), "90s".into());
    let deployment = build(&revision);
    assert_eq!(
        deployment.spec.and_then(|s| s.progress_deadline_seconds),
        Some(90)
    );
}

#[test]
fn the_user_container_gets_port_env_and_loses_its_readiness_probe() {
    let containers = pod_containers(&build(&helloworld()));
    let user = &containers[0];
    let env = env_map(user);
    assert_eq!(env["TARGET"], "Go Sample v1", "the user's variables stay");
    assert_eq!(env["PORT"], "8080");
    assert_eq!(env["K_REVISION"], "helloworld-go-00001");
    assert_eq!(env["K_CONFIGURATION"], "helloworld-go");
    assert_eq!(env["K_SERVICE"], "helloworld-go");
    let ports = user.ports.as_ref().expect("ports");
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].container_port, 8080);
    assert!(user.readiness_probe.is_none(), "the sidecar runs the probe");
    let pre_stop = user.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref());
    let hook = pre_stop.and_then(|h| h.http_get.as_ref()).expect("preStop");
    assert_eq!(
        hook.port,
        IntOrString::Int(8022),
        "preStop waits for the drain"
    );
}

#[test]
fn the_grace_period_is_the_revision_timeout() {
    let deployment = build(&helloworld());
    let pod = deployment.spec.and_then(|s| s.template.spec).expect("pod");
    assert_eq!(pod.termination_grace_period_seconds, Some(300));
}

#[test]
fn the_sidecar_environment_satisfies_the_queue_env_contract() {
    let containers = pod_containers(&build(&helloworld()));
    let queue = containers
        .iter()
        .find(|c| c.name == "queue-proxy")
        .expect("a queue-proxy container");
    let mut env = env_map(queue);
    let downward: Vec<&str> = queue
        .env
        .iter()
        .flatten()
        .filter(|v| v.value_from.is_some())
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(
        downward,
        ["SERVING_POD", "SERVING_POD_IP"],
        "from the downward API"
    );
    env.insert(
        "SERVING_POD".into(),
        "helloworld-go-00001-deployment-abc".into(),
    );
    env.insert("SERVING_POD_IP".into(), "10.0.0.7".into());
    let parsed = QueueEnv::from_lookup(&env).expect("QueueEnv reads the sidecar's env");
    assert_eq!(parsed.namespace, "example");
    assert_eq!(parsed.revision, "helloworld-go-00001");
    assert_eq!(parsed.configuration, "helloworld-go");
    assert_eq!(parsed.service.as_deref(), Some("helloworld-go"));
    assert_eq!((parsed.serving_port, parsed.user_port), (8012, 8080));
    assert_eq!(parsed.container_concurrency, 0);
    assert_eq!(parsed.timeout.as_secs(), 300);
    let probe = parsed
        .readiness_probe
        .expect("the user probe travels to the sidecar");
    let specs = parse_serving_readiness_probe(&probe, parsed.user_port).expect("parses");
    assert!(
        matches!(specs[0].action, ProbeAction::Tcp { address } if address.port() == 8080),
        "a TCP probe of the user port on loopback: {specs:?}"
    );
    assert!(
        specs[0].is_aggressive(),
        "no period means aggressive probing"
    );
}

#[test]
fn config_observability_tracing_reaches_the_sidecar_as_knative_passes_it() {
    use knserve_core::config::{ObservabilityConfig, TracingProtocol};

    let queue_env_of = |config: &DeploymentConfig| {
        let deployment =
            desired_deployment(&helloworld(), None, config, &AutoscalerConfig::default())
                .expect("builds")
                .deployment;
        let containers = pod_containers(&deployment);
        let queue = containers.iter().find(|c| c.name == "queue-proxy").unwrap();
        let mut env = env_map(queue);
        env.insert("SERVING_POD".into(), "pod".into());
        env.insert("SERVING_POD_IP".into(), "10.0.0.7".into());
        env
    };
    // Off (the default): no variable, the same pods as before.
    let off = queue_env_of(&DeploymentConfig::default());
    assert!(!off.contains_key("OBSERVABILITY_CONFIG"));
    assert!(!QueueEnv::from_lookup(&off).unwrap().tracing.enabled());

    let observability = ObservabilityConfig::from_map(&HashMap::from([
        ("tracing-protocol".to_owned(), "http/protobuf".to_owned()),
        (
            "tracing-endpoint".to_owned(),
            "http://otel-collector.observability:4318/v1/traces".to_owned(),
        ),
        ("tracing-sampling-rate".to_owned(), "0.25".to_owned()),
    ]))
    .unwrap();
    let config = DeploymentConfig {
        observability_env: observability_env(&observability),
        ..DeploymentConfig::default()
    };
    let on = queue_env_of(&config);
    let json: serde_json::Value = serde_json::from_str(&on["OBSERVABILITY_CONFIG"]).unwrap();
    assert_eq!(json["tracing"]["protocol"], "http/protobuf");
    assert_eq!(json["tracing"]["samplingRate"], 0.25);
    let read = QueueEnv::from_lookup(&on)
        .expect("knserve-queue reads it")
        .tracing;
    assert_eq!(read, observability.tracing);
    assert_eq!(read.protocol, TracingProtocol::HttpProtobuf);
}

#[test]
fn the_sidecar_probes_itself_with_the_queue_header() {
    let containers = pod_containers(&build(&helloworld()));
    let queue = containers
        .iter()
        .find(|c| c.name == "queue-proxy")
        .expect("sidecar");
    assert_eq!(queue.image.as_deref(), Some(DEFAULT_QUEUE_IMAGE));
    assert_eq!(queue.args.as_deref(), Some(&["queue".to_owned()][..]));
    let probe = queue.readiness_probe.as_ref().expect("a readiness probe");
    let http = probe.http_get.as_ref().expect("an HTTP probe");
    assert_eq!(http.port, IntOrString::Int(8012));
    let header = &http.http_headers.as_ref().expect("headers")[0];
    assert_eq!(
        (header.name.as_str(), header.value.as_str()),
        ("K-Network-Probe", "queue")
    );
    assert_eq!(
        probe.period_seconds,
        Some(1),
        "aggressive: kubelet asks every second"
    );
    let ports: Vec<i32> = queue
        .ports
        .iter()
        .flatten()
        .map(|p| p.container_port)
        .collect();
    assert_eq!(ports, [8012, 9090, 8022]);
    let requests = queue.resources.as_ref().and_then(|r| r.requests.as_ref());
    assert_eq!(requests.map(|r| r["cpu"].0.as_str()), Some("25m"));
}

#[test]
fn an_http_probe_with_a_period_keeps_its_path_and_timing() {
    let mut revision = helloworld();
    revision.spec.containers[0].readiness_probe = Some(
        serde_json::from_value(serde_json::json!({
            "httpGet": {"path": "/healthz", "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
            "periodSeconds": 5,
            "failureThreshold": 4
        }))
        .expect("a probe"),
    );
    let probe = sidecar_readiness_probe(&revision.spec);
    let http = probe.http_get.as_ref().expect("still HTTP");
    assert_eq!(http.host.as_deref(), Some("127.0.0.1"));
    assert_eq!(http.port.as_ref().and_then(|p| p.as_int()), Some(8080));
    assert_eq!(
        probe.timeout_seconds,
        Some(1),
        "a period needs a timeout of at least 1s"
    );
    let containers = pod_containers(&build(&revision));
    let queue = containers
        .iter()
        .find(|c| c.name == "queue-proxy")
        .expect("sidecar");
    let kubelet = queue.readiness_probe.as_ref().expect("probe");
    assert_eq!(
        (kubelet.period_seconds, kubelet.failure_threshold),
        (Some(5), Some(4))
    );
    let json = env_map(queue)["SERVING_READINESS_PROBE"].clone();
    let specs = parse_serving_readiness_probe(&json, 8080).expect("parses");
    assert!(
        matches!(&specs[0].action, ProbeAction::Http { path, headers, .. }
            if path == "/healthz" && headers.len() == 1),
        "path and headers reach the sidecar: {specs:?}"
    );
}

#[test]
fn an_exec_readiness_probe_stays_with_kubelet_and_the_sidecar_checks_tcp() {
    let mut revision = helloworld();
    revision.spec.containers[0].readiness_probe = Some(
        serde_json::from_value(serde_json::json!({"exec": {"command": ["true"]}}))
            .expect("a probe"),
    );
    let containers = pod_containers(&build(&revision));
    assert!(
        containers[0]
            .readiness_probe
            .as_ref()
            .is_some_and(|p| p.exec.is_some())
    );
    let probe = sidecar_readiness_probe(&revision.spec);
    assert!(probe.exec.is_none() && probe.tcp_socket.is_some());
}

#[test]
fn liveness_probes_are_aimed_at_the_user_port() {
    let mut revision = helloworld();
    revision.spec.containers[0].ports =
        vec![serde_json::from_value(serde_json::json!({"containerPort": 9000})).expect("a port")];
    revision.spec.containers[0].liveness_probe = Some(
        serde_json::from_value(serde_json::json!({"httpGet": {"path": "/live"}})).expect("a probe"),
    );
    let containers = pod_containers(&build(&revision));
    let live = containers[0]
        .liveness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref());
    assert_eq!(live.map(|h| h.port.clone()), Some(IntOrString::Int(9000)));
    assert_eq!(env_map(&containers[0])["PORT"], "9000");
}

#[test]
fn an_h2c_revision_serves_on_8013() {
    let mut revision = helloworld();
    revision.spec.containers[0].ports = vec![
        serde_json::from_value(serde_json::json!({"name": "h2c", "containerPort": 8080}))
            .expect("a port"),
    ];
    let containers = pod_containers(&build(&revision));
    let queue = containers
        .iter()
        .find(|c| c.name == "queue-proxy")
        .expect("sidecar");
    assert_eq!(env_map(queue)["QUEUE_SERVING_PORT"], "8013");
    let pa = desired_pod_autoscaler(&revision, &AutoscalerConfig::default()).expect("PA");
    assert_eq!(pa.spec.protocol_type, "h2c");
}

#[test]
fn a_revision_without_containers_is_an_error_naming_the_field() {
    let mut revision = helloworld();
    revision.spec.containers.clear();
    let err = desired_deployment(
        &revision,
        None,
        &DeploymentConfig::default(),
        &AutoscalerConfig::default(),
    )
    .expect_err("no containers");
    assert!(
        matches!(&err, RevisionError::Invalid(e) if e.field == "spec.containers"),
        "names spec.containers: {err}"
    );
}

#[test]
fn a_revision_without_uid_or_with_bad_annotations_is_an_error() {
    let mut revision = helloworld();
    revision.metadata.uid = None;
    let err = build_err(&revision);
    assert!(
        matches!(&err, RevisionError::Invalid(e) if e.field == "metadata.uid"),
        "{err}"
    );
    let mut revision = helloworld();
    let annotations = revision.metadata.annotations.get_or_insert_default();
    annotations.insert("autoscaling.knative.dev/min-scale".into(), "lots".into());
    let err = build_err(&revision);
    assert!(
        err.to_string()
            .contains("autoscaling.knative.dev/min-scale"),
        "{err}"
    );
    let mut revision = helloworld();
    revision.spec.container_concurrency = Some(-1);
    assert!(
        build_err(&revision)
            .to_string()
            .contains("containerConcurrency")
    );
}

fn build_err(revision: &Revision) -> RevisionError {
    desired_deployment(
        revision,
        None,
        &DeploymentConfig::default(),
        &AutoscalerConfig::default(),
    )
    .expect_err("invalid revision")
}

#[test]
fn the_pod_autoscaler_defaults_class_and_metric_and_targets_the_deployment() {
    let pa = desired_pod_autoscaler(&helloworld(), &AutoscalerConfig::default()).expect("PA");
    assert_eq!(pa.metadata.name.as_deref(), Some("helloworld-go-00001"));
    let annotations = pa.metadata.annotations.as_ref().expect("annotations");
    assert_eq!(
        annotations["autoscaling.knative.dev/class"],
        "kpa.autoscaling.knative.dev"
    );
    assert_eq!(annotations["autoscaling.knative.dev/metric"], "concurrency");
    assert!(!annotations.contains_key("serving.knative.dev/routingStateModified"));
    assert_eq!(
        pa.spec.scale_target_ref.name.as_deref(),
        Some("helloworld-go-00001-deployment")
    );
    assert_eq!(pa.spec.scale_target_ref.kind.as_deref(), Some("Deployment"));
    assert_eq!(pa.spec.protocol_type, "http1");
    assert_eq!(pa.spec.reachability, "Reachable", "routingState active");
    let owner = &pa.metadata.owner_references.as_ref().expect("owner")[0];
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );
}

#[test]
fn reachability_follows_the_routing_state() {
    for (state, want) in [
        (Some("active"), "Reachable"),
        (Some("reserve"), "Unreachable"),
        (Some("pending"), ""),
        (None, ""),
    ] {
        let mut revision = helloworld();
        let labels = revision.metadata.labels.get_or_insert_default();
        labels.remove("serving.knative.dev/routingState");
        if let Some(state) = state {
            labels.insert("serving.knative.dev/routingState".into(), state.into());
        }
        assert_eq!(reachability(&revision), want, "routingState {state:?}");
    }
}

#[test]
fn an_hpa_class_revision_defaults_the_metric_to_cpu() {
    let mut revision = helloworld();
    let annotations = revision.metadata.annotations.get_or_insert_default();
    annotations.insert(
        "autoscaling.knative.dev/class".into(),
        "hpa.autoscaling.knative.dev".into(),
    );
    let pa = desired_pod_autoscaler(&revision, &AutoscalerConfig::default()).expect("PA");
    let annotations = pa.metadata.annotations.expect("annotations");
    assert_eq!(annotations["autoscaling.knative.dev/metric"], "cpu");
}

#[test]
fn config_deployment_reads_image_deadline_and_sidecar_resources() {
    let data: HashMap<String, String> = [
        ("queue-sidecar-image", "example.com/queue:1"),
        ("progress-deadline", "2m"),
        ("queue-sidecar-memory-limit", "200Mi"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = DeploymentConfig::from_map(&data).expect("valid");
    assert_eq!(config.queue_sidecar_image, "example.com/queue:1");
    assert_eq!(config.progress_deadline.as_secs(), 120);
    assert_eq!(config.queue_sidecar_cpu_request.as_deref(), Some("25m"));
    assert_eq!(config.queue_sidecar_memory_limit.as_deref(), Some("200Mi"));
    let bad: HashMap<String, String> = [("progress-deadline".to_owned(), "1.5s".to_owned())].into();
    let err = DeploymentConfig::from_map(&bad).expect_err("fractional seconds");
    assert!(err.to_string().contains("progress-deadline"), "{err}");
}
