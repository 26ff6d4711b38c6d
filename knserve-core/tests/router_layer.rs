//! The `Route` service over a mock inner service: client headers stripped, the
//! revision headers set, 404/503 answers, and the next hop read from the watch channel.

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use knserve_core::RevisionKey;
use knserve_core::api::{ObjectMeta, RoutingConfig};
use knserve_core::config::{DomainConfig, FeaturesConfig, Flag};
use knserve_core::net::headers::{
    INTERNAL, KNATIVE_SERVING_DEFAULT_ROUTE, KNATIVE_SERVING_NAMESPACE, KNATIVE_SERVING_REVISION,
    KNATIVE_SERVING_TAG, X_FORWARDED_FOR, X_FORWARDED_PROTO,
};
use knserve_core::net::{Body, Destination, RemoteAddr, empty};
use knserve_core::router::{Hop, Hops, Route, RouteLayer, RouteTable, RouteTraffic, Target};
use rand::{SeedableRng, rngs::SmallRng};
use tokio::sync::watch;
use tokio_test::assert_ready_ok;
use tower::Layer;
use tower_test::mock::{self, Handle, Mock, Spawn};

type Inner = Mock<Request<Body>, Response<Body>>;

const HOST: &str = "hello.default.example.com";

fn table(tag_routing: Flag) -> Arc<RouteTable> {
    let routing = RoutingConfig {
        domain: DomainConfig {
            domains: [("example.com".to_owned(), Default::default())].into(),
        },
        ..RoutingConfig::default()
    };
    let features = FeaturesConfig {
        tag_header_based_routing: tag_routing,
        ..FeaturesConfig::default()
    };
    let route = RouteTraffic::new(
        ObjectMeta::named("hello", "default"),
        vec![
            Target::new("hello-00002", 100),
            Target::new("hello-00001", 0).tagged("v1"),
        ],
    );
    Arc::new(RouteTable::build(&routing, &features, [route]).0)
}

