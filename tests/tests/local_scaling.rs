//! `knserve serve` end to end, scaling: real processes over loopback, with the short
//! windows of [`support::FAST_CONFIG`].

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_against_target_five_scale_to_about_ten_instances_then_back_to_min_scale() {
    let server = Knserve::start("busy", FAST_CONFIG).await;
    let yaml = test_app_service(
        "busy",
        &[
            ("autoscaling.knative.dev/target", "5"),
            (
                "autoscaling.knative.dev/target-utilization-percentage",
                "100",
            ),
            ("autoscaling.knative.dev/min-scale", "1"),
            ("autoscaling.knative.dev/max-scale", "30"),
        ],
        &[("DELAY_MS", "200")],
        "",
    );
    server.apply("busy.yaml", &yaml).await;

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..50)
        .map(|_| {
            let (stop, failures, served) = (stop.clone(), failures.clone(), served.clone());
            let ingress = server.ingress;
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let (status, _, _) =
                        support::send(ingress, "busy.default.example.com", "/").await;
                    let counter = if status == 200 { &served } else { &failures };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let mut most = 0;
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        most = most.max(server.ready_instances("busy-00001").await);
        if most >= 10 && started.elapsed() > Duration::from_secs(8) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    eprintln!(
        "busy: at most {most} ready instances; {} requests served",
        served.load(Ordering::Relaxed)
    );
    assert!(
        (8..=14).contains(&most),
        "50 concurrent requests at target 5 want about 10 instances; saw at most {most}\n{}",
        server.log()
    );
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "no request fails while scaling up ({} served)",
        served.load(Ordering::Relaxed)
    );

    // Load gone: back to min-scale after the stable window.
    server
        .wait_instances("busy-00001", Duration::from_secs(40), |n| n == 1)
        .await;
}
