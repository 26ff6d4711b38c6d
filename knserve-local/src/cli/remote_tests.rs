//! `run` against a scripted admin server on loopback: the HTTP client, the bearer token,
//! apply's polling and each command's handling of error statuses.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;

use super::fixtures::ready_service;
use super::*;

const TOKEN: &str = "secret-token";

/// A state directory whose `server.json` points at a scripted server.
struct Fake {
    dir: PathBuf,
    polls: Arc<AtomicUsize>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

impl Fake {
    async fn start(name: &str, ready_after: usize) -> Self {
        let dir = std::env::temp_dir().join(format!("knserve-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let admin = listener.local_addr().expect("address");
        let info = json!({"pid": 1, "admin": admin.to_string(), "ingress": "127.0.0.1:8080"});
        std::fs::write(dir.join("server.json"), info.to_string()).expect("server.json");
        std::fs::write(dir.join("admin-token"), format!("{TOKEN}\n")).expect("token");
        let polls = Arc::new(AtomicUsize::new(0));
        let counter = polls.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = counter.clone();
                let service = service_fn(move |req| answer(req, counter.clone(), ready_after));
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Self { dir, polls }
    }

    fn state(&self) -> StateDir {
        StateDir::new(&self.dir)
    }

    fn file(&self, text: &str) -> String {
        let path = self.dir.join("svc.yaml");
        std::fs::write(&path, text).expect("write yaml");
        path.display().to_string()
    }
}

async fn answer(
    req: Request<Incoming>,
    polls: Arc<AtomicUsize>,
    ready_after: usize,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let authorized = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .is_some_and(|v| v == format!("Bearer {TOKEN}").as_str());
    let reply = |status: StatusCode, body: serde_json::Value| {
        let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
        *response.status_mut() = status;
        Ok(response)
    };
    if !authorized {
        return reply(StatusCode::UNAUTHORIZED, json!({"errors": ["bad token"]}));
    }
    let path = req.uri().path().to_owned();
    match (req.method().as_str(), path.as_str()) {
        ("POST", "/v1/apply") => reply(
            StatusCode::OK,
            json!({"results": [{"kind": "Service", "namespace": "default", "name": "hello",
                                "action": "created", "warnings": ["unknown key"]}]}),
        ),
        ("GET", "/v1/services/default/hello") => {
            let mut service = ready_service();
            if polls.fetch_add(1, Ordering::SeqCst) < ready_after {
                service.status.as_mut().expect("status").observed_generation = Some(0);
            }
            reply(
                StatusCode::OK,
                serde_json::to_value(service).expect("serializes"),
            )
        }
        ("GET", "/v1/services") => reply(StatusCode::OK, json!([ready_service()])),
        ("DELETE", "/v1/services/default/hello") => {
            reply(StatusCode::OK, json!({"deleted": "default/hello"}))
        }
        _ => reply(StatusCode::NOT_FOUND, json!({"errors": ["not found"]})),
    }
}

fn command(args: &[&str]) -> ClientCommand {
    super::tests::parse(args).expect("test arguments parse")
}

#[tokio::test]
async fn apply_polls_until_the_service_is_ready_for_its_generation() {
    let fake = Fake::start("apply", 2).await;
    let file = fake.file("apiVersion: serving.knative.dev/v1\nkind: Service\n");
    let code = run(command(&["apply", "-f", &file]), &fake.state())
        .await
        .expect("apply runs");
    assert_eq!(code, ExitCode::SUCCESS, "the service became ready");
    assert_eq!(
        fake.polls.load(Ordering::SeqCst),
        3,
        "two stale answers, then the ready one ends the wait"
    );
}

#[tokio::test]
async fn apply_times_out_naming_the_pending_condition() {
    let fake = Fake::start("timeout", usize::MAX).await;
    let file = fake.file("apiVersion: serving.knative.dev/v1\nkind: Service\n");
    let args = ["apply", "-f", &file, "--wait-timeout", "1s"];
    let code = run(command(&args), &fake.state())
        .await
        .expect("apply runs");
    assert_eq!(
        code,
        ExitCode::FAILURE,
        "a service never ready fails the apply"
    );
    let polls = fake.polls.load(Ordering::SeqCst);
    assert!(
        (3..=6).contains(&polls),
        "polled about every 250ms for 1s, then gave up: {polls} polls"
    );
}

#[tokio::test]
async fn apply_without_waiting_does_not_poll() {
    let fake = Fake::start("nowait", 0).await;
    let file = fake.file("x: y\n");
    let code = run(command(&["apply", "-f", &file, "--no-wait"]), &fake.state())
        .await
        .expect("apply runs");
    assert_eq!(code, ExitCode::SUCCESS);
    assert_eq!(
        fake.polls.load(Ordering::SeqCst),
        0,
        "--no-wait never reads the service"
    );
}

#[tokio::test]
async fn get_describe_and_delete_talk_to_the_server() {
    let fake = Fake::start("query", 0).await;
    for args in [
        &["get", "ksvc"][..],
        &["get", "ksvc", "-o", "json", "-A"],
        &["describe", "ksvc", "hello"],
        &["delete", "ksvc", "hello"],
    ] {
        let code = run(command(args), &fake.state()).await;
        assert_eq!(
            code.expect("command succeeds"),
            ExitCode::SUCCESS,
            "{args:?}"
        );
    }
}

#[tokio::test]
async fn a_missing_service_is_named_in_the_error() {
    let fake = Fake::start("missing", 0).await;
    let err = run(
        command(&["delete", "ksvc", "nope", "-n", "prod"]),
        &fake.state(),
    )
    .await
    .expect_err("the server answers 404");
    assert_eq!(
        err.to_string(),
        "service 'nope' not found in namespace 'prod'"
    );
    let err = run(command(&["logs", "nope-00001"]), &fake.state())
        .await
        .expect_err("the server answers 404");
    assert_eq!(
        err.to_string(),
        "revision 'nope-00001' not found in namespace 'default'"
    );
}

#[tokio::test]
async fn a_wrong_token_is_reported_with_the_servers_error() {
    let fake = Fake::start("token", 0).await;
    std::fs::write(fake.dir.join("admin-token"), "wrong").expect("token");
    let err = run(command(&["get", "routes"]), &fake.state())
        .await
        .expect_err("unauthorized");
    assert!(err.to_string().contains("401"), "{err}");
}
