//! What the sidecar tests share: a real HTTP app, Knative's environment, the sidecar
//! process, and a one-shot HTTP client.

#![allow(dead_code)] // Each test file uses a different part.

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
use knserve_core::net::{self, Body, BoxError};
use tokio::net::TcpListener;

/// The app: `/` answers with its request's protocol version and headers, `/slow` after
/// 400 ms; it records the
/// most requests it ever saw at once.
pub struct App {
    pub address: SocketAddr,
    pub max_in_flight: Arc<AtomicUsize>,
    _server: net::ServeHandle,
}

pub async fn app() -> App {
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
            // The protocol the request reached the app with, then its headers.
            let mut text = format!("version: {:?}\n", request.version());
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

pub fn knative_env(user_port: u16, cc: u32) -> Vec<(String, String)> {
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
pub struct Sidecar {
    pub child: Child,
    pub serving: SocketAddr,
    pub admin: SocketAddr,
    pub metrics: SocketAddr,
    pub user_metrics: SocketAddr,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(env: Vec<(String, String)>) -> Sidecar {
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

pub async fn send(
    address: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Bytes) {
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

pub fn text(body: &Bytes) -> String {
    String::from_utf8_lossy(body).into_owned()
}
