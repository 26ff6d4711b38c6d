//! `simple-api`: a small JSON API — the Flask app of Knative's `simple-api` manifest,
//! written with hyper.
//!
//! Run with:
//!
//! ```text
//! PORT=8080 cargo run -p knserve-examples --bin simple-api
//! curl http://127.0.0.1:8080/info
//! curl -d '{"hello":"world"}' -H 'Content-Type: application/json' http://127.0.0.1:8080/echo
//! ```
//!
//! Endpoints: `GET /` (welcome), `GET /health`, `GET /info` (name, version, host, pid and
//! the Knative service and revision), `GET|POST /echo` (the method, headers and body).
//!
//! `PORT` (default 8080; 0 picks a free port) is the port knserve and Knative set;
//! `BIND_ADDRESS` (default `127.0.0.1`) is the address to listen on — set `0.0.0.0` in a
//! container; `VERSION` overrides the version `/info` reports. Each request is logged to
//! stdout as `METHOD PATH STATUS DURATION`. SIGTERM or Ctrl-C stops accepting
//! connections and exits once the requests in flight are answered.

use std::{
    convert::Infallible,
    io::Write as _,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{
    Method, Request, Response, StatusCode,
    body::Incoming,
    header::{ALLOW, CONTENT_TYPE, HeaderMap, HeaderValue},
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::{conn::auto, graceful::GracefulShutdown},
};
use serde_json::{Map, Value, json};
use tokio::{net::TcpListener, time::Instant};

/// The largest request body `/echo` reads.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long shutdown waits for requests in flight (Knative's default grace is 30s).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let address = listen_address()?;
    // Installed before the first request can arrive, so SIGTERM is never fatal.
    let shutdown = shutdown_signal()?;
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("listening on {address}"))?;
    println!("simple-api listening on {}", listener.local_addr()?);
    let info = Arc::new(app_info());
    serve(listener, info, shutdown).await;
    Ok(())
}

/// `BIND_ADDRESS:PORT` from the environment.
fn listen_address() -> anyhow::Result<SocketAddr> {
    let port: u16 = std::env::var("PORT")
        .unwrap_or_else(|_| "8080".into())
        .parse()
        .context("PORT must be a port number")?;
    let bind: IpAddr = std::env::var("BIND_ADDRESS")
        .unwrap_or_else(|_| "127.0.0.1".into())
        .parse()
        .context("BIND_ADDRESS must be an IP address")?;
    Ok(SocketAddr::new(bind, port))
}

/// Resolves on SIGTERM (what Kubernetes and knserve send) or Ctrl-C.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        #[cfg(unix)]
        let terminate = terminate.recv();
        #[cfg(not(unix))]
        let terminate = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = terminate => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    })
}

/// Accepts connections until `shutdown`, then lets open connections finish their requests.
async fn serve(listener: TcpListener, info: Arc<Value>, shutdown: impl Future<Output = ()>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    // E.g. out of file descriptors: back off rather than spin.
                    eprintln!("simple-api: accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let info = info.clone();
        let service = hyper::service::service_fn(move |request| handle(info.clone(), request));
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                eprintln!("simple-api: connection error: {error}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("simple-api: requests still open after {DRAIN_TIMEOUT:?}; exiting");
    }
}

/// Answers one request and logs it as `METHOD PATH STATUS DURATION`.
async fn handle(
    info: Arc<Value>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = route(&info, request).await;
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    // Not `println!`: a closed stdout must not take the request down with a panic.
    let _ = writeln!(std::io::stdout(), "{method} {path} {status} {millis:.3}ms");
    Ok(response)
}

/// The endpoints, by path.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Welcome,
    Health,
    Info,
    Echo,
}

impl Endpoint {
    const ALL: [(&'static str, Endpoint); 4] = [
        ("/", Self::Welcome),
        ("/health", Self::Health),
        ("/info", Self::Info),
        ("/echo", Self::Echo),
    ];

    fn at(path: &str) -> Option<Self> {
        Self::ALL.iter().find(|(p, _)| *p == path).map(|(_, e)| *e)
    }

    /// The methods the endpoint answers; HEAD goes with GET, as in Flask.
    fn methods(self) -> &'static [Method] {
        match self {
            Self::Echo => &[Method::GET, Method::HEAD, Method::POST],
            _ => &[Method::GET, Method::HEAD],
        }
    }
}

async fn route(info: &Value, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(endpoint) = Endpoint::at(request.uri().path()) else {
        let error = json!({"error": "not found", "path": request.uri().path()});
        return json_response(StatusCode::NOT_FOUND, &error);
    };
    let allowed = endpoint.methods();
    if !allowed.contains(request.method()) {
        return method_not_allowed(allowed);
    }
    match endpoint {
        Endpoint::Welcome => json_response(StatusCode::OK, &welcome()),
        Endpoint::Health => json_response(StatusCode::OK, &json!({"status": "healthy"})),
        Endpoint::Info => json_response(StatusCode::OK, info),
        Endpoint::Echo => echo(request).await,
    }
}

fn welcome() -> Value {
    let endpoints: Vec<&str> = Endpoint::ALL.iter().map(|(path, _)| *path).collect();
    json!({"message": "Welcome to the simple API", "endpoints": endpoints})
}

/// What `/info` reports; read once at start, as none of it changes.
fn app_info() -> Value {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let host = env("HOSTNAME")
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map_or_else(|| "unknown".to_owned(), |h| h.trim().to_owned());
    let mut info = json!({
        "name": "simple-api",
        "version": env("VERSION").unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned()),
        "host": host,
        "pid": std::process::id(),
    });
    // Knative (and knserve) tell the app which service and revision it serves.
    for (key, var) in [("service", "K_SERVICE"), ("revision", "K_REVISION")] {
        if let Some(value) = env(var) {
            info[key] = Value::String(value);
        }
    }
    info
}

/// The request's method, headers and body. The body is parsed when the request says it
/// is JSON (`Content-Type: application/json` or `…+json`) and parses; otherwise it is
/// echoed as text, invalid UTF-8 replaced.
async fn echo(request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let Ok(collected) = Limited::new(body, MAX_BODY_BYTES).collect().await else {
        let error = json!({"error": "body unreadable or larger than 1 MiB"});
        return json_response(StatusCode::PAYLOAD_TOO_LARGE, &error);
    };
    let bytes = collected.to_bytes();
    let parsed = is_json(&parts.headers)
        .then(|| serde_json::from_slice::<Value>(&bytes).ok())
        .flatten();
    let body = parsed.unwrap_or_else(|| String::from_utf8_lossy(&bytes).into());
    let echoed = json!({
        "method": parts.method.as_str(),
        "headers": headers_json(&parts.headers),
        "body": body,
    });
    json_response(StatusCode::OK, &echoed)
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
}

/// Headers as an object; a repeated header's values are joined with `, `.
fn headers_json(headers: &HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for name in headers.keys() {
        let values: Vec<_> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .collect();
        out.insert(name.as_str().to_owned(), values.join(", ").into());
    }
    out
}

fn method_not_allowed(allowed: &[Method]) -> Response<Full<Bytes>> {
    let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    let error = json!({"error": "method not allowed", "allowed": names});
    let mut response = json_response(StatusCode::METHOD_NOT_ALLOWED, &error);
    if let Ok(allow) = HeaderValue::from_str(&names.join(", ")) {
        response.headers_mut().insert(ALLOW, allow);
    }
    response
}

fn json_response(status: StatusCode, value: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{value}\n"))));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
