//! `knserve-queue` as a real process on loopback, in front of a real HTTP app: the
//! environment contract, the proxy path, probes, stats, the concurrency limit and the
//! SIGTERM drain.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use knserve_core::{
    net::{self, Body, BoxError},
    queue::stats,
};
use tokio::net::TcpListener;

/// The app: `/` answers with its request headers, `/slow` after 400 ms; it records the
/// most requests it ever saw at once.
struct App {
    address: SocketAddr,
    max_in_flight: Arc<AtomicUsize>,
    _server: net::ServeHandle,
}

async fn app() -> App {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let (now, max) = (in_flight.clone(), max_in_flight.clone());
    let service = tower::service_fn(move |request: Request<Body>| {
        let (now, max) = (now.clone(), max.clone());
        async move {
            let current = now.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(current, Ordering::SeqCst);
            if request.uri().path() == "/slow" {
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            let mut text = String::new();
            for (name, value) in request.headers() {
                text.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("?")));
            }
            now.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, BoxError>(Response::new(net::full(text)))
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = net::serve(listener, service).unwrap();
    App {
        address: server.local_addr(),
        max_in_flight,
        _server: server,
    }
}

fn knative_env(user_port: u16, cc: u32) -> Vec<(String, String)> {
    [
        ("SERVING_NAMESPACE", "default"),
        ("SERVING_CONFIGURATION", "hello"),
        ("SERVING_REVISION", "hello-00001"),
        ("SERVING_POD", "hello-00001-deployment-0"),
        ("SERVING_POD_IP", "127.0.0.1"),
        ("QUEUE_SERVING_PORT", "0"),
        ("QUEUE_SERVING_TLS_PORT", "8112"),
        ("REVISION_TIMEOUT_SECONDS", "300"),
        ("SERVING_LOGGING_CONFIG", ""),
        ("SERVING_LOGGING_LEVEL", "info"),
        ("KNSERVE_QUEUE_BIND", "127.0.0.1"),
        ("KNSERVE_QUEUE_ADMIN_PORT", "0"),
        ("KNSERVE_QUEUE_METRICS_PORT", "0"),
        ("KNSERVE_QUEUE_USER_METRICS_PORT", "0"),
        ("KNSERVE_QUEUE_DRAIN_QUIET_PERIOD", "600ms"),
        (
            "OBSERVABILITY_CONFIG",
            r#"{"requestMetrics":{"protocol":"prometheus"}}"#,
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([
        ("USER_PORT".to_owned(), user_port.to_string()),
        ("CONTAINER_CONCURRENCY".to_owned(), cc.to_string()),
        (
            "SERVING_READINESS_PROBE".to_owned(),
            format!(
                r#"{{"tcpSocket":{{"port":{user_port},"host":"127.0.0.1"}},"successThreshold":1}}"#
            ),
        ),
    ])
    .collect()
}

/// The sidecar process and the addresses it printed; killed when dropped.
struct Sidecar {
    child: Child,
    serving: SocketAddr,
    admin: SocketAddr,
    metrics: SocketAddr,
    user_metrics: SocketAddr,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(env: Vec<(String, String)>) -> Sidecar {
    let mut child = Command::new(env!("CARGO_BIN_EXE_knserve-queue"))
        .env_clear()
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start knserve-queue");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let field = |name: &str| -> SocketAddr {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(name))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
    };
    Sidecar {
        serving: field("serving="),
        admin: field("admin="),
        metrics: field("metrics="),
        user_metrics: field("user-metrics="),
        child,
    }
}

async fn send(address: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (StatusCode, Bytes) {
    let mut request = Request::get(format!("http://{address}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = client
        .request(request.body(Full::new(Bytes::new())).unwrap())
        .await
        .expect("request");
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

fn text(body: &Bytes) -> String {
    String::from_utf8_lossy(body).into_owned()
}

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
    assert!(
        body.contains(r#"revision="hello-00001""#),
        "labelled: {body}"
    );
    assert!(
        body.contains(r#"code="200",code_class="2xx"} 1"#),
        "the proxied request is counted once: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_concurrency_1_never_lets_two_requests_reach_the_app() {
    let app = app().await;
    let sidecar = start(knative_env(app.address.port(), 1));
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
    let mut sidecar = start(knative_env(app.address.port(), 0));
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
