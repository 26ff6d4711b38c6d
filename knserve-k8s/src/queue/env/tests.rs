use std::collections::HashMap;

use super::*;

/// The environment Knative's controller gives a queue-proxy (perf-anchors §2.4).
fn knative_env() -> HashMap<String, String> {
    [
        ("SERVING_NAMESPACE", "default"),
        ("SERVING_SERVICE", "hello"),
        ("SERVING_CONFIGURATION", "hello"),
        ("SERVING_REVISION", "hello-00001"),
        ("SERVING_POD", "hello-00001-deployment-0"),
        ("SERVING_POD_IP", "127.0.0.1"),
        ("QUEUE_SERVING_PORT", "8012"),
        ("QUEUE_SERVING_TLS_PORT", "8112"),
        ("USER_PORT", "8080"),
        ("CONTAINER_CONCURRENCY", "10"),
        ("REVISION_TIMEOUT_SECONDS", "300"),
        ("REVISION_RESPONSE_START_TIMEOUT_SECONDS", "0"),
        ("REVISION_IDLE_TIMEOUT_SECONDS", "0"),
        ("SERVING_LOGGING_CONFIG", ""),
        ("SERVING_LOGGING_LEVEL", "info"),
        (
            "SERVING_READINESS_PROBE",
            r#"{"tcpSocket":{"port":8080,"host":"127.0.0.1"},"successThreshold":1}"#,
        ),
        ("ENABLE_HTTP2_AUTO_DETECTION", "false"),
        ("ENABLE_HTTP_FULL_DUPLEX", "false"),
        ("ENABLE_MULTI_CONTAINER_PROBES", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn with(variable: &str, value: &str) -> Result<QueueEnv, EnvError> {
    let mut env = knative_env();
    env.insert(variable.to_owned(), value.to_owned());
    QueueEnv::from_lookup(&env)
}

fn without(variable: &str) -> Result<QueueEnv, EnvError> {
    let mut env = knative_env();
    env.remove(variable);
    QueueEnv::from_lookup(&env)
}

#[test]
fn knatives_own_environment_is_read_unchanged() {
    let env = QueueEnv::from_lookup(&knative_env()).unwrap();
    assert_eq!(env.revision, "hello-00001");
    assert_eq!(env.pod, "hello-00001-deployment-0");
    assert_eq!(env.service.as_deref(), Some("hello"));
    assert_eq!(
        (env.serving_port, env.user_port, env.tls_port),
        (8012, 8080, 8112)
    );
    assert_eq!(env.container_concurrency, 10);
    assert_eq!(env.timeout, Duration::from_secs(300));
    assert_eq!(env.response_start_timeout, None, "0 turns the limit off");
    assert_eq!(env.idle_timeout, None);
    assert!(env.readiness_probe.unwrap().contains("tcpSocket"));
    assert_eq!(
        env.bind,
        IpAddr::from([0, 0, 0, 0]),
        "all interfaces, as Knative"
    );
    assert_eq!((env.admin_port, env.metrics_port), (8022, 9090));
    assert_eq!(env.drain_quiet_period, Duration::from_secs(30));
    assert!(!env.prometheus_request_metrics);
}

#[test]
fn every_required_variable_is_named_when_missing() {
    for variable in [
        "SERVING_NAMESPACE",
        "SERVING_CONFIGURATION",
        "SERVING_REVISION",
        "SERVING_POD",
        "SERVING_POD_IP",
        "QUEUE_SERVING_PORT",
        "QUEUE_SERVING_TLS_PORT",
        "USER_PORT",
        "CONTAINER_CONCURRENCY",
        "REVISION_TIMEOUT_SECONDS",
    ] {
        let err = without(variable).unwrap_err();
        assert_eq!(err.variable, variable);
        assert_eq!(
            err.to_string(),
            format!("{variable}: required variable is missing (got \"\")")
        );
    }
}

const TOTAL_RULE: &str =
    "must be a whole number of seconds in 1..=9223372036 (the longest duration Knative can hold)";
const LIMIT_RULE: &str =
    "must be a whole number of seconds in 0..=9223372036 (the longest duration Knative can hold)";

#[test]
fn the_longest_timeout_knative_can_hold_is_accepted_and_its_deadline_fits_the_clock() {
    let env = with("REVISION_TIMEOUT_SECONDS", "9223372036").unwrap();
    assert!(
        tokio::time::Instant::now()
            .checked_add(env.timeout)
            .is_some(),
        "a deadline {:?} from now is representable",
        env.timeout
    );
}

#[test]
fn bad_values_are_errors_naming_the_variable_and_rule() {
    let cases = [
        ("USER_PORT", "http", "must be a port in 1..=65535"),
        ("USER_PORT", "0", "must be a port in 1..=65535"),
        ("QUEUE_SERVING_PORT", "70000", "must be a port in 1..=65535"),
        (
            "CONTAINER_CONCURRENCY",
            "-1",
            "must be a whole number ≥ 0 (0 = unlimited)",
        ),
        ("REVISION_TIMEOUT_SECONDS", "0", TOTAL_RULE),
        ("REVISION_TIMEOUT_SECONDS", "5m", TOTAL_RULE),
        (
            "REVISION_TIMEOUT_SECONDS",
            "9223372036854775808",
            TOTAL_RULE,
        ),
        (
            "REVISION_TIMEOUT_SECONDS",
            "18446744073709551616",
            TOTAL_RULE,
        ),
        ("REVISION_TIMEOUT_SECONDS", "9223372037", TOTAL_RULE),
        ("REVISION_IDLE_TIMEOUT_SECONDS", "x", LIMIT_RULE),
        (
            "REVISION_IDLE_TIMEOUT_SECONDS",
            "9223372036854775807",
            LIMIT_RULE,
        ),
        (
            "REVISION_RESPONSE_START_TIMEOUT_SECONDS",
            "9223372037",
            LIMIT_RULE,
        ),
        (
            "USER_PORT",
            "8012",
            "must differ from QUEUE_SERVING_PORT (the queue-proxy would proxy to itself)",
        ),
        (
            "ENABLE_HTTP2_AUTO_DETECTION",
            "yes",
            "must be true or false",
        ),
        (
            "SERVING_LOGGING_LEVEL",
            "loud",
            "must be debug, info, warn or error",
        ),
        ("OBSERVABILITY_CONFIG", "{", "must be a JSON object"),
        (
            "OBSERVABILITY_CONFIG",
            r#"{"tracing":{"protocol":"zipkin"}}"#,
            "tracing must hold protocol (none, grpc, http/protobuf or stdout), an endpoint exactly when the protocol is grpc or http/protobuf, and a samplingRate between 0 and 1",
        ),
        (
            "OBSERVABILITY_CONFIG",
            r#"{"tracing":{"protocol":"http/protobuf","samplingRate":2}}"#,
            "tracing must hold protocol (none, grpc, http/protobuf or stdout), an endpoint exactly when the protocol is grpc or http/protobuf, and a samplingRate between 0 and 1",
        ),
        ("KNSERVE_QUEUE_BIND", "localhost", "must be an IP address"),
        (
            "KNSERVE_QUEUE_DRAIN_QUIET_PERIOD",
            "soon",
            "must be a Go duration such as 30s",
        ),
    ];
    for (variable, value, rule) in cases {
        let err = with(variable, value).unwrap_err();
        assert_eq!(
            (err.variable, err.value.as_str(), err.rule),
            (variable, value, rule)
        );
    }
}

#[test]
fn knserve_extensions_and_optional_limits_are_read() {
    let mut env = knative_env();
    for (k, v) in [
        ("KNSERVE_QUEUE_BIND", "127.0.0.1"),
        ("KNSERVE_QUEUE_ADMIN_PORT", "0"),
        ("KNSERVE_QUEUE_DRAIN_QUIET_PERIOD", "1500ms"),
        ("REVISION_IDLE_TIMEOUT_SECONDS", "20"),
        ("ENABLE_HTTP2_AUTO_DETECTION", "T"),
        (
            "OBSERVABILITY_CONFIG",
            r#"{"requestMetrics":{"protocol":"prometheus"}}"#,
        ),
        ("SERVING_READINESS_PROBE", ""),
    ] {
        env.insert(k.to_owned(), v.to_owned());
    }
    let env = QueueEnv::from_lookup(&env).unwrap();
    assert_eq!(env.bind, IpAddr::from([127, 0, 0, 1]));
    assert_eq!(env.admin_port, 0, "port 0 asks for a free port");
    assert_eq!(env.drain_quiet_period, Duration::from_millis(1500));
    assert_eq!(env.idle_timeout, Some(Duration::from_secs(20)));
    assert!(env.http2_auto_detection, "Go's ParseBool accepts T");
    assert!(env.prometheus_request_metrics);
    assert_eq!(
        env.readiness_probe, None,
        "an empty probe means always ready"
    );
}
