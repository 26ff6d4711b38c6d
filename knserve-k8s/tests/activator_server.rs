//! The Kubernetes activator over loopback sockets: Revision and EndpointSlice objects
//! are applied to its state exactly as its watchers would, a real `knserve-queue`
//! process with a real app stands in for a pod, and a real HTTP listener stands in for
//! the autoscaler's stats endpoint.

mod support;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use knserve_core::net::{self, Body, BoxError};
use knserve_k8s::{
    crd::Revision,
    servers::{
        activator::{ActivatorEvent, ActivatorOptions, ActivatorServer},
        wire::StatMessage,
    },
};
use kube::runtime::watcher::Event;
use serde_json::json;
use tokio::net::TcpListener;

use self::support::{app, knative_env, send, start, text};

const REVISION_HEADERS: [(&str, &str); 3] = [
    ("host", "hello.default.example.com"),
    ("knative-serving-revision", "hello-00001"),
    ("knative-serving-namespace", "default"),
];

fn revision(container_concurrency: i64) -> Revision {
    serde_json::from_value(json!({
        "apiVersion": "serving.knative.dev/v1", "kind": "Revision",
        "metadata": { "name": "hello-00001", "namespace": "default" },
        "spec": {
            "containerConcurrency": container_concurrency,
            "timeoutSeconds": 30,
            "containers": [{ "image": "example.com/hello" }],
        },
    }))
    .unwrap()
}

/// The private Service's slice with the pod at `address` (port `http`).
fn private_slice(address: SocketAddr) -> EndpointSlice {
    serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {
            "name": "hello-00001-private-abcde", "namespace": "default",
            "labels": { "kubernetes.io/service-name": "hello-00001-private" },
        },
        "addressType": "IPv4",
        "endpoints": [{ "addresses": [address.ip().to_string()], "conditions": { "ready": true } }],
        "ports": [
            { "name": "http-autometric", "port": 9090, "protocol": "TCP" },
            { "name": "http", "port": address.port(), "protocol": "TCP" },
        ],
    }))
    .unwrap()
}

/// A real HTTP listener recording every body POSTed to it.
struct Autoscaler {
    address: SocketAddr,
    bodies: Arc<Mutex<Vec<(String, String)>>>,
    _server: net::ServeHandle,
}

