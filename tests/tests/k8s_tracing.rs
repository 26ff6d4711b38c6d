//! Traces across the Kubernetes backend's processes: the activator server (as
//! `knserve-k8s activator` runs it, fed the Revision and EndpointSlice its watchers
//! would see) and a real `knserve-queue` process configured by `OBSERVABILITY_CONFIG`
//! as the controller writes it, in front of the test app, both exporting to a real
//! Jaeger on loopback. A request held at zero until the pod appears is one trace: the
//! activator's span (service `knserve-activator`) with its wait, then the
//! queue-proxy's (service `knserve-queue`) with its own, and the app gets the
//! queue-proxy's span as its parent.

mod support;

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::Duration,
};

use k8s_openapi::api::discovery::v1::EndpointSlice;
use knserve_core::{
    config::{ObservabilityConfig, TracingConfig, TracingProtocol},
    trace::Tracing,
};
use knserve_k8s::{
    crd::Revision,
    desired::revision::observability_env,
    servers::activator::{ActivatorEvent, ActivatorOptions, ActivatorServer},
};
use kube::runtime::watcher::Event;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use self::support::{binary, free_address, jaeger::Jaeger, send_with, stop_child};

const CLIENT_SPAN: &str = "b7ad6b7169203331";

fn revision() -> Revision {
    serde_json::from_value(json!({
        "apiVersion": "serving.knative.dev/v1", "kind": "Revision",
        "metadata": { "name": "hello-00001", "namespace": "default" },
        "spec": {
            "containerConcurrency": 1,
            "timeoutSeconds": 30,
            "containers": [{ "image": "example.com/hello" }],
        },
    }))
    .unwrap()
}

fn private_slice(address: SocketAddr) -> EndpointSlice {
    serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {
            "name": "hello-00001-private-abcde", "namespace": "default",
            "labels": { "kubernetes.io/service-name": "hello-00001-private" },
        },
        "addressType": "IPv4",
        "endpoints": [{ "addresses": [address.ip().to_string()], "conditions": { "ready": true } }],
        "ports": [{ "name": "http", "port": address.port(), "protocol": "TCP" }],
    }))
    .unwrap()
}

/// A child process stopped by PID when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        stop_child(&mut self.0);
    }
}

