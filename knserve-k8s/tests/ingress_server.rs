//! The Kubernetes ingress over loopback sockets: KIngress, EndpointSlice and Service
//! objects are applied to its state exactly as its watchers would, and real HTTP
//! requests go through it to real HTTP apps standing in for revisions' pods.

mod support;

use std::net::SocketAddr;

use http::StatusCode;
use k8s_openapi::api::{core::v1::Service, discovery::v1::EndpointSlice};
use knserve_k8s::{
    crd::Ingress,
    desired::ingress::{IngressSettings, desired_ingress},
    servers::ingress::{IngressEvent, IngressOptions, IngressServer, ingress_hash},
};
use kube::runtime::watcher::Event;
use serde_json::json;
use tokio::net::TcpListener;

use self::support::{app, send, text};

const HOST: &str = "hello.default.example.com";

/// A KIngress of knserve's class: `HOST` (external) and `hello.default` (cluster-local)
/// split between the revisions' public Services by `splits` (revision, percent).
fn ingress(splits: &[(&str, i32)]) -> Ingress {
    let splits: Vec<_> = splits
        .iter()
        .map(|(revision, percent)| {
            json!({
                "serviceNamespace": "default",
                "serviceName": revision,
                "servicePort": 80,
                "percent": percent,
                "appendHeaders": {
                    "Knative-Serving-Revision": revision,
                    "Knative-Serving-Namespace": "default",
                },
            })
        })
        .collect();
    let http =
        json!({ "paths": [{ "splits": splits, "appendHeaders": { "X-Path-Header": "on" } }] });
    serde_json::from_value(json!({
        "apiVersion": "networking.internal.knative.dev/v1alpha1",
        "kind": "Ingress",
        "metadata": {
            "name": "hello", "namespace": "default", "generation": 1,
            "annotations": { "networking.knative.dev/ingress.class": "knserve.ingress.networking.knative.dev" },
        },
        "spec": { "rules": [
            { "hosts": [HOST], "visibility": "ExternalIP", "http": http },
            { "hosts": ["hello.default", "hello.default.svc.cluster.local"], "visibility": "ClusterLocal", "http": http },
        ]},
    }))
    .unwrap()
}

/// The public Service `<revision>`: port `http` 80.
fn service(revision: &str) -> Service {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": revision, "namespace": "default" },
        "spec": { "ports": [{ "name": "http", "port": 80, "targetPort": 8012 }] },
    }))
    .unwrap()
}

/// The public Service's slice: `address` ready on port `http`.
fn slice(revision: &str, address: SocketAddr, ready: bool) -> EndpointSlice {
    serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {
            "name": revision, "namespace": "default",
            "labels": { "kubernetes.io/service-name": revision },
        },
        "addressType": "IPv4",
        "endpoints": [{ "addresses": [address.ip().to_string()], "conditions": { "ready": ready } }],
        "ports": [{ "name": "http", "port": address.port(), "protocol": "TCP" }],
    }))
    .unwrap()
}

async fn ingress_server() -> IngressServer {
    let external = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let internal = TcpListener::bind("127.0.0.1:0").await.unwrap();
    IngressServer::start(external, internal, &IngressOptions::default()).unwrap()
}

/// GET `/` from `address` with `headers`; asserts a 200 and returns the body.
async fn ok(address: SocketAddr, headers: &[(&str, &str)]) -> String {
    let (status, body) = send(address, "/", headers).await;
    let body = text(&body);
    assert_eq!(status, StatusCode::OK, "{headers:?}: {body}");
    body
}

/// Each revision's public Service and a slice with its app ready.
fn serve_revisions<'a>(
    server: &IngressServer,
    revisions: impl IntoIterator<Item = (&'a str, &'a self::support::App)>,
) {
    for (revision, app) in revisions {
        server.apply(IngressEvent::Service(Event::Apply(service(revision))));
        server.apply(IngressEvent::EndpointSlice(Event::Apply(slice(
            revision,
            app.address,
            true,
        ))));
    }
}

