//! The activator's handler (spec §3.2, §3.7): every answer it gives itself, revision
//! resolution and the header changes on forwarded requests, through `tower_test`
//! mocks with paused time.

use std::time::Duration;

use http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use knserve_core::{
    RevisionKey,
    activator::handler::{Handler, HandlerLayer, RevisionInfo, RevisionTable, revision_from_host},
    net::{self, Body},
};
use tokio::sync::watch;
use tower::{Layer, ServiceExt};
use tower_test::mock;

type Mock = mock::Mock<Request<Body>, Response<Body>>;
type Handle = mock::Handle<Request<Body>, Response<Body>>;

struct Fixture {
    handler: Handler<Mock>,
    inner: Handle,
    draining: watch::Sender<bool>,
}

fn info() -> RevisionInfo {
    RevisionInfo {
        container_concurrency: 10,
        timeout: Duration::from_secs(60),
        ..RevisionInfo::default()
    }
}

fn fixture() -> Fixture {
    let table = RevisionTable::new();
    table.insert(RevisionKey::new("default", "hello-00001"), info());
    let (draining, draining_rx) = watch::channel(false);
    let (service, inner) = mock::pair();
    let handler = HandlerLayer::new(table, draining_rx).layer(service);
    Fixture {
        handler,
        inner,
        draining,
    }
}

fn request(headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().uri("/path?q=1");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(net::empty()).unwrap()
}

async fn text(response: Response<Body>) -> (StatusCode, String) {
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

impl Fixture {
    /// A request the handler answers itself; fails if it reached the inner service.
    async fn answered(&mut self, headers: &[(&str, &str)]) -> Response<Body> {
        let response = self
            .handler
            .clone()
            .oneshot(request(headers))
            .await
            .expect("answers are responses, not errors");
        let reached = tokio::time::timeout(Duration::from_secs(1), self.inner.next_request());
        assert!(
            reached.await.is_err(),
            "an answered request never reaches the layers inside"
        );
        response
    }

    /// A request the handler forwards: what the inner service saw.
    async fn forwarded(&mut self, headers: &[(&str, &str)]) -> Request<Body> {
        let call = tokio::spawn(self.handler.clone().oneshot(request(headers)));
        let (seen, respond) = self
            .inner
            .next_request()
            .await
            .expect("the request is forwarded");
        respond.send_response(Response::new(net::full("from inside")));
        let (status, body) = text(call.await.unwrap().unwrap()).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "from inside"));
        seen
    }
}

const BY_HEADERS: [(&str, &str); 3] = [
    ("knative-serving-namespace", "default"),
    ("knative-serving-revision", "hello-00001"),
    ("host", "hello.default.example.com"),
];

