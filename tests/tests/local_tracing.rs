//! Traces end to end: `knserve serve` configured with `config-observability`'s tracing
//! keys exports over OTLP/HTTP to a real Jaeger (started here on loopback, stopped by
//! PID), and the test reads the trace back from Jaeger's query API.
//!
//! A request that carries the client's `traceparent` and `tracestate` goes to a revision
//! at zero: its trace holds the ingress, activator and queue-proxy spans, each the child
//! of the one before (the ingress's parent being the client's span), the activator's and
//! queue-proxy's wait spans, the revision and instance on each span, and the cold start's
//! phases as events on the activator's span; the app itself receives the queue-proxy's
//! span as its parent and the client's `tracestate`. A request without trace headers
//! starts a trace of its own at the ingress.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use self::support::{Knserve, jaeger::Jaeger, send_with, test_app_service};

const HOST: &str = "traced.default.example.com";
const REVISION: &str = "traced-00001";
/// The client's span, the parent of the ingress's.
const CLIENT_SPAN: &str = "00f067aa0ba902b7";
const TRACESTATE: &str = "vendor=knserve-test";

/// A trace id of this run (32 hex digits, never all zero).
fn trace_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{:016x}{:016x}",
        nanos as u64 | 1,
        u64::from(std::process::id())
    )
}

/// The `traceparent` fields: trace id, parent span id.
fn parse_traceparent(value: &str) -> (String, String) {
    let fields: Vec<&str> = value.trim().split('-').collect();
    assert_eq!(fields.len(), 4, "a W3C traceparent: {value:?}");
    assert_eq!(fields[0], "00", "version 00: {value:?}");
    assert_eq!(fields[3], "01", "sampled: {value:?}");
    (fields[1].to_owned(), fields[2].to_owned())
}

/// A span of a Jaeger trace, by what the test checks.
#[derive(Debug)]
struct Span {
    id: String,
    parent: Option<String>,
    tags: HashMap<String, Value>,
    events: Vec<String>,
    service: String,
}

