//! The queue-proxy's header rules (§4.6), one table per rule, and the layer.

use http::{HeaderMap, HeaderName, HeaderValue, Request};
use knserve_core::net::{Body, empty};
use knserve_core::queue::rewrite::{
    RewriteLayer, TAG_DEFAULT, TAG_DISABLED, TAG_UNDEFINED, add_forwarded, restore_host,
    rewrite_for_app, route_tag_label,
};
use tower::{Layer, Service, ServiceExt};
use tower_test::mock;

/// Request headers of one table row.
type Headers = &'static [(&'static str, &'static str)];

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::try_from(*name).expect("valid name"),
            HeaderValue::from_str(value).expect("valid value"),
        );
    }
    map
}

#[test]
fn forwarded_is_synthesised_from_x_forwarded_headers() {
    let cases: &[(Headers, Option<&str>)] = &[
        (&[], None),
        (&[("x-forwarded-for", "1.2.3.4")], Some("for=1.2.3.4")),
        (
            &[
                ("x-forwarded-for", "1.2.3.4, 5.6.7.8"),
                ("x-forwarded-host", "example.com"),
                ("x-forwarded-proto", "https"),
            ],
            Some("for=1.2.3.4;host=example.com;proto=https, for=5.6.7.8"),
        ),
        (
            &[("x-forwarded-for", "2001:db8::1,10.0.0.1,::1")],
            Some("for=\"[2001:db8::1]\", for=10.0.0.1, for=\"[::1]\""),
        ),
        (&[("x-forwarded-proto", "http")], Some("proto=http")),
        (
            &[
                ("x-forwarded-host", "a.example"),
                ("x-forwarded-proto", "http"),
            ],
            Some("host=a.example;proto=http"),
        ),
        (
            &[
                ("x-forwarded-for", "1.1.1.1"),
                ("x-forwarded-for", "2.2.2.2"),
            ],
            Some("for=1.1.1.1, for=2.2.2.2"),
        ),
        (&[("x-forwarded-for", " , 3.3.3.3,")], Some("for=3.3.3.3")),
        (&[("x-forwarded-for", "")], None),
        (
            &[("forwarded", "for=9.9.9.9"), ("x-forwarded-for", "1.2.3.4")],
            Some("for=9.9.9.9"),
        ),
    ];
    for (input, expected) in cases {
        let mut map = headers(input);
        add_forwarded(&mut map);
        let forwarded = map.get("forwarded").and_then(|v| v.to_str().ok());
        assert_eq!(forwarded, *expected, "Forwarded for {input:?}");
    }
}

#[test]
fn the_original_host_becomes_the_host() {
    let cases: &[(Headers, Option<&str>)] = &[
        (&[("host", "pod-ip:8012")], Some("pod-ip:8012")),
        (
            &[
                ("host", "pod-ip:8012"),
                ("k-original-host", "hello.example.com"),
            ],
            Some("hello.example.com"),
        ),
        (
            &[("k-original-host", "hello.example.com")],
            Some("hello.example.com"),
        ),
        (&[], None),
    ];
    for (input, expected) in cases {
        let mut map = headers(input);
        restore_host(&mut map);
        assert_eq!(
            map.get("host").and_then(|v| v.to_str().ok()),
            *expected,
            "Host for {input:?}"
        );
        assert!(
            !map.contains_key("k-original-host"),
            "K-Original-Host is removed"
        );
    }
}

#[test]
fn the_route_tag_label_follows_the_four_cases() {
    let cases: &[(Headers, &str)] = &[
        (&[], TAG_DISABLED),
        (&[("knative-serving-default-route", "true")], TAG_DEFAULT),
        (&[("knative-serving-default-route", "false")], TAG_DEFAULT),
        (
            &[
                ("knative-serving-tag", "v1"),
                ("knative-serving-default-route", "true"),
            ],
            TAG_UNDEFINED,
        ),
        (
            &[
                ("knative-serving-tag", "v1"),
                ("knative-serving-default-route", "false"),
            ],
            "v1",
        ),
        (&[("knative-serving-tag", "v2")], "v2"),
        (&[("knative-serving-tag", "")], TAG_DISABLED),
    ];
    for (input, expected) in cases {
        assert_eq!(
            route_tag_label(&headers(input)),
            *expected,
            "label for {input:?}"
        );
    }
    let mut binary = HeaderMap::new();
    binary.insert(
        "knative-serving-tag",
        HeaderValue::from_bytes(b"\xff").expect("obs-text is a valid value"),
    );
    assert_eq!(
        route_tag_label(&binary),
        TAG_UNDEFINED,
        "a tag that is not text"
    );
}

#[tokio::test]
async fn the_layer_rewrites_what_reaches_the_app() {
    let (app, mut handle) = mock::pair::<Request<Body>, http::Response<Body>>();
    let mut service = RewriteLayer.layer(app);
    let mut request = Request::new(empty());
    *request.headers_mut() = headers(&[
        ("host", "10.0.0.5:8012"),
        ("k-original-host", "hello.default.example.com"),
        ("knative-serving-revision", "hello-00001"),
        ("knative-serving-namespace", "default"),
        ("k-proxy-request", "activator"),
        ("x-forwarded-for", "1.2.3.4"),
    ]);
    let _response = service
        .ready()
        .await
        .expect("the mock is ready")
        .call(request);
    let (seen, _reply) = handle
        .next_request()
        .await
        .expect("the app gets the request");
    let seen = seen.headers();
    assert_eq!(seen["host"], "hello.default.example.com");
    assert_eq!(seen["forwarded"], "for=1.2.3.4");
    assert_eq!(seen["k-proxy-request"], "activator", "passed through");
    for removed in [
        "k-original-host",
        "knative-serving-revision",
        "knative-serving-namespace",
    ] {
        assert!(
            !seen.contains_key(removed),
            "{removed} is removed before the app"
        );
    }
}

/// `rewrite_for_app` skips requests that carry none of its inputs: over every mix of
/// the headers it reads (and `Forwarded`), it must equal the rules applied in turn.
#[test]
fn rewrite_for_app_equals_the_rules_in_turn_for_every_mix_of_inputs() {
    let inputs: [(&str, &str); 7] = [
        ("forwarded", "for=9.9.9.9"),
        ("x-forwarded-for", "1.2.3.4, ::1"),
        ("x-forwarded-host", "example.com"),
        ("x-forwarded-proto", "https"),
        ("k-original-host", "original.example.com"),
        ("knative-serving-revision", "hello-00001"),
        ("knative-serving-namespace", "default"),
    ];
    for mix in 0u32..(1 << inputs.len()) {
        let mut pairs = vec![("host", "app.local"), ("x-plain", "1")];
        pairs.extend(
            inputs
                .iter()
                .enumerate()
                .filter(|(i, _)| mix & (1 << i) != 0)
                .map(|(_, pair)| *pair),
        );
        let mut expected = headers(&pairs);
        add_forwarded(&mut expected);
        restore_host(&mut expected);
        expected.remove("knative-serving-revision");
        expected.remove("knative-serving-namespace");
        let mut actual = headers(&pairs);
        rewrite_for_app(&mut actual);
        assert_eq!(actual, expected, "inputs {pairs:?}");
    }
}