#[tokio::test(start_paused = true)]
async fn kubelet_checks_pass_while_healthy_and_fail_once_draining() {
    let mut f = fixture();
    for probe in [("user-agent", "kube-probe/1.30"), ("k-kubelet-probe", "1")] {
        let (status, _) = text(f.answered(&[probe]).await).await;
        assert_eq!(status, StatusCode::OK, "{probe:?} while healthy");
    }
    f.draining.send_replace(true);
    for probe in [("user-agent", "kube-probe/1.30"), ("k-kubelet-probe", "1")] {
        let (status, _) = text(f.answered(&[probe]).await).await;
        assert_eq!(
            status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{probe:?} while draining"
        );
    }
    let seen = f.forwarded(&BY_HEADERS).await;
    assert!(
        seen.extensions().get::<RevisionKey>().is_some(),
        "draining fails health checks only; traffic still flows"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hash_probe_echoes_its_hash() {
    let mut f = fixture();
    let response = f
        .answered(&[("k-network-probe", "probe"), ("k-network-hash", "abc123")])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get("k-network-hash").unwrap(),
        "abc123",
        "the hash is echoed back"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hash_probe_without_a_hash_is_a_bad_request() {
    let mut f = fixture();
    for headers in [
        &[("k-network-probe", "probe")][..],
        &[("k-network-probe", "probe"), ("k-network-hash", "")][..],
    ] {
        let (status, body) = text(f.answered(headers).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{headers:?}");
        assert!(body.contains("K-Network-Hash"), "{body}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_activator_probe_is_answered_with_its_name() {
    let mut f = fixture();
    let (status, body) = text(f.answered(&[("k-network-probe", "activator")]).await).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "activator"));
}

#[tokio::test(start_paused = true)]
async fn any_other_probe_value_is_a_bad_request() {
    let mut f = fixture();
    for value in ["queue", "Activator", "something"] {
        let (status, _) = text(f.answered(&[("k-network-probe", value)]).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "K-Network-Probe: {value}");
    }
    let mut headers = BY_HEADERS.to_vec();
    headers.push(("k-network-probe", ""));
    f.forwarded(&headers).await;
}

#[tokio::test(start_paused = true)]
async fn an_unknown_revision_is_not_found() {
    let mut f = fixture();
    let (status, body) = text(
        f.answered(&[
            ("knative-serving-namespace", "default"),
            ("knative-serving-revision", "gone-00009"),
        ])
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        "Error getting active endpoint: revision default/gone-00009 not found"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_naming_no_revision_is_not_found() {
    let mut f = fixture();
    for headers in [
        &[("host", "hello.default.example.com")][..],
        &[("knative-serving-revision", "hello-00001")][..],
        &[][..],
    ] {
        let (status, body) = text(f.answered(headers).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{headers:?}");
        assert!(
            body.starts_with("Error getting active endpoint: "),
            "{body}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_forwarded_request_carries_its_revision_and_settings_inward() {
    let mut f = fixture();
    let seen = f.forwarded(&BY_HEADERS).await;
    assert_eq!(
        seen.extensions().get::<RevisionKey>(),
        Some(&RevisionKey::new("default", "hello-00001"))
    );
    assert_eq!(seen.extensions().get::<RevisionInfo>(), Some(&info()));
    assert_eq!(seen.uri(), "/path?q=1", "the path is kept");
}

#[tokio::test(start_paused = true)]
async fn forwarded_headers_are_rewritten_for_the_queue_proxy() {
    let mut f = fixture();
    let mut headers = BY_HEADERS.to_vec();
    headers.push(("x-user", "kept"));
    let seen = f.forwarded(&headers).await;
    let h = seen.headers();
    assert_eq!(
        h.get("k-original-host").unwrap(),
        "hello.default.example.com"
    );
    assert!(
        h.get(header::HOST).is_none(),
        "Host is left for the client to fill with the destination"
    );
    assert_eq!(h.get("k-proxy-request").unwrap(), "activator");
    assert!(h.get("knative-serving-revision").is_none());
    assert!(h.get("knative-serving-namespace").is_none());
    assert_eq!(h.get("x-user").unwrap(), "kept");
}

#[tokio::test(start_paused = true)]
async fn an_existing_original_host_is_kept() {
    let mut f = fixture();
    let mut headers = BY_HEADERS.to_vec();
    headers.push(("k-original-host", "first.example.com"));
    let seen = f.forwarded(&headers).await;
    assert_eq!(
        seen.headers().get("k-original-host").unwrap(),
        "first.example.com",
        "K-Original-Host is set only when absent"
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_sent_network_hash_is_stripped() {
    let mut f = fixture();
    let mut headers = BY_HEADERS.to_vec();
    headers.push(("k-network-hash", "forged"));
    let seen = f.forwarded(&headers).await;
    assert!(seen.headers().get("k-network-hash").is_none());
}

#[tokio::test(start_paused = true)]
async fn the_revision_is_resolved_from_a_cluster_local_host() {
    let mut f = fixture();
    let seen = f
        .forwarded(&[("host", "hello-00001.default.svc.cluster.local:8012")])
        .await;
    assert_eq!(
        seen.extensions().get::<RevisionKey>(),
        Some(&RevisionKey::new("default", "hello-00001"))
    );
    assert_eq!(
        seen.headers().get("k-original-host").unwrap(),
        "hello-00001.default.svc.cluster.local:8012"
    );
}

#[tokio::test(start_paused = true)]
async fn the_host_follows_a_configured_cluster_domain() {
    let table = RevisionTable::new();
    table.insert(RevisionKey::new("ns", "rev"), RevisionInfo::default());
    let (_draining, rx) = watch::channel(false);
    let (service, mut inner) = mock::pair::<Request<Body>, Response<Body>>();
    let handler = HandlerLayer::new(table, rx)
        .cluster_domain("corp.internal")
        .layer(service);
    let call = tokio::spawn(handler.oneshot(request(&[("host", "rev.ns.svc.corp.internal")])));
    let (seen, respond) = inner.next_request().await.expect("forwarded");
    respond.send_response(Response::new(net::empty()));
    call.await.unwrap().unwrap();
    assert_eq!(
        seen.extensions().get::<RevisionKey>(),
        Some(&RevisionKey::new("ns", "rev"))
    );
}

#[tokio::test(start_paused = true)]
async fn headers_win_over_the_host() {
    let mut f = fixture();
    let seen = f
        .forwarded(&[
            ("knative-serving-namespace", "default"),
            ("knative-serving-revision", "hello-00001"),
            ("host", "other-00001.default.svc.cluster.local"),
        ])
        .await;
    assert_eq!(
        seen.extensions().get::<RevisionKey>(),
        Some(&RevisionKey::new("default", "hello-00001")),
        "the revision headers take precedence over the Host"
    );
}

#[test]
fn host_shapes_resolve_only_under_svc_and_the_cluster_domain() {
    let key = |ns: &str, name: &str| Some(RevisionKey::new(ns, name));
    let table = [
        ("rev.ns.svc.cluster.local", key("ns", "rev")),
        ("rev.ns.svc.cluster.local:80", key("ns", "rev")),
        ("Rev.NS.svc.Cluster.Local.", key("ns", "rev")),
        ("rev.ns.svc.example.com", None),
        ("rev.ns.cluster.local", None),
        ("ns.svc.cluster.local", None),
        ("a.rev.ns.svc.cluster.local", None),
        (".ns.svc.cluster.local", None),
        ("hello.default.example.com", None),
        ("", None),
    ];
    for (host, expected) in table {
        assert_eq!(
            revision_from_host(host, "cluster.local"),
            expected,
            "host {host:?}"
        );
    }
}