fn spans_of(trace: &Value) -> HashMap<String, Vec<Span>> {
    let mut by_name: HashMap<String, Vec<Span>> = HashMap::new();
    for span in trace["spans"].as_array().unwrap() {
        let parent = span["references"]
            .as_array()
            .and_then(|refs| refs.iter().find(|r| r["refType"] == "CHILD_OF"))
            .map(|r| r["spanID"].as_str().unwrap().to_owned());
        let tags = span["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["key"].as_str().unwrap().to_owned(), t["value"].clone()))
            .collect();
        let events = span["logs"]
            .as_array()
            .map(|logs| {
                logs.iter()
                    .flat_map(|log| log["fields"].as_array().cloned().unwrap_or_default())
                    .filter(|f| f["key"] == "event")
                    .map(|f| f["value"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let process = span["processID"].as_str().unwrap();
        let service = trace["processes"][process]["serviceName"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        by_name
            .entry(span["operationName"].as_str().unwrap().to_owned())
            .or_default()
            .push(Span {
                id: span["spanID"].as_str().unwrap().to_owned(),
                parent,
                tags,
                events,
                service,
            });
    }
    by_name
}

/// The one span named `name`.
fn one<'a>(spans: &'a HashMap<String, Vec<Span>>, name: &str) -> &'a Span {
    match spans.get(name).map(Vec::as_slice) {
        Some([span]) => span,
        other => panic!("one {name} span, got {other:?}; all: {spans:#?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_request_is_one_trace_through_every_hop_in_jaeger() {
    let jaeger = Jaeger::start().await;
    let config = format!(
        "config-autoscaler:\n  allow-zero-initial-scale: \"true\"\n\
         config-observability:\n  tracing-protocol: http/protobuf\n  \
         tracing-endpoint: http://{}/v1/traces\n  tracing-sampling-rate: \"1\"\n",
        jaeger.otlp
    );
    let server = Knserve::start("tracing", &config).await;
    let yaml = test_app_service(
        "traced",
        &[("autoscaling.knative.dev/initial-scale", "0")],
        &[],
        "",
    );
    server.apply("traced.yaml", &yaml).await;

    // A cold request with the client's trace context.
    let trace = trace_id();
    let traceparent = format!("00-{trace}-{CLIENT_SPAN}-01");
    let (status, headers, app_traceparent) = send_with(
        server.ingress,
        HOST,
        "/header/traceparent",
        &[("traceparent", &traceparent), ("tracestate", TRACESTATE)],
    )
    .await;
    assert_eq!(status, 200, "{app_traceparent}\n{}", server.log());
    assert!(
        headers
            .get("server-timing")
            .is_some_and(|v| v.to_str().unwrap_or("").starts_with("cold-start;")),
        "the request was a cold start: {headers:?}"
    );
    let (app_trace, app_parent) = parse_traceparent(&app_traceparent);
    assert_eq!(
        app_trace, trace,
        "the app's request is in the client's trace"
    );
    assert_ne!(app_parent, CLIENT_SPAN, "a hop's span is the app's parent");

    let found = jaeger
        .trace(&trace, 5, Duration::from_secs(30))
        .await
        .unwrap_or_else(|| {
            panic!(
                "trace {trace} reaches jaeger with 5 spans\nknserve: {}\njaeger: {}",
                server.log(),
                jaeger.log()
            )
        });
    let spans = spans_of(&found);
    let ingress = one(&spans, "ingress");
    let activator = one(&spans, "activator");
    let throttled = one(&spans, "throttler_try");
    let queue = one(&spans, "queue-proxy");
    let waited = one(&spans, "kn.queueproxy.wait");

    // One chain: client → ingress → activator → queue-proxy → app.
    assert_eq!(ingress.parent.as_deref(), Some(CLIENT_SPAN));
    assert_eq!(activator.parent.as_ref(), Some(&ingress.id));
    assert_eq!(throttled.parent.as_ref(), Some(&activator.id));
    assert_eq!(queue.parent.as_ref(), Some(&activator.id));
    assert_eq!(waited.parent.as_ref(), Some(&queue.id));
    assert_eq!(
        app_parent, queue.id,
        "the app's parent is the queue-proxy's span"
    );
    for span in [ingress, activator, queue] {
        assert_eq!(span.service, "knserve");
        assert_eq!(span.tags["kn.revision.name"], REVISION, "{span:?}");
        assert_eq!(span.tags["k8s.namespace.name"], "default", "{span:?}");
        assert_eq!(span.tags["http.response.status_code"], 200, "{span:?}");
        assert!(span.tags.contains_key("knserve.wait_ms"), "{span:?}");
        assert!(span.tags.contains_key("knserve.instance"), "{span:?}");
    }
    assert!(
        queue.tags["knserve.instance"]
            .as_str()
            .unwrap()
            .starts_with(REVISION),
        "the queue-proxy's span names its instance: {queue:?}"
    );
    // The cold start: the activator waited for the instance, and says how long each
    // phase took.
    let cold_ms = activator.tags["knserve.cold_start_ms"].as_f64().unwrap();
    let wait_ms = activator.tags["knserve.wait_ms"].as_f64().unwrap();
    assert!(cold_ms > 0.0 && wait_ms > 0.0, "{activator:?}");
    for phase in ["cold_start.spawn", "cold_start.ready", "cold_start.app"] {
        assert!(
            activator.events.iter().any(|e| e == phase),
            "the activator's span has the {phase} event: {activator:?}"
        );
    }

    // Warm, with trace context: the app gets the client's tracestate.
    let (status, _, app_tracestate) = send_with(
        server.ingress,
        HOST,
        "/header/tracestate",
        &[
            (
                "traceparent",
                &format!("00-{}-{CLIENT_SPAN}-01", trace_id()),
            ),
            ("tracestate", TRACESTATE),
        ],
    )
    .await;
    assert_eq!(status, 200, "{app_tracestate}");
    assert_eq!(
        app_tracestate, TRACESTATE,
        "tracestate is carried to the app"
    );

    // Without trace context: the ingress starts a trace.
    let (status, _, started) = send_with(server.ingress, HOST, "/header/traceparent", &[]).await;
    assert_eq!(status, 200, "{started}");
    let (new_trace, _) = parse_traceparent(&started);
    assert_ne!(new_trace, trace);
    let found = jaeger
        .trace(&new_trace, 3, Duration::from_secs(30))
        .await
        .expect("the new trace reaches jaeger");
    let spans = spans_of(&found);
    assert_eq!(
        one(&spans, "ingress").parent,
        None,
        "the ingress's span is the root"
    );
    assert_eq!(
        one(&spans, "queue-proxy").tags["kn.revision.name"],
        REVISION
    );

    server.stop().await;
}