fn revision_of(body: &str) -> &str {
    body.lines()
        .find_map(|l| l.strip_prefix("knative-serving-revision: "))
        .unwrap_or("none")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_host_splits_by_percent_and_appends_headers() {
    let (one, two) = (app().await, app().await);
    let server = ingress_server().await;
    serve_revisions(&server, [("hello-00001", &one), ("hello-00002", &two)]);
    let writes = server.apply(IngressEvent::Ingress(Event::Apply(ingress(&[
        ("hello-00001", 80),
        ("hello-00002", 20),
    ]))));
    assert_eq!(
        writes.len(),
        1,
        "a programmed KIngress gets one status write"
    );
    let ready = writes[0]
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready");
    assert!(
        ready.is_some_and(|c| c.is_true()),
        "the status says Ready: {writes:?}"
    );

    let (status, body) = send(
        server.address(),
        "/",
        &[("host", "hello.default.svc.cluster.local:80")],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a cluster-local host is not served on the external listener: {}",
        text(&body)
    );
    let (status, body) = send(
        server.internal_address(),
        "/",
        &[("host", "hello.default.svc.cluster.local:80")],
    )
    .await;
    let body = text(&body);
    assert_eq!(
        status,
        StatusCode::OK,
        "a cluster-local host with a port routes on the internal listener: {body}"
    );
    assert!(
        body.contains("x-path-header: on\n"),
        "the path's appendHeaders arrive: {body}"
    );
    assert!(
        body.contains("knative-serving-namespace: default\n"),
        "the split's appendHeaders arrive: {body}"
    );
    assert!(
        body.contains("host: hello.default.svc.cluster.local:80\n"),
        "the Host is passed through: {body}"
    );

    let total = 400;
    let mut first = 0;
    for _ in 0..total {
        let (status, body) = send(server.address(), "/", &[("host", HOST)]).await;
        assert_eq!(status, StatusCode::OK);
        match revision_of(&text(&body)) {
            "hello-00001" => first += 1,
            "hello-00002" => {}
            other => panic!("every request names its split's revision, got {other}"),
        }
    }
    let share = f64::from(first) / f64::from(total);
    assert!(
        (share - 0.8).abs() < 0.07,
        "an 80/20 split sends 80 % ± 7 % to the first: {share}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_host_is_404_and_a_split_without_ready_endpoints_is_503_naming_the_revision() {
    let one = app().await;
    let server = ingress_server().await;
    server.apply(IngressEvent::Service(Event::Apply(service("hello-00001"))));
    server.apply(IngressEvent::EndpointSlice(Event::Apply(slice(
        "hello-00001",
        one.address,
        false,
    ))));
    server.apply(IngressEvent::Ingress(Event::Apply(ingress(&[(
        "hello-00001",
        100,
    )]))));

    let (status, body) = send(server.address(), "/", &[("host", "nope.example.com")]).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an unknown host is 404: {}",
        text(&body)
    );

    let (status, body) = send(server.address(), "/", &[("host", HOST)]).await;
    let body = text(&body);
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "no ready endpoint is 503: {body}"
    );
    assert!(
        body.contains("default/hello-00001"),
        "the 503 names the revision: {body}"
    );

    server.apply(IngressEvent::EndpointSlice(Event::Apply(slice(
        "hello-00001",
        one.address,
        true,
    ))));
    let (status, _) = send(server.address(), "/", &[("host", HOST)]).await;
    assert_eq!(status, StatusCode::OK, "a ready endpoint is used at once");

    server.apply(IngressEvent::Ingress(Event::Delete(ingress(&[]))));
    let (status, _) = send(server.address(), "/", &[("host", HOST)]).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a deleted KIngress no longer routes"
    );
}

