//! `knserve serve` end to end, scaling: real processes over loopback, with the short
//! windows of [`support::FAST_CONFIG`].

mod support;

use std::time::Duration;

use self::support::{FAST_CONFIG, Knserve, test_app_service};

const HOST_ZERO: &str = "zero.default.example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_scales_to_zero_after_the_grace_period_and_its_first_request_is_a_timed_cold_start()
 {
    let server = Knserve::start("zero", FAST_CONFIG).await;
    let yaml = test_app_service(
        "zero",
        &[("autoscaling.knative.dev/min-scale", "0")],
        &[],
        "",
    );
    let applied = server.apply("zero.yaml", &yaml).await;
    assert!(
        applied.contains("http://zero.default.example.com"),
        "apply prints the URL: {applied}"
    );
    assert!(
        applied.contains(&format!(
            "curl -H \"Host: zero.default.example.com\" http://{}/",
            server.ingress
        )),
        "apply prints a curl line for the ingress: {applied}"
    );
    let (status, _, body) = server.get(HOST_ZERO, "/").await;
    assert_eq!(status, 200, "{body}");

    // No traffic: down to zero after the stable window and the grace period.
    server
        .wait_instances("zero-00001", Duration::from_secs(40), |n| n == 0)
        .await;

    // The first request at zero waits for a new instance and reports the cold start.
    let (status, headers, body) = server.get(HOST_ZERO, "/").await;
    assert_eq!(
        status,
        200,
        "a request at zero is served: {body}\n{}",
        server.log()
    );
    assert!(body.starts_with("zero-00001 "), "{body}");
    let timing = headers
        .get("server-timing")
        .expect("a cold start carries Server-Timing")
        .to_str()
        .unwrap();
    let millis: f64 = timing
        .strip_prefix("cold-start;dur=")
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("Server-Timing `cold-start;dur=<ms>`: {timing}"));
    assert!(millis > 0.0, "{timing}");

    let (status, _, metrics) = support::send(server.admin, "admin", "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("knserve_cold_start_seconds_count 1"),
        "the cold start is in the histogram:\n{metrics}"
    );
    // A warm request is not a cold start.
    let (_, headers, _) = server.get(HOST_ZERO, "/").await;
    assert!(
        headers.get("server-timing").is_none(),
        "warm requests are not timed as cold starts"
    );
}