fn key(name: &str) -> RevisionKey {
    RevisionKey::new("default", name)
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn hops(entries: impl IntoIterator<Item = (&'static str, Hop)>) -> Hops {
    Arc::new(entries.into_iter().map(|(n, h)| (key(n), h)).collect())
}

struct Harness {
    service: Spawn<Route<Inner>>,
    handle: Handle<Request<Body>, Response<Body>>,
    tables: watch::Sender<Arc<RouteTable>>,
    hops: watch::Sender<Hops>,
}

fn harness(tag_routing: Flag, initial: Hops) -> Harness {
    let (tables, table_rx) = watch::channel(table(tag_routing));
    let (hops, hops_rx) = watch::channel(initial);
    let layer = RouteLayer::new(table_rx, hops_rx, SmallRng::seed_from_u64(42));
    let (service, handle) = mock::spawn_with(|inner: Inner| layer.layer(inner));
    Harness {
        service,
        handle,
        tables,
        hops,
    }
}

fn request(host: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::get("/path").header(header::HOST, host);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(empty()).unwrap()
}

impl Harness {
    /// Sends `request` through the router and returns what reached the inner service.
    async fn forwarded(&mut self, request: Request<Body>) -> Request<Body> {
        assert_ready_ok!(self.service.poll_ready());
        let response = self.service.call(request);
        let (upstream, send) = self.handle.next_request().await.expect("forwarded");
        send.send_response(Response::new(empty()));
        assert_eq!(response.await.unwrap().status(), StatusCode::OK);
        upstream
    }

    /// Sends `request` and returns the router's own answer, checking nothing was
    /// forwarded.
    async fn answered(&mut self, request: Request<Body>) -> (StatusCode, String) {
        assert_ready_ok!(self.service.poll_ready());
        let response = self.service.call(request).await.unwrap();
        assert!(
            self.handle.poll_request().is_pending(),
            "an answered request is not forwarded"
        );
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }
}

fn destination(request: &Request<Body>) -> SocketAddr {
    request
        .extensions()
        .get::<Destination>()
        .expect("destination set")
        .0
}

fn value<'a>(headers: &'a HeaderMap, name: &http::HeaderName) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn client_supplied_internal_headers_never_reach_upstream() {
    let mut h = harness(
        Flag::Disabled,
        hops([("hello-00002", Hop::Serve(vec![addr(8012)]))]),
    );
    let internal = INTERNAL;
    let spoofed: Vec<_> = internal.iter().map(|n| (n.as_str(), "spoofed")).collect();
    let upstream = h.forwarded(request(HOST, &spoofed)).await;
    for name in &INTERNAL {
        for v in upstream.headers().get_all(name) {
            assert_ne!(v, "spoofed", "{name} from the client is stripped");
        }
    }
    // Each one alone too (the router looks for any before removing).
    for alone in &spoofed {
        let upstream = h.forwarded(request(HOST, &[*alone])).await;
        for v in upstream.headers().get_all(alone.0) {
            assert_ne!(
                v, "spoofed",
                "{} alone from the client is stripped",
                alone.0
            );
        }
    }
    assert_eq!(
        value(upstream.headers(), &KNATIVE_SERVING_REVISION),
        Some("hello-00002")
    );
    assert_eq!(
        value(upstream.headers(), &KNATIVE_SERVING_NAMESPACE),
        Some("default")
    );
    assert_eq!(
        upstream.extensions().get::<RevisionKey>(),
        Some(&key("hello-00002"))
    );
}

#[tokio::test]
async fn the_clients_address_is_appended_to_x_forwarded_for_and_the_proto_is_http() {
    let mut h = harness(
        Flag::Disabled,
        hops([("hello-00002", Hop::Serve(vec![addr(8012)]))]),
    );
    let mut first = request(HOST, &[("x-forwarded-proto", "https")]);
    first
        .extensions_mut()
        .insert(RemoteAddr("10.1.2.3:40000".parse().unwrap()));
    let upstream = h.forwarded(first).await;
    assert_eq!(
        value(upstream.headers(), &X_FORWARDED_FOR),
        Some("10.1.2.3")
    );
    assert_eq!(
        value(upstream.headers(), &X_FORWARDED_PROTO),
        Some("http"),
        "a plain-HTTP listener cannot vouch for the client's https"
    );
    let mut second = request(HOST, &[("x-forwarded-for", "192.0.2.7")]);
    second
        .extensions_mut()
        .insert(RemoteAddr("[fd00::1]:40000".parse().unwrap()));
    let upstream = h.forwarded(second).await;
    assert_eq!(
        value(upstream.headers(), &X_FORWARDED_FOR),
        Some("192.0.2.7, fd00::1"),
        "the client's list is kept and the peer appended"
    );
}

#[tokio::test]
async fn a_probe_user_agent_is_removed_and_an_ordinary_one_kept() {
    let mut h = harness(
        Flag::Disabled,
        hops([("hello-00002", Hop::Serve(vec![addr(8012)]))]),
    );
    let probe = h
        .forwarded(request(HOST, &[("user-agent", "kube-probe/1.30")]))
        .await;
    assert_eq!(
        probe.headers().get(header::USER_AGENT),
        None,
        "clients cannot pass as probes"
    );
    let client = h
        .forwarded(request(HOST, &[("user-agent", "curl/8.5")]))
        .await;
    assert_eq!(
        value(client.headers(), &header::USER_AGENT),
        Some("curl/8.5")
    );
}

#[tokio::test]
async fn an_unknown_host_is_answered_404_naming_the_host() {
    let mut h = harness(Flag::Disabled, hops([]));
    let (status, body) = h.answered(request("nope.example.com:8080", &[])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body.contains("\"nope.example.com\""),
        "the body names the host: {body}"
    );
}

#[tokio::test]
async fn a_request_without_a_host_is_answered_400() {
    let mut h = harness(Flag::Disabled, hops([]));
    let request = Request::get("/").body(empty()).unwrap();
    let (status, _) = h.answered(request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_http2_authority_stands_in_for_the_host_header() {
    let mut h = harness(
        Flag::Disabled,
        hops([("hello-00002", Hop::Proxy(addr(9000)))]),
    );
    let request = Request::get(format!("http://{HOST}/x"))
        .body(empty())
        .unwrap();
    let upstream = h.forwarded(request).await;
    assert_eq!(destination(&upstream), addr(9000));
}

#[tokio::test]
async fn a_revision_without_a_hop_is_answered_503_naming_it() {
    let mut h = harness(Flag::Disabled, hops([]));
    let (status, body) = h.answered(request(HOST, &[])).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body.contains("default/hello-00002"),
        "the body names the revision: {body}"
    );
}

#[tokio::test]
async fn a_serving_revision_without_instances_is_answered_503() {
    let mut h = harness(Flag::Disabled, hops([("hello-00002", Hop::Serve(vec![]))]));
    let (status, body) = h.answered(request(HOST, &[])).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("no ready instances"), "{body}");
}

#[tokio::test]
async fn the_hop_follows_the_published_mode_between_requests() {
    let instance = addr(8012);
    let activator = addr(9000);
    let mut h = harness(
        Flag::Disabled,
        hops([("hello-00002", Hop::Serve(vec![instance]))]),
    );
    let first = h.forwarded(request(HOST, &[])).await;
    assert_eq!(destination(&first), instance, "Serve goes to the instance");
    h.hops
        .send(hops([("hello-00002", Hop::Proxy(activator))]))
        .unwrap();
    let second = h.forwarded(request(HOST, &[])).await;
    assert_eq!(
        destination(&second),
        activator,
        "Proxy goes to the activator"
    );
    h.hops
        .send(hops([("hello-00002", Hop::Serve(vec![instance]))]))
        .unwrap();
    let third = h.forwarded(request(HOST, &[])).await;
    assert_eq!(destination(&third), instance, "back to Serve");
}

#[tokio::test]
async fn serve_spreads_requests_over_every_instance() {
    let instances: Vec<_> = (8012..8016).map(addr).collect();
    let mut h = harness(
        Flag::Disabled,
        hops([("hello-00002", Hop::Serve(instances.clone()))]),
    );
    let mut seen = HashMap::new();
    for _ in 0..200 {
        let upstream = h.forwarded(request(HOST, &[])).await;
        *seen.entry(destination(&upstream)).or_insert(0) += 1;
    }
    for instance in instances {
        assert!(
            seen.get(&instance).copied().unwrap_or(0) > 20,
            "{instance} gets its share: {seen:?}"
        );
    }
}

#[tokio::test]
async fn a_new_table_applies_to_the_next_request() {
    let mut h = harness(
        Flag::Disabled,
        hops([("hello-00002", Hop::Proxy(addr(9000)))]),
    );
    h.tables.send(Arc::new(RouteTable::default())).unwrap();
    let (status, _) = h.answered(request(HOST, &[])).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the emptied table no longer has the host"
    );
}