/// Knative networking's headers/probe: a hash probe is routed to the backend (whose
/// hop echoes the hash); `K-Network-Hash: override` becomes the KIngress's hash as
/// Knative's `ComputeHash` gives it, any other hash is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_probe_reaches_the_backend_with_the_kingress_hash_for_override() {
    let one = app().await;
    let server = ingress_server().await;
    server.apply(IngressEvent::Service(Event::Apply(service("hello-00001"))));
    server.apply(IngressEvent::EndpointSlice(Event::Apply(slice(
        "hello-00001",
        one.address,
        true,
    ))));
    let object = ingress(&[("hello-00001", 100)]);
    server.apply(IngressEvent::Ingress(Event::Apply(object.clone())));
    let hash = ingress_hash(&object);
    for (sent, seen) in [("override", hash.as_str()), ("abc123", "abc123")] {
        let body = ok(
            server.address(),
            &[
                ("host", HOST),
                ("k-network-probe", "probe"),
                ("k-network-hash", sent),
            ],
        )
        .await;
        assert!(
            body.contains(&format!("k-network-hash: {seen}\n"))
                && body.contains("k-network-probe: probe\n"),
            "a probe with hash {sent} reaches the backend carrying {seen}: {body}"
        );
    }
    let body = ok(
        server.address(),
        &[("host", HOST), ("k-network-hash", "override")],
    )
    .await;
    assert!(
        !body.contains("k-network-hash"),
        "a request that is not a probe has a client's K-Network-Hash removed: {body}"
    );
    let (status, _) = send(
        server.address(),
        "/",
        &[("host", HOST), ("k-network-probe", "probe")],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a hash probe without a hash is 400"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kingress_of_another_class_is_not_programmed() {
    let one = app().await;
    let server = ingress_server().await;
    server.apply(IngressEvent::EndpointSlice(Event::Apply(slice(
        "hello-00001",
        one.address,
        true,
    ))));
    let mut other = ingress(&[("hello-00001", 100)]);
    other.metadata.annotations = Some(
        [(
            "networking.knative.dev/ingress.class".to_owned(),
            "istio.ingress.networking.knative.dev".to_owned(),
        )]
        .into(),
    );
    let writes = server.apply(IngressEvent::Ingress(Event::Apply(other)));
    assert!(
        writes.is_empty(),
        "another class's KIngress gets no status from us"
    );
    let (status, _) = send(server.address(), "/", &[("host", HOST)]).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another class's hosts are not served"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_shutdown_the_ingress_finishes_a_request_in_flight_then_refuses_connections() {
    let one = app().await;
    let server = ingress_server().await;
    server.apply(IngressEvent::Service(Event::Apply(service("hello-00001"))));
    server.apply(IngressEvent::EndpointSlice(Event::Apply(slice(
        "hello-00001",
        one.address,
        true,
    ))));
    server.apply(IngressEvent::Ingress(Event::Apply(ingress(&[(
        "hello-00001",
        100,
    )]))));
    let address = server.address();
    let sent = tokio::time::Instant::now();
    let in_flight = tokio::spawn(send(address, "/slow", &[("host", HOST)]));
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    assert!(!in_flight.is_finished(), "/slow takes 400 ms");

    server.shutdown().await;
    // The server has written the answer when shutdown returns; the client task, on the
    // other worker, may still be reading it, so the bound is on time, not on the task.
    assert!(
        sent.elapsed() >= std::time::Duration::from_millis(400),
        "shutdown returns only once the request in flight is answered (after {:?})",
        sent.elapsed()
    );
    let (status, body) = tokio::time::timeout(std::time::Duration::from_secs(5), in_flight)
        .await
        .expect("the client gets its answer")
        .unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "the request in flight is answered: {}",
        text(&body)
    );
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "a stopped ingress accepts no connection"
    );
}

