//! The ingress's pure parts: table, slice resolution, status.

use std::net::SocketAddr;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::Event;
use serde_json::json;

use super::*;
use crate::servers::ingress::{endpoints, mirror::Mirror};

fn ingress(name: &str, hosts: &[&str], splits: serde_json::Value) -> Ingress {
    serde_json::from_value(json!({
        "apiVersion": "networking.internal.knative.dev/v1alpha1",
        "kind": "Ingress",
        "metadata": { "name": name, "namespace": "default", "generation": 3 },
        "spec": { "rules": [{ "hosts": hosts, "visibility": "ExternalIP",
            "http": { "paths": [{ "splits": splits }] } }] },
    }))
    .unwrap()
}

fn none() -> http::HeaderMap {
    http::HeaderMap::new()
}

fn split(service: &str, percent: i32) -> serde_json::Value {
    json!({ "serviceNamespace": "default", "serviceName": service, "servicePort": 80,
        "percent": percent, "appendHeaders": { "Knative-Serving-Revision": service } })
}

#[test]
fn hosts_match_without_port_and_case_and_draws_follow_the_percents() {
    let hello = ingress(
        "hello",
        &["Hello.example.com"],
        json!([split("a", 75), split("b", 25)]),
    );
    let (table, outcomes) = IngressTable::build([&hello]);
    assert_eq!(outcomes[0].error, None);
    let pick = |draw| {
        table
            .route(
                "hello.EXAMPLE.com:8080",
                "/x",
                &none(),
                Listener::External,
                draw,
            )
            .unwrap()
            .backend
            .revision
            .clone()
    };
    assert_eq!(
        pick(0),
        "default/a",
        "draws below 75 of 100 pick the 75 % split"
    );
    assert_eq!(pick(74), "default/a");
    assert_eq!(pick(75), "default/b", "draws from 75 pick the 25 % split");
    assert_eq!(pick(199), "default/b", "draws wrap modulo the total");
    assert!(
        table
            .route("other.example.com", "/", &none(), Listener::Internal, 0)
            .is_err(),
        "an unknown host has no route"
    );
}

#[test]
fn zero_percent_splits_are_never_picked_unless_all_are_zero() {
    let one = ingress(
        "one",
        &["one.example.com"],
        json!([split("a", 100), split("b", 0)]),
    );
    let zero = ingress("zero", &["zero.example.com"], json!([split("c", 0)]));
    let (table, _) = IngressTable::build([&one, &zero]);
    for draw in 0..200 {
        let backend = table
            .route("one.example.com", "/", &none(), Listener::External, draw)
            .unwrap()
            .backend;
        assert_eq!(backend.revision, "default/a", "a 0 % split gets nothing");
    }
    let backend = table
        .route("zero.example.com", "/", &none(), Listener::External, 7)
        .unwrap()
        .backend;
    assert_eq!(
        backend.revision, "default/c",
        "a lone 0 % split still routes (Knative forces 100)"
    );
}

#[test]
fn a_host_claimed_twice_stays_with_the_first_ingress_and_the_second_is_told() {
    let first = ingress("a-first", &["same.example.com"], json!([split("a", 100)]));
    let second = ingress("b-second", &["same.example.com"], json!([split("b", 100)]));
    let (table, outcomes) = IngressTable::build([&second, &first]);
    let backend = table
        .route("same.example.com", "/", &none(), Listener::External, 0)
        .unwrap()
        .backend;
    assert_eq!(
        backend.revision, "default/a",
        "namespace/name order decides"
    );
    assert!(
        matches!(outcomes[1].error, Some(TableError::HostTaken { .. })),
        "the loser's outcome says the host is taken: {outcomes:?}"
    );
    let status = status_for(&outcomes[1], &IngressOptions::default().balancers());
    let ready = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        ready.reason.as_deref(),
        Some("DomainConflict"),
        "its status is not Ready"
    );
}

#[test]
fn a_bad_append_header_leaves_the_ingress_out() {
    let bad = json!([{ "serviceNamespace": "default", "serviceName": "a", "servicePort": 80,
        "percent": 100, "appendHeaders": { "bad header": "x" } }]);
    let (table, outcomes) = IngressTable::build([&ingress("bad", &["bad.example.com"], bad)]);
    assert!(matches!(
        outcomes[0].error,
        Some(TableError::BadHeader { .. })
    ));
    assert_eq!(table.hosts().count(), 0, "nothing of it is programmed");
}