async fn autoscaler() -> Autoscaler {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let recorded = bodies.clone();
    let service = tower::service_fn(move |request: Request<Body>| {
        let recorded = recorded.clone();
        async move {
            let path = request.uri().path().to_owned();
            let body = request.into_body().collect().await?.to_bytes();
            recorded
                .lock()
                .unwrap()
                .push((path, String::from_utf8_lossy(&body).into_owned()));
            Ok::<_, BoxError>(Response::new(net::empty()))
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = net::serve(listener, service).unwrap();
    Autoscaler {
        address: server.local_addr(),
        bodies,
        _server: server,
    }
}

async fn activator(stats_to: SocketAddr) -> ActivatorServer {
    let options = ActivatorOptions {
        pod_name: "activator-test".to_owned(),
        stats_url: format!("http://{stats_to}/v1/stats"),
        ..ActivatorOptions::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    ActivatorServer::start(listener, &options).unwrap()
}

async fn first_post(autoscaler: &Autoscaler) -> (String, Vec<StatMessage>) {
    for _ in 0..50 {
        if let Some((path, body)) = autoscaler.bodies.lock().unwrap().first().cloned() {
            let stats = serde_json::from_str(&body).expect("the body is a JSON array of stats");
            return (path, stats);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the first request to a revision without backends pokes the autoscaler at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_held_at_zero_pokes_the_autoscaler_and_is_answered_once_a_pod_appears() {
    let autoscaler = autoscaler().await;
    let activator = activator(autoscaler.address).await;
    activator.apply(ActivatorEvent::Revision(Event::Apply(revision(1))));

    let held = tokio::spawn(send(activator.address(), "/", &REVISION_HEADERS));
    let (path, stats) = first_post(&autoscaler).await;
    assert_eq!(path, "/v1/stats", "stats go to the autoscaler's stats path");
    let poke = &stats[0];
    assert_eq!(
        (
            poke.namespace.as_str(),
            poke.revision.as_str(),
            poke.pod_name.as_str()
        ),
        ("default", "hello-00001", "activator-test"),
        "the poke names the revision and the activator pod"
    );
    assert_eq!(
        poke.average_concurrent_requests, 1.0,
        "the poke reports one request"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !held.is_finished(),
        "with no pod the request waits in the throttler"
    );

    let app = app().await;
    let sidecar = start(knative_env(app.address.port(), 1));
    activator.apply(ActivatorEvent::EndpointSlice(Event::Apply(private_slice(
        sidecar.serving,
    ))));
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .expect("the held request is released once the pod passes its probe")
        .unwrap();
    let body = text(&body);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("k-proxy-request: activator\n"),
        "the request came through the activator: {body}"
    );
    assert!(
        !body.contains("knative-serving-revision"),
        "the revision headers are removed before the pod: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_probes_and_requests_naming_no_revision_are_answered_by_the_activator() {
    let autoscaler = autoscaler().await;
    let activator = activator(autoscaler.address).await;

    let (status, _) = send(activator.address(), "/healthz", &[]).await;
    assert_eq!(status, StatusCode::OK, "/healthz is 200 while serving");

    let (status, body) = send(
        activator.address(),
        "/",
        &[
            ("host", "hello.example.com"),
            ("knative-serving-namespace", "default"),
        ],
    )
    .await;
    let body = text(&body);
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body.contains("Knative-Serving-Revision") && !body.contains("Knative-Serving-Namespace"),
        "the 404 names the missing header: {body}"
    );

    let (status, body) = send(activator.address(), "/", &REVISION_HEADERS).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a revision not seen by the watchers is 404: {}",
        text(&body)
    );

    let (status, _) = send(
        activator.address(),
        "/",
        &[("k-network-probe", "probe"), ("k-network-hash", "h1")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "the network probe is answered");

    activator.drain();
    let (status, _) = send(activator.address(), "/healthz", &[]).await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "/healthz fails once draining"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_revision_is_forgotten() {
    let autoscaler = autoscaler().await;
    let activator = activator(autoscaler.address).await;
    activator.apply(ActivatorEvent::Revision(Event::Apply(revision(0))));
    assert!(
        activator
            .registry()
            .load(&knserve_core::RevisionKey::new("default", "hello-00001"))
            .is_some(),
        "a seen revision has a throttler"
    );
    activator.apply(ActivatorEvent::Revision(Event::Delete(revision(0))));
    let (status, _) = send(activator.address(), "/", &REVISION_HEADERS).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a deleted revision is 404");
    assert!(
        activator
            .registry()
            .load(&knserve_core::RevisionKey::new("default", "hello-00001"))
            .is_none(),
        "a deleted revision's throttler is removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminating_activator_fails_healthz_and_still_finishes_a_request_in_flight() {
    let autoscaler = autoscaler().await;
    let activator = activator(autoscaler.address).await;
    let app = app().await;
    let sidecar = start(knative_env(app.address.port(), 1));
    activator.apply(ActivatorEvent::Revision(Event::Apply(revision(1))));
    activator.apply(ActivatorEvent::EndpointSlice(Event::Apply(private_slice(
        sidecar.serving,
    ))));
    let (status, _) = send(activator.address(), "/", &REVISION_HEADERS).await;
    assert_eq!(status, StatusCode::OK, "the pod serves before the drain");

    let address = activator.address();
    let in_flight = tokio::spawn(send(address, "/slow", &REVISION_HEADERS));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let terminating = tokio::spawn(activator.terminate(Duration::from_millis(200)));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, _) = send(address, "/healthz", &[]).await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "/healthz fails as soon as the drain starts (§3.1)"
    );

    let (status, body) = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the request in flight is answered")
        .unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "a request in flight finishes during the drain: {}",
        text(&body)
    );
    tokio::time::timeout(Duration::from_secs(5), terminating)
        .await
        .expect("terminate returns once the drain period is over and requests are done")
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "a terminated activator accepts no connection"
    );
}