/// Knative networking's basics/http2: a backend Service port named `h2c` (or with
/// `appProtocol: kubernetes.io/h2c`) is reached over cleartext HTTP/2 though the client
/// spoke HTTP/1.1; an `http` port stays HTTP/1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_port_named_h2c_is_reached_over_http2() {
    let (h2c, http1) = (app().await, app().await);
    let server = ingress_server().await;
    let h2c_service: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": "hello-00001", "namespace": "default" },
        "spec": { "ports": [{ "name": "h2c", "port": 80, "targetPort": 8013 }] },
    }))
    .unwrap();
    server.apply(IngressEvent::Service(Event::Apply(h2c_service)));
    let mut h2c_slice = slice("hello-00001", h2c.address, true);
    h2c_slice.ports.as_mut().unwrap()[0].name = Some("h2c".to_owned());
    server.apply(IngressEvent::EndpointSlice(Event::Apply(h2c_slice)));
    server.apply(IngressEvent::Service(Event::Apply(service("hello-00002"))));
    server.apply(IngressEvent::EndpointSlice(Event::Apply(slice(
        "hello-00002",
        http1.address,
        true,
    ))));

    server.apply(IngressEvent::Ingress(Event::Apply(ingress(&[(
        "hello-00001",
        100,
    )]))));
    let (status, body) = send(server.address(), "/", &[("host", HOST)]).await;
    let body = text(&body);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.starts_with("version: HTTP/2.0\n"),
        "the h2c backend was reached over HTTP/2: {body}"
    );

    server.apply(IngressEvent::Ingress(Event::Apply(ingress(&[(
        "hello-00002",
        100,
    )]))));
    let (status, body) = send(server.address(), "/", &[("host", HOST)]).await;
    let body = text(&body);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.starts_with("version: HTTP/1.1\n"),
        "an http backend stays HTTP/1.1: {body}"
    );
}

/// Tag-header routing (§6.3) through the real ingress: the KIngress the controller builds
/// from a Route with `tag-header-based-routing` on sends `Knative-Serving-Tag: v1` to the
/// tag's revision whatever the split says; other requests take the split and carry
/// `Knative-Serving-Default-Route: true`; the tag's host appends the tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tag_header_routing_a_tag_header_picks_the_tagged_revision() {
    let route: knserve_k8s::crd::Route = serde_json::from_value(json!({
        "apiVersion": "serving.knative.dev/v1", "kind": "Route",
        "metadata": { "name": "hello", "namespace": "default", "uid": "7d4f0a5e-0000-4000-8000-0000000000b1" },
        "spec": { "traffic": [
            { "latestRevision": true, "percent": 100 },
            { "revisionName": "hello-00001", "percent": 0, "tag": "v1" },
        ] },
        "status": {
            "url": format!("http://{HOST}"),
            "traffic": [
                { "revisionName": "hello-00002", "latestRevision": true, "percent": 100 },
                { "revisionName": "hello-00001", "latestRevision": false, "percent": 0,
                  "tag": "v1", "url": "http://v1-hello.default.example.com" },
            ],
        },
    }))
    .unwrap();
    let settings = IngressSettings {
        tag_header_routing: true,
        ..IngressSettings::default()
    };
    let object = desired_ingress(&route, &settings, &|_| false).unwrap();
    let (one, two) = (app().await, app().await);
    let server = ingress_server().await;
    serve_revisions(&server, [("hello-00001", &one), ("hello-00002", &two)]);
    server.apply(IngressEvent::Ingress(Event::Apply(object)));

    for _ in 0..20 {
        let body = ok(
            server.address(),
            &[("host", HOST), ("knative-serving-tag", "v1")],
        )
        .await;
        assert_eq!(
            revision_of(&body),
            "hello-00001",
            "the tag header picks the tag's revision at 0 %: {body}"
        );
    }
    for tag in [None, Some("nope")] {
        let mut headers = vec![("host", HOST)];
        headers.extend(tag.map(|t| ("knative-serving-tag", t)));
        let body = ok(server.address(), &headers).await;
        assert_eq!(revision_of(&body), "hello-00002", "{tag:?}: {body}");
        assert!(
            body.contains("knative-serving-default-route: true\n"),
            "the default path says so: {body}"
        );
    }
    let body = ok(
        server.address(),
        &[("host", "v1-hello.default.example.com")],
    )
    .await;
    assert_eq!(revision_of(&body), "hello-00001");
    assert!(
        body.contains("knative-serving-tag: v1\n"),
        "the tag host appends its tag: {body}"
    );
}