#[test]
fn a_programmed_ingress_is_ready_with_both_load_balancers_and_its_generation() {
    let hello = ingress("hello", &["h.example.com"], json!([split("a", 100)]));
    let (_, outcomes) = IngressTable::build([&hello]);
    let status = status_for(&outcomes[0], &IngressOptions::default().balancers());
    assert_eq!(status.observed_generation, Some(3));
    for kind in ["NetworkConfigured", "LoadBalancerReady", "Ready"] {
        let condition = status.conditions.iter().find(|c| c.type_ == kind);
        assert!(condition.is_some_and(|c| c.is_true()), "{kind} is True");
    }
    let domain = |lb: &Option<crate::crd::networking::LoadBalancerStatus>| {
        lb.as_ref()
            .and_then(|lb| lb.ingress[0].domain_internal.clone())
    };
    assert_eq!(
        domain(&status.public_load_balancer).as_deref(),
        Some("knserve-ingress.knative-serving.svc.cluster.local"),
        "the public load balancer is the external listener's Service"
    );
    assert_eq!(
        domain(&status.private_load_balancer).as_deref(),
        Some("knserve-ingress-internal.knative-serving.svc.cluster.local"),
        "the private one is the internal listener's"
    );
    assert!(
        is_current(Some(&status), &status),
        "an equal status needs no write"
    );
}

#[test]
fn a_split_resolves_to_ready_addresses_at_the_slice_port_named_like_the_service_port() {
    let slice: EndpointSlice = serde_json::from_value(json!({
        "metadata": { "name": "a-x", "namespace": "default",
            "labels": { "kubernetes.io/service-name": "a" } },
        "addressType": "IPv4",
        "endpoints": [
            { "addresses": ["10.0.0.1"], "conditions": { "ready": true } },
            { "addresses": ["10.0.0.2"] },
            { "addresses": ["10.0.0.3"], "conditions": { "ready": false } },
        ],
        "ports": [{ "name": "metrics", "port": 9090 }, { "name": "http", "port": 8012 }],
    }))
    .unwrap();
    let mut slices = Mirror::default();
    slices.apply(
        Event::Apply(slice),
        endpoints::slice_key,
        endpoints::slice_info,
    );
    let mut services = Mirror::default();
    services.apply(
        Event::Apply(("default".to_owned(), "a".to_owned())),
        Clone::clone,
        |_| {
            Some(vec![endpoints::ServicePort {
                name: "http".to_owned(),
                port: 80,
                h2c: false,
            }])
        },
    );
    let target = BackendRef {
        service: ServiceKey {
            namespace: "default".into(),
            name: "a".into(),
        },
        port: PortRef::Number(80),
    };
    let addresses = endpoints::resolve(&slices, &services, &target);
    let expected: Vec<SocketAddr> = vec![
        "10.0.0.1:8012".parse().unwrap(),
        "10.0.0.2:8012".parse().unwrap(),
    ];
    assert_eq!(
        addresses, expected,
        "ready (or unset) endpoints at the http port; not-ready ones left out"
    );
    assert!(!endpoints::is_h2c(&services, &target));
}

#[test]
fn a_service_port_named_h2c_or_with_the_h2c_app_protocol_is_reached_over_h2c() {
    let service = |ports: serde_json::Value| -> k8s_openapi::api::core::v1::Service {
        serde_json::from_value(json!({
            "metadata": { "name": "a", "namespace": "default" },
            "spec": { "ports": ports },
        }))
        .unwrap()
    };
    let target = |port: PortRef| BackendRef {
        service: ServiceKey {
            namespace: "default".into(),
            name: "a".into(),
        },
        port,
    };
    let mut services = Mirror::default();
    assert!(
        endpoints::is_h2c(&services, &target(PortRef::Name("h2c".into()))),
        "before the Service is known, the port's name decides"
    );
    services.apply(
        Event::Apply(service(json!([
            { "name": "h2c", "port": 80 },
            { "name": "grpc", "port": 81, "appProtocol": "kubernetes.io/h2c" },
            { "name": "http", "port": 82 },
        ]))),
        |s: &k8s_openapi::api::core::v1::Service| {
            (
                s.metadata.namespace.clone().unwrap_or_default(),
                s.metadata.name.clone().unwrap_or_default(),
            )
        },
        endpoints::service_ports,
    );
    for (port, h2c) in [
        (PortRef::Number(80), true),
        (PortRef::Number(81), true),
        (PortRef::Name("grpc".into()), true),
        (PortRef::Number(82), false),
        (PortRef::Name("http".into()), false),
    ] {
        assert_eq!(
            endpoints::is_h2c(&services, &target(port.clone())),
            h2c,
            "{port:?}"
        );
    }
}

