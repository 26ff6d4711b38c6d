//! Readiness probes (spec §4.3) against real loopback servers, in real time.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use http::{Request, Response, StatusCode};
use knserve_core::api::Probe;
use knserve_core::net::{Body, BoxError, ServeHandle, serve, text_response};
use knserve_core::queue::readiness::{
    PROBE_USER_AGENT, ProbeError, ProbeSpec, Readiness, parse_serving_readiness_probe,
};
use tokio::{net::TcpListener, time::Instant};
use tower::service_fn;

/// A loopback app whose `answer` sees the probe number (from 1) and the request.
struct App {
    server: ServeHandle,
    hits: Arc<AtomicUsize>,
}

impl App {
    async fn start<F>(answer: F) -> Self
    where
        F: Fn(usize, &Request<Body>) -> StatusCode + Clone + Send + Sync + 'static,
    {
        Self::start_slow(Duration::ZERO, answer).await
    }

    async fn start_slow<F>(delay: Duration, answer: F) -> Self
    where
        F: Fn(usize, &Request<Body>) -> StatusCode + Clone + Send + Sync + 'static,
    {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let service = service_fn(move |request: Request<Body>| {
            let hit = counter.fetch_add(1, Ordering::SeqCst) + 1;
            let status = answer(hit, &request);
            async move {
                tokio::time::sleep(delay).await;
                Ok::<Response<Body>, BoxError>(text_response(status, "probe"))
            }
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = serve(listener, service).unwrap();
        Self { server, hits }
    }

    fn port(&self) -> u16 {
        self.server.local_addr().port()
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn http_probe(json: &str, port: u16) -> Readiness {
    Readiness::from_env_json(json, port).expect("a valid probe")
}

const AGGRESSIVE_HTTP: &str = r#"{"httpGet":{"path":"/healthz"},"periodSeconds":0}"#;
const PERIODIC_HTTP: &str = r#"{"httpGet":{"path":"/healthz"},"periodSeconds":1}"#;

#[tokio::test]
async fn an_app_that_becomes_ready_after_some_attempts_passes_the_aggressive_check() {
    let app = App::start(|hit, _| {
        if hit >= 4 {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        }
    })
    .await;
    let readiness = http_probe(AGGRESSIVE_HTTP, app.port());
    let start = Instant::now();
    assert!(
        readiness.check().await,
        "aggressive mode retries until the app passes"
    );
    // At least: an attempt that overruns its 100 ms on a loaded machine is a failure.
    assert!(app.hits() >= 4, "attempts repeat until the app passes");
    assert!(
        start.elapsed() >= Duration::from_millis(150),
        "three 50 ms waits"
    );
    assert!(readiness.seen_ready());
}

#[tokio::test]
async fn once_ready_a_check_is_one_attempt_with_the_users_settings() {
    let app = App::start(|hit, _| {
        if hit == 1 {
            StatusCode::OK
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    })
    .await;
    let readiness = http_probe(AGGRESSIVE_HTTP, app.port());
    assert!(readiness.check().await);
    let start = Instant::now();
    assert!(!readiness.check().await, "the app now fails");
    assert_eq!(
        app.hits(),
        2,
        "no aggressive retries once the app has been ready"
    );
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_success_threshold_needs_passes_in_a_row() {
    let app = App::start(|hit, _| {
        if hit == 2 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        }
    })
    .await;
    let json = r#"{"httpGet":{},"periodSeconds":0,"successThreshold":3}"#;
    assert!(http_probe(json, app.port()).check().await);
    assert!(app.hits() >= 5, "pass, fail, then three passes in a row");
}

#[tokio::test]
async fn only_2xx_and_3xx_answers_pass() {
    for (status, ready) in [
        (StatusCode::OK, true),
        (StatusCode::NO_CONTENT, true),
        (StatusCode::FOUND, true),
        (StatusCode::NOT_FOUND, false),
        (StatusCode::INTERNAL_SERVER_ERROR, false),
    ] {
        let app = App::start(move |_, _| status).await;
        let readiness = http_probe(PERIODIC_HTTP, app.port());
        assert_eq!(readiness.check().await, ready, "status {status}");
        assert_eq!(app.hits(), 1, "a periodic probe is one attempt");
    }
}

#[tokio::test]
async fn the_probe_sends_a_kube_probe_agent_and_the_users_headers() {
    let seen = Arc::new(Mutex::new(None));
    let record = seen.clone();
    let app = App::start(move |_, request| {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        *record.lock().unwrap() = Some((
            header("user-agent"),
            header("x-custom"),
            request.uri().path().to_owned(),
        ));
        StatusCode::OK
    })
    .await;
    let json = r#"{"httpGet":{"path":"/ready","httpHeaders":[{"name":"X-Custom","value":"yes"}]},"periodSeconds":1}"#;
    assert!(http_probe(json, app.port()).check().await);
    let (agent, custom, path) = seen.lock().unwrap().clone().expect("the app was probed");
    assert_eq!(agent.as_deref(), Some(PROBE_USER_AGENT));
    assert!(PROBE_USER_AGENT.starts_with("kube-probe/"));
    assert_eq!(
        custom.as_deref(),
        Some("yes"),
        "the user's headers are sent"
    );
    assert_eq!(path, "/ready");
}

#[tokio::test]
async fn a_tcp_probe_passes_when_something_listens() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tcp = Readiness::new(vec![ProbeSpec::tcp(port)]);
    assert!(tcp.check().await, "a listening port passes");
    drop(listener);
    let json = r#"{"tcpSocket":{},"periodSeconds":1}"#;
    assert!(!http_probe(json, port).check().await, "a closed port fails");
}

#[tokio::test]
async fn all_probes_must_pass() {
    let ok = App::start(|_, _| StatusCode::OK).await;
    let failing = App::start(|_, _| StatusCode::SERVICE_UNAVAILABLE).await;
    let probe = |port: u16| serde_json::json!({"httpGet": {"port": port}, "periodSeconds": 1});
    let json = serde_json::json!([probe(ok.port()), probe(failing.port())]).to_string();
    assert!(!http_probe(&json, ok.port()).check().await);
    let json = serde_json::json!([probe(ok.port())]).to_string();
    assert!(
        http_probe(&json, failing.port()).check().await,
        "a named port is kept"
    );
}

#[tokio::test]
async fn concurrent_checks_share_one_probe() {
    let app = App::start_slow(Duration::from_millis(200), |_, _| StatusCode::OK).await;
    let readiness = http_probe(PERIODIC_HTTP, app.port());
    let checks: Vec<_> = (0..8)
        .map(|_| {
            let readiness = readiness.clone();
            tokio::spawn(async move { readiness.check().await })
        })
        .collect();
    for check in checks {
        assert!(check.await.unwrap());
    }
    assert_eq!(app.hits(), 1, "eight concurrent checks, one probe");
    assert!(readiness.check().await);
    assert_eq!(app.hits(), 2, "a later check probes afresh");
}

#[tokio::test]
async fn no_probe_is_always_ready() {
    assert!(Readiness::always().check().await);
    assert!(Readiness::from_env_json("", 8080).unwrap().check().await);
}

#[test]
fn bad_serving_readiness_probe_json_is_an_error_naming_the_problem() {
    let error = parse_serving_readiness_probe(r#"{"httpGet": {"port": "#, 8080).unwrap_err();
    assert!(matches!(error, ProbeError::Json(_)));
    let text = error.to_string();
    assert!(
        text.contains("SERVING_READINESS_PROBE") && text.contains("EOF"),
        "{text}"
    );
    let wrong_type =
        parse_serving_readiness_probe(r#"{"periodSeconds": "often"}"#, 8080).unwrap_err();
    assert!(
        wrong_type.to_string().contains("invalid type"),
        "{wrong_type}"
    );
    let no_handler = parse_serving_readiness_probe(r#"[{"periodSeconds": 1}]"#, 8080).unwrap_err();
    assert!(matches!(no_handler, ProbeError::NoHandler));
}

#[test]
fn a_probe_from_the_api_model_is_forced_to_loopback() {
    let probe: Probe =
        serde_json::from_str(r#"{"httpGet":{"host":"example.com","port":8080}}"#).unwrap();
    let spec = ProbeSpec::from_probe(&probe, 9999).unwrap();
    let expected = r#"Http { address: 127.0.0.1:8080, path: "/", headers: [] }"#;
    assert_eq!(
        format!("{:?}", spec.action),
        expected,
        "host forced, named port kept"
    );
    assert!(
        spec.is_aggressive(),
        "periodSeconds 0 (unset) is aggressive"
    );
}
