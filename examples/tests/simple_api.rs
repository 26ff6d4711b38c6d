//! The `simple-api` binary, run as a real process and called over loopback.

mod support;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, header::HeaderMap};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use support::App;

const SIMPLE_API: &str = env!("CARGO_BIN_EXE_simple-api");

/// A response's status, headers and body parsed as JSON.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    json: Value,
}

/// One HTTP/1.1 request on a fresh connection.
async fn call(address: SocketAddr, request: Request<Full<Bytes>>) -> Reply {
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|error| panic!("every answer is JSON ({error}): {bytes:?}"));
    Reply {
        status: parts.status,
        headers: parts.headers,
        json,
    }
}

fn request(method: Method, path: &str) -> hyper::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "simple-api.default.example.com")
}

async fn get(address: SocketAddr, path: &str) -> Reply {
    call(
        address,
        request(Method::GET, path).body(Full::default()).unwrap(),
    )
    .await
}

#[tokio::test]
async fn root_welcomes_and_lists_the_endpoints() {
    let app = App::start(SIMPLE_API, &[]);
    let reply = get(app.address, "/").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(reply.json["message"], "Welcome to the simple API");
    assert_eq!(
        reply.json["endpoints"],
        json!(["/", "/health", "/info", "/echo"])
    );
}

#[tokio::test]
async fn health_reports_healthy_and_every_call_is_logged_as_one_line() {
    let app = App::start(SIMPLE_API, &[]);
    let reply = get(app.address, "/health").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json, json!({"status": "healthy"}));
    let line = app.next_line().expect("a log line per request");
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields[..3], ["GET", "/health", "200"], "log line {line:?}");
    assert!(
        fields.len() == 4 && fields[3].ends_with("ms"),
        "the line ends with the duration: {line:?}"
    );
}

#[tokio::test]
async fn info_names_the_app_its_version_host_pid_and_knative_revision() {
    let app = App::start(
        SIMPLE_API,
        &[
            ("VERSION", "v2"),
            ("HOSTNAME", "pod-1"),
            ("K_SERVICE", "simple-api"),
            ("K_REVISION", "simple-api-00001"),
        ],
    );
    let info = get(app.address, "/info").await.json;
    assert_eq!(info["name"], "simple-api");
    assert_eq!(info["version"], "v2", "VERSION overrides the crate version");
    assert_eq!(info["host"], "pod-1", "HOSTNAME names the host");
    assert!(info["pid"].as_u64().is_some_and(|pid| pid > 0), "{info}");
    assert_eq!(info["service"], "simple-api");
    assert_eq!(info["revision"], "simple-api-00001");
}

#[tokio::test]
async fn info_without_knative_variables_reports_the_crate_version_only() {
    let app = App::start(SIMPLE_API, &[]);
    let info = get(app.address, "/info").await.json;
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        info["host"].as_str().is_some_and(|h| !h.is_empty()),
        "{info}"
    );
    assert!(
        info.get("revision").is_none(),
        "no K_REVISION, no field: {info}"
    );
}

#[tokio::test]
async fn echo_returns_a_posted_json_body_parsed_and_the_custom_header() {
    let app = App::start(SIMPLE_API, &[]);
    let post = request(Method::POST, "/echo")
        .header("content-type", "application/json")
        .header("x-custom", "knserve")
        .body(Full::from(r#"{"hello":"world","n":[1,2]}"#))
        .unwrap();
    let reply = call(app.address, post).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["method"], "POST");
    assert_eq!(reply.json["headers"]["x-custom"], "knserve");
    assert_eq!(
        reply.json["body"],
        json!({"hello": "world", "n": [1, 2]}),
        "a JSON body is echoed as JSON"
    );
}

#[tokio::test]
async fn echo_returns_a_text_body_as_a_string_and_answers_get() {
    let app = App::start(SIMPLE_API, &[]);
    let post = request(Method::POST, "/echo")
        .header("content-type", "text/plain")
        .body(Full::from("{not json} plain text"))
        .unwrap();
    let reply = call(app.address, post).await;
    assert_eq!(reply.json["body"], "{not json} plain text");

    let reply = get(app.address, "/echo").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["method"], "GET");
    assert_eq!(reply.json["body"], "");
}

#[tokio::test]
async fn an_unknown_path_is_a_json_404() {
    let app = App::start(SIMPLE_API, &[]);
    let reply = get(app.address, "/nope").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json["error"], "not found");
    assert_eq!(app.next_line().unwrap().split(' ').nth(2), Some("404"));
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405_naming_the_allowed_ones() {
    let app = App::start(SIMPLE_API, &[]);
    let delete = request(Method::DELETE, "/health")
        .body(Full::default())
        .unwrap();
    let reply = call(app.address, delete).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers["allow"], "GET, HEAD");
    assert_eq!(reply.json["allowed"], json!(["GET", "HEAD"]));

    let put = request(Method::PUT, "/echo").body(Full::default()).unwrap();
    let reply = call(app.address, put).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers["allow"], "GET, HEAD, POST");
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_before_exiting() {
    let mut app = App::start(SIMPLE_API, &[]);
    let mut stream = TcpStream::connect(app.address).unwrap();
    // Half a body: the request has started and is waiting for the rest.
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    app.sigterm();
    std::thread::sleep(Duration::from_millis(200));
    stream.write_all(b"world").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "the request in flight at SIGTERM is answered: {response}"
    );
    assert!(response.contains(r#""body":"helloworld""#), "{response}");
    assert!(app.wait_exit(), "then the app exits 0");
}

#[test]
fn sigterm_with_nothing_in_flight_exits_cleanly() {
    let mut app = App::start(SIMPLE_API, &[]);
    app.sigterm();
    assert!(app.wait_exit(), "SIGTERM stops the server and exits 0");
}

#[test]
fn a_bad_bind_address_is_named_and_exits_non_zero() {
    let output = std::process::Command::new(SIMPLE_API)
        .env("BIND_ADDRESS", "localhost")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("BIND_ADDRESS must be an IP address"));
}
