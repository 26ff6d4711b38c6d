use std::time::Duration;

use knserve_core::api::ConditionStatus;
use serde_json::json;

use super::*;
use crate::cli::fixtures::{ready_service, service_with_conditions};

fn ingress() -> SocketAddr {
    "127.0.0.1:8080".parse().expect("valid address")
}

#[test]
fn a_service_is_ready_when_ready_is_true_for_its_generation() {
    assert_eq!(service_readiness(&ready_service()), ServiceReadiness::Ready);
}

#[test]
fn ready_of_an_older_generation_is_not_trusted() {
    let svc = service_with_conditions(2, 1, json!([{"type": "Ready", "status": "True"}]));
    let ServiceReadiness::Pending(pending) = service_readiness(&svc) else {
        panic!("a status for generation 1 says nothing about generation 2");
    };
    assert_eq!(pending.condition, "Ready");
    let failed = service_with_conditions(2, 1, json!([{"type": "Ready", "status": "False"}]));
    assert!(
        matches!(service_readiness(&failed), ServiceReadiness::Pending(_)),
        "a stale failure is not a failure of the new generation"
    );
}

#[test]
fn a_false_ready_fails_with_its_reason_and_message() {
    let svc = service_with_conditions(
        1,
        1,
        json!([{"type": "Ready", "status": "False", "reason": "RevisionFailed",
                "message": "Revision \"hello-00001\" failed with message: exit code 1."}]),
    );
    assert_eq!(
        service_readiness(&svc),
        ServiceReadiness::Failed {
            reason: "RevisionFailed".into(),
            message: "Revision \"hello-00001\" failed with message: exit code 1.".into(),
        }
    );
}

#[test]
fn pending_shows_the_first_not_true_condition_message() {
    let svc = service_with_conditions(
        1,
        1,
        json!([
            {"type": "Ready", "status": "Unknown", "reason": "RevisionMissing"},
            {"type": "ConfigurationsReady", "status": "Unknown", "reason": "RevisionMissing",
             "message": "Configuration \"hello\" is waiting for a Revision to become ready."},
            {"type": "RoutesReady", "status": "Unknown", "reason": "RevisionMissing"},
        ]),
    );
    assert_eq!(
        service_readiness(&svc),
        ServiceReadiness::Pending(Pending {
            condition: "ConfigurationsReady".into(),
            status: ConditionStatus::Unknown,
            detail: "Configuration \"hello\" is waiting for a Revision to become ready.".into(),
        })
    );
}

#[test]
fn pending_without_message_falls_back_to_reason_then_type() {
    let reason_only = service_with_conditions(
        1,
        1,
        json!([{"type": "RoutesReady", "status": "Unknown", "reason": "TrafficNotMigrated"}]),
    );
    let ServiceReadiness::Pending(pending) = service_readiness(&reason_only) else {
        panic!("RoutesReady is not true");
    };
    assert_eq!(pending.detail, "TrafficNotMigrated");
    let bare = service_with_conditions(1, 1, json!([{"type": "Ready", "status": "Unknown"}]));
    let ServiceReadiness::Pending(pending) = service_readiness(&bare) else {
        panic!("Ready is unknown");
    };
    assert_eq!(pending.detail, "Ready is Unknown");
}

#[test]
fn progress_line_names_service_namespace_and_tenths_of_seconds() {
    assert_eq!(
        progress_line(
            "hello",
            "default",
            Duration::from_millis(3240),
            "Configuration \"hello\" is waiting for a Revision to become ready."
        ),
        "Service 'hello' in namespace 'default': 3.2s Configuration \"hello\" is waiting for a Revision to become ready."
    );
}

#[test]
fn on_a_terminal_the_line_is_rewritten_in_place() {
    let mut line = ProgressLine::new(true);
    assert_eq!(
        line.update("a", "x 0.1s a"),
        Some("\r\x1b[2Kx 0.1s a".into())
    );
    assert_eq!(
        line.update("a", "x 0.4s a"),
        Some("\r\x1b[2Kx 0.4s a".into()),
        "the ticking seconds redraw the line"
    );
    assert_eq!(
        line.finish(),
        Some("\r\x1b[2K".into()),
        "finishing clears the line"
    );
    assert_eq!(line.finish(), None, "nothing left to clear");
}

#[test]
fn off_a_terminal_a_new_line_is_written_only_when_the_detail_changes() {
    let mut line = ProgressLine::new(false);
    assert_eq!(line.update("a", "x 0.1s a"), Some("x 0.1s a\n".into()));
    assert_eq!(
        line.update("a", "x 0.4s a"),
        None,
        "same detail, no new line"
    );
    assert_eq!(line.update("b", "x 0.7s b"), Some("x 0.7s b\n".into()));
    assert_eq!(line.finish(), None, "a pipe has nothing to clear");
}

#[test]
fn curl_line_sends_the_url_host_to_the_ingress() {
    assert_eq!(
        curl_line("http://simple-api.default.example.com", ingress()).as_deref(),
        Some("curl -H \"Host: simple-api.default.example.com\" http://127.0.0.1:8080/")
    );
    assert_eq!(
        curl_line("https://a.b.example.com:8443/api/v1?x=1", ingress()).as_deref(),
        Some("curl -H \"Host: a.b.example.com:8443\" http://127.0.0.1:8080/api/v1?x=1")
    );
}

#[test]
fn curl_line_replaces_an_unspecified_ingress_address_with_loopback() {
    let any: SocketAddr = "0.0.0.0:9000".parse().expect("valid");
    assert_eq!(
        curl_line("http://h.example.com", any).as_deref(),
        Some("curl -H \"Host: h.example.com\" http://127.0.0.1:9000/")
    );
    let any6: SocketAddr = "[::]:9000".parse().expect("valid");
    assert_eq!(
        curl_line("http://h.example.com", any6).as_deref(),
        Some("curl -H \"Host: h.example.com\" http://[::1]:9000/")
    );
    assert_eq!(curl_line("hello", ingress()), None, "not a URL");
    assert_eq!(curl_line("http:///x", ingress()), None, "no host");
}

#[test]
fn ready_message_matches_kn_and_adds_the_curl_line() {
    assert_eq!(
        ready_message(&ready_service(), "created", ingress()),
        "Service 'hello' created to latest revision 'hello-00001' is available at URL:\n\
         http://hello.default.example.com\n\
         curl -H \"Host: hello.default.example.com\" http://127.0.0.1:8080/\n"
    );
    assert!(
        ready_message(&ready_service(), "configured", ingress())
            .starts_with("Service 'hello' updated to latest revision 'hello-00001'"),
        "a new generation is reported as updated, as kn does"
    );
}

#[test]
fn the_curl_line_asks_for_the_readiness_probe_path_when_there_is_one() {
    let mut service = ready_service();
    service.spec.template.spec.containers[0].readiness_probe =
        Some(serde_json::from_value(serde_json::json!({"httpGet": {"path": "/health"}})).unwrap());
    let message = ready_message(&service, "created", ingress());
    assert!(
        message.ends_with(
            "curl -H \"Host: hello.default.example.com\" http://127.0.0.1:8080/health\n"
        ),
        "a path the app is known to answer: {message}"
    );
}