#[tokio::test]
async fn the_tag_header_routes_and_tag_hosts_are_labelled_when_enabled() {
    let both = hops([
        ("hello-00001", Hop::Proxy(addr(9001))),
        ("hello-00002", Hop::Proxy(addr(9002))),
    ]);
    let mut h = harness(Flag::Enabled, both);
    let by_header = h
        .forwarded(request(HOST, &[("knative-serving-tag", "v1")]))
        .await;
    assert_eq!(
        value(by_header.headers(), &KNATIVE_SERVING_REVISION),
        Some("hello-00001")
    );
    assert_eq!(destination(&by_header), addr(9001));
    let default = h
        .forwarded(request(HOST, &[("knative-serving-default-route", "false")]))
        .await;
    assert_eq!(
        value(default.headers(), &KNATIVE_SERVING_DEFAULT_ROUTE),
        Some("true")
    );
    let tag_host = h
        .forwarded(request("v1-hello.default.example.com", &[]))
        .await;
    assert_eq!(value(tag_host.headers(), &KNATIVE_SERVING_TAG), Some("v1"));
    assert_eq!(destination(&tag_host), addr(9001));
}

#[tokio::test]
async fn clones_draw_independent_random_streams() {
    let instances: Vec<_> = (8000..8100).map(addr).collect();
    let mut h = harness(
        Flag::Disabled,
        hops([("hello-00002", Hop::Serve(instances))]),
    );
    let mut clone = Spawn::new(h.service.get_ref().clone());
    let mut picks = (Vec::new(), Vec::new());
    for _ in 0..5 {
        picks
            .0
            .push(destination(&h.forwarded(request(HOST, &[])).await));
        assert_ready_ok!(clone.poll_ready());
        let response = clone.call(request(HOST, &[]));
        let (upstream, send) = h.handle.next_request().await.unwrap();
        send.send_response(Response::new(empty()));
        response.await.unwrap();
        picks.1.push(destination(&upstream));
    }
    assert_ne!(
        picks.0, picks.1,
        "a clone does not repeat the original's choices"
    );
}