/// `knserve-queue` for revision hello-00001 in front of the app on `user_port`, with
/// `observability` as its `OBSERVABILITY_CONFIG`; its serving address.
fn sidecar(user_port: u16, observability: &str) -> (Process, SocketAddr) {
    let mut child = Command::new(binary("knserve-queue"))
        .env_clear()
        .envs([
            ("SERVING_NAMESPACE", "default"),
            ("SERVING_CONFIGURATION", "hello"),
            ("SERVING_REVISION", "hello-00001"),
            ("SERVING_POD", "hello-00001-deployment-0"),
            ("SERVING_POD_IP", "127.0.0.1"),
            ("QUEUE_SERVING_PORT", "0"),
            ("QUEUE_SERVING_TLS_PORT", "8112"),
            ("CONTAINER_CONCURRENCY", "1"),
            ("REVISION_TIMEOUT_SECONDS", "30"),
            ("KNSERVE_QUEUE_BIND", "127.0.0.1"),
            ("KNSERVE_QUEUE_ADMIN_PORT", "0"),
            ("KNSERVE_QUEUE_METRICS_PORT", "0"),
            ("KNSERVE_QUEUE_USER_METRICS_PORT", "0"),
            ("KNSERVE_QUEUE_DRAIN_QUIET_PERIOD", "100ms"),
            ("OBSERVABILITY_CONFIG", observability),
        ])
        .env("USER_PORT", user_port.to_string())
        .env(
            "SERVING_READINESS_PROBE",
            format!(
                r#"{{"tcpSocket":{{"port":{user_port},"host":"127.0.0.1"}},"successThreshold":1}}"#
            ),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start knserve-queue");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let serving = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix("serving="))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("knserve-queue printed its serving address: {line:?}"));
    (Process(child), serving)
}

fn parent_of(span: &Value) -> Option<&str> {
    span["references"]
        .as_array()?
        .iter()
        .find(|r| r["refType"] == "CHILD_OF")?["spanID"]
        .as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_activator_and_knserve_queue_put_a_held_request_in_one_trace() {
    let jaeger = Jaeger::start().await;
    let tracing_config = TracingConfig {
        protocol: TracingProtocol::HttpProtobuf,
        endpoint: format!("http://{}/v1/traces", jaeger.otlp),
        sampling_rate: 1.0,
    };
    // The activator, as `knserve-k8s activator` starts it with config-observability.
    let tracing = Tracing::start(&tracing_config, "knserve-activator").unwrap();
    let options = ActivatorOptions {
        pod_name: "activator-test".to_owned(),
        stats_url: format!("http://{}/v1/stats", free_address()),
        ..ActivatorOptions::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let activator = ActivatorServer::start_traced(listener, &options, &tracing).unwrap();
    activator.apply(ActivatorEvent::Revision(Event::Apply(revision())));

    // A request with the client's trace context, held: no pod yet.
    let trace = format!("{:032x}", u128::from(std::process::id()) << 64 | 0x5eed);
    let traceparent = format!("00-{trace}-{CLIENT_SPAN}-01");
    let address = activator.address();
    let held = tokio::spawn(async move {
        send_with(
            address,
            "hello.default.example.com",
            "/header/traceparent",
            &[
                ("traceparent", traceparent.as_str()),
                ("knative-serving-revision", "hello-00001"),
                ("knative-serving-namespace", "default"),
            ],
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!held.is_finished(), "with no pod the request waits");

    // The pod: the app and knserve-queue, configured as the controller configures it.
    let app_port = free_address().port();
    let _app = Process(
        Command::new(binary("knserve-test-app"))
            .env("PORT", app_port.to_string())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the test app"),
    );
    let observability = ObservabilityConfig {
        tracing: tracing_config.clone(),
    };
    let env = observability_env(&observability).expect("tracing is on");
    let (_sidecar, serving) = sidecar(app_port, &env);
    activator.apply(ActivatorEvent::EndpointSlice(Event::Apply(private_slice(
        serving,
    ))));

    let (status, _, app_traceparent) = tokio::time::timeout(Duration::from_secs(20), held)
        .await
        .expect("the held request is answered once the pod is ready")
        .unwrap();
    assert_eq!(status, 200, "{app_traceparent}");
    let fields: Vec<&str> = app_traceparent.trim().split('-').collect();
    assert_eq!(fields.len(), 4, "{app_traceparent}");
    assert_eq!(
        fields[1], trace,
        "the app's request is in the client's trace"
    );
    tracing.flush().await;

    let found = jaeger
        .trace(&trace, 4, Duration::from_secs(30))
        .await
        .unwrap_or_else(|| panic!("trace {trace} reaches jaeger:\n{}", jaeger.log()));
    let spans = found["spans"].as_array().unwrap();
    let named = |name: &str| {
        let matching: Vec<&Value> = spans
            .iter()
            .filter(|s| s["operationName"] == name)
            .collect();
        assert_eq!(matching.len(), 1, "one {name} span: {found:#}");
        matching[0]
    };
    let service = |span: &Value| {
        let process = span["processID"].as_str().unwrap();
        found["processes"][process]["serviceName"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let activator_span = named("activator");
    let throttled = named("throttler_try");
    let queue = named("queue-proxy");
    let waited = named("kn.queueproxy.wait");
    assert_eq!(service(activator_span), "knserve-activator");
    assert_eq!(service(queue), "knserve-queue");
    assert_eq!(parent_of(activator_span), Some(CLIENT_SPAN));
    assert_eq!(parent_of(throttled), activator_span["spanID"].as_str());
    assert_eq!(parent_of(queue), activator_span["spanID"].as_str());
    assert_eq!(parent_of(waited), queue["spanID"].as_str());
    assert_eq!(
        Some(fields[2]),
        queue["spanID"].as_str(),
        "the app's parent is the queue-proxy's span"
    );
    let tag = |span: &Value, key: &str| {
        span["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == key)
            .map(|t| t["value"].clone())
    };
    assert_eq!(tag(queue, "kn.revision.name"), Some(json!("hello-00001")));
    assert_eq!(
        tag(queue, "knserve.instance"),
        Some(json!("hello-00001-deployment-0"))
    );
    assert_eq!(
        tag(activator_span, "kn.revision.name"),
        Some(json!("hello-00001"))
    );
    assert_eq!(
        tag(activator_span, "knserve.instance"),
        Some(json!(serving.to_string())),
        "the activator's span names the pod it forwarded to"
    );
    let held_ms = tag(activator_span, "knserve.wait_ms")
        .and_then(|v| v.as_f64())
        .unwrap();
    assert!(
        held_ms >= 300.0,
        "the activator's wait covers the time without a pod: {held_ms} ms"
    );

    activator.shutdown().await;
    tracing.shutdown().await;
}
