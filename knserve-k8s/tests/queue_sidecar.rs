//! `knserve-queue` as a real process on loopback, in front of a real HTTP app: the
//! environment contract, the proxy path, probes, stats, the concurrency limit and the
//! SIGTERM drain.

mod support;

use std::{process::Command, sync::atomic::Ordering, time::Duration};

use http::StatusCode;
use knserve_core::queue::stats;

use knserve_tests::promtool_check;

use self::support::{app, knative_env, send, start, text};

#[test]
fn a_missing_or_bad_variable_is_named_and_the_sidecar_exits_1() {
    let mut env = knative_env(8080, 0);
    env.retain(|(k, _)| k != "USER_PORT");
    let output = Command::new(env!("CARGO_BIN_EXE_knserve-queue"))
        .env_clear()
        .envs(env)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "knserve-queue: USER_PORT: required variable is missing (got \"\")"
    );

    let mut env = knative_env(8080, 0);
    env.push(("CONTAINER_CONCURRENCY".into(), "ten".into()));
    let output = Command::new(env!("CARGO_BIN_EXE_knserve-queue"))
        .env_clear()
        .envs(env)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("CONTAINER_CONCURRENCY: must be a whole number")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_probes_and_stats_work_as_knatives_sidecar() {
    let app = app().await;
    let sidecar = start(knative_env(app.address.port(), 0));

    let (status, body) = send(
        sidecar.serving,
        "/",
        &[
            ("host", "10.0.0.7:8012"),
            ("k-original-host", "hello.default.example.com"),
            ("knative-serving-revision", "hello-00001"),
            ("knative-serving-namespace", "default"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "http"),
        ],
    )
    .await;
    let body = text(&body);
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("host: hello.default.example.com\n"),
        "Host restored: {body}"
    );
    assert!(
        !body.contains("k-original-host"),
        "K-Original-Host removed: {body}"
    );
    assert!(
        !body.contains("knative-serving-"),
        "revision headers removed: {body}"
    );
    assert!(
        body.contains("forwarded: for=1.2.3.4;proto=http\n"),
        "Forwarded synthesised: {body}"
    );

    let probe = [
        ("user-agent", "kube-probe/1.30"),
        ("k-network-probe", "queue"),
    ];
    let (status, body) = send(sidecar.serving, "/", &probe).await;
    assert_eq!(
        (status, text(&body).as_str()),
        (StatusCode::OK, "queue"),
        "readiness answered by the sidecar"
    );

    let hash = [("k-network-probe", "probe"), ("k-network-hash", "abc123")];
    let (status, _) = send(sidecar.serving, "/", &hash).await;
    assert_eq!(status, StatusCode::OK, "hash probe answered");
    let (status, _) = send(sidecar.serving, "/", &[("k-network-probe", "probe")]).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a hash probe without a hash is refused"
    );

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (status, body) = send(sidecar.metrics, "/metrics", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let stat = stats::decode(&body).expect("the stat is protobuf");
    assert_eq!(stat.pod_name, "hello-00001-deployment-0");
    assert!(stat.process_uptime > 0.0, "uptime reported: {stat:?}");

    let (_, body) = send(sidecar.user_metrics, "/metrics", &[]).await;
    let body = text(&body);
    promtool_check(&body);
    assert!(
        body.contains(r#"revision_name="hello-00001""#),
        "labelled: {body}"
    );
    assert!(
        body.contains(r#"response_code="200",response_code_class="2xx"} 1"#),
        "the proxied request is counted once: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_concurrency_1_never_lets_two_requests_reach_the_app() {
    let app = app().await;
    // One worker: the sidecar runs its current-thread runtime (a sidecar given one CPU).
    let mut env = knative_env(app.address.port(), 1);
    env.push(("TOKIO_WORKER_THREADS".into(), "1".into()));
    let sidecar = start(env);
    let requests: Vec<_> = (0..6)
        .map(|_| tokio::spawn(send(sidecar.serving, "/slow", &[])))
        .collect();
    for request in requests {
        assert_eq!(
            request.await.unwrap().0,
            StatusCode::OK,
            "queued requests are served"
        );
    }
    assert_eq!(
        app.max_in_flight.load(Ordering::SeqCst),
        1,
        "CC=1: one request at a time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_fails_health_checks_and_finishes_admitted_requests() {
    let app = app().await;
    // Draining on SIGTERM works on the current-thread runtime too (one worker).
    let mut env = knative_env(app.address.port(), 0);
    env.push(("TOKIO_WORKER_THREADS".into(), "1".into()));
    let mut sidecar = start(env);
    let slow = tokio::spawn(send(sidecar.serving, "/slow", &[]));
    tokio::time::sleep(Duration::from_millis(100)).await;

    let pid = sidecar.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let probe = [
        ("user-agent", "kube-probe/1.30"),
        ("k-network-probe", "queue"),
    ];
    let (status, body) = send(sidecar.serving, "/", &probe).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "draining fails readiness: {}",
        text(&body)
    );

    assert_eq!(
        slow.await.unwrap().0,
        StatusCode::OK,
        "the admitted request completes"
    );
    let exit = tokio::task::spawn_blocking(move || {
        let status = sidecar.child.wait();
        (status, sidecar)
    })
    .await
    .unwrap();
    assert!(
        exit.0.unwrap().success(),
        "the sidecar exits 0 after draining"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_drain_without_sigterm_serves_again_a_second_later() {
    let app = app().await;
    let sidecar = start(knative_env(app.address.port(), 0));
    let probe = [
        ("user-agent", "kube-probe/1.30"),
        ("k-network-probe", "queue"),
    ];

    let (status, _) = send(sidecar.admin, "/wait-for-drain", &[]).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the preStop hook returns once drained"
    );
    let (status, _) = send(sidecar.serving, "/", &probe).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "drained: readiness fails"
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _) = send(sidecar.serving, "/", &probe).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "no SIGTERM followed: the drain is undone"
    );
}

/// As Knative's queue-proxy: a request that reaches the sidecar over h2c goes on to the app
/// over h2c (an h2c app sees HTTP/2), an HTTP/1.1 request as HTTP/1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_requests_reach_the_app_as_h2c_and_http1_as_http1() {
    let app = app().await;
    let sidecar = start(knative_env(app.address.port(), 0));
    let (status, body) = send(sidecar.serving, "/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text(&body).starts_with("version: HTTP/1.1\n"),
        "{}",
        text(&body)
    );

    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let response = client
        .request(
            http::Request::get(format!("http://{}/", sidecar.serving))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await
        .expect("h2c request");
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert!(
        text(&body).starts_with("version: HTTP/2.0\n"),
        "{}",
        text(&body)
    );
}