#[test]
fn only_a_404_on_a_status_write_means_the_kingress_is_gone() {
    let api = |reason: &str, code: u16| {
        kube::Error::Api(
            kube::core::Status::failure("failed", reason)
                .with_code(code)
                .boxed(),
        )
    };
    assert!(
        is_gone(&api("NotFound", 404)),
        "404: the KIngress was deleted, the write is dropped"
    );
    assert!(!is_gone(&api("Conflict", 409)), "409 is retried");
    assert!(!is_gone(&api("InternalError", 500)), "500 is retried");
}

#[test]
fn cluster_local_rules_answer_on_the_internal_listener_only() {
    let object: Ingress = serde_json::from_value(json!({
        "apiVersion": "networking.internal.knative.dev/v1alpha1",
        "kind": "Ingress",
        "metadata": { "name": "hello", "namespace": "default" },
        "spec": { "rules": [
            { "hosts": ["hello.default.svc"], "visibility": "ClusterLocal",
              "http": { "paths": [{ "splits": [split("local", 100)] }] } },
            { "hosts": ["hello.example.com"],
              "http": { "paths": [{ "splits": [split("public", 100)] }] } },
        ] },
    }))
    .unwrap();
    let (table, _) = IngressTable::build([&object]);
    let route = |host, listener| {
        table
            .route(host, "/", &none(), listener, 0)
            .map(|d| d.backend.revision.clone())
    };
    assert!(
        route("hello.default.svc", Listener::External).is_err(),
        "a ClusterLocal host is unknown outside"
    );
    assert_eq!(
        route("hello.default.svc", Listener::Internal).unwrap(),
        "default/local"
    );
    for listener in [Listener::External, Listener::Internal] {
        assert_eq!(
            route("hello.example.com", listener).unwrap(),
            "default/public",
            "a rule without visibility is ExternalIP, served on both: {listener:?}"
        );
    }
}

#[test]
fn a_path_with_headers_takes_only_requests_that_carry_them_exactly() {
    let object: Ingress = serde_json::from_value(json!({
        "apiVersion": "networking.internal.knative.dev/v1alpha1",
        "kind": "Ingress",
        "metadata": { "name": "hello", "namespace": "default" },
        "spec": { "rules": [{ "hosts": ["hello.example.com"], "visibility": "ExternalIP",
            "http": { "paths": [
                { "headers": { "Knative-Serving-Tag": { "exact": "v1" } },
                  "rewriteHost": "v1.hello.internal",
                  "splits": [split("tagged", 100)] },
                { "splits": [split("default", 100)] },
            ] } }] },
    }))
    .unwrap();
    let (table, outcomes) = IngressTable::build([&object]);
    assert_eq!(outcomes[0].error, None);
    let mut tagged = http::HeaderMap::new();
    tagged.insert("knative-serving-tag", "v1".parse().unwrap());
    let decision = table
        .route("hello.example.com", "/", &tagged, Listener::External, 0)
        .unwrap();
    assert_eq!(decision.backend.revision, "default/tagged");
    assert_eq!(
        decision.rewrite_host.map(|h| h.to_str().unwrap()),
        Some("v1.hello.internal"),
        "the path's rewriteHost comes with it"
    );
    let mut other = http::HeaderMap::new();
    other.insert("knative-serving-tag", "v2".parse().unwrap());
    for headers in [none(), other] {
        let decision = table
            .route("hello.example.com", "/", &headers, Listener::External, 0)
            .unwrap();
        assert_eq!(
            decision.backend.revision, "default/default",
            "without the exact header the next path answers: {headers:?}"
        );
        assert_eq!(decision.rewrite_host, None);
    }
    assert_eq!(
        decision_hash(&table),
        ingress_hash(&object),
        "each path carries its KIngress's hash"
    );
}

fn decision_hash(table: &IngressTable) -> String {
    let decision = table
        .route("hello.example.com", "/", &none(), Listener::External, 0)
        .unwrap();
    decision.hash.to_str().unwrap().to_owned()
}
