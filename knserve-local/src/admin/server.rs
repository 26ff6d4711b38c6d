//! The admin API's server side (the contract is in [`super`]).

use std::{pin::Pin, sync::Arc};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use knserve_core::api::{InputTooLarge, MAX_INPUT_BYTES, is_dns1123_label, is_dns1123_subdomain};
use knserve_core::net::{self, Body, BoxError, ServeHandle};
use serde::Serialize;
use tokio::net::TcpListener;
use tower::{service_fn, util::BoxCloneService};

use super::parser::{PARSER_WAIT, ParserError, ParserPool, RETRY_AFTER_SECS};
use super::{API_PREFIX, Deleted, ErrorBody};
use crate::runtime::{ApplyError, ApplyErrorKind, Manifests, Runtime};

/// How much of a body past the limit is read and dropped before the 413 is sent, so
/// that a client still sending gets the answer rather than a reset connection; past
/// this the connection is closed.
const DRAIN_PAST_LIMIT: usize = 2 * MAX_INPUT_BYTES;

/// Serves the admin API for `runtime` on `listener`, requiring `token`.
pub fn serve(
    listener: TcpListener,
    runtime: Runtime,
    token: String,
) -> std::io::Result<ServeHandle> {
    let admin = Arc::new(Admin {
        runtime,
        token,
        parser: ParserPool::new(PARSER_WAIT),
    });
    let service = service_fn(move |request: Request<Body>| answer(request, admin.clone()));
    net::serve(listener, BoxCloneService::new(service))
}

/// What every admin request is answered with.
#[derive(Debug)]
struct Admin {
    runtime: Runtime,
    token: String,
    parser: ParserPool,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

fn answer(request: Request<Body>, admin: Arc<Admin>) -> Answer {
    Box::pin(async move { Ok(handle(request, &admin).await) })
}

async fn handle(request: Request<Body>, admin: &Admin) -> Response<Body> {
    let (runtime, token) = (&admin.runtime, admin.token.as_str());
    let path = request.uri().path().to_owned();
    if path == "/metrics" && request.method() == Method::GET {
        return text(StatusCode::OK, runtime.metrics_text());
    }
    if path == super::DASHBOARD_PATH && request.method() == Method::GET {
        return dashboard_page();
    }
    let Some(rest) = path.strip_prefix(API_PREFIX) else {
        return error(StatusCode::NOT_FOUND, format!("no admin path {path}"));
    };
    if !authorized(&request, token) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Authorization: expected `Bearer <token>` with the token in the server's state directory (admin-token)".to_owned(),
        );
    }
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if let Err(message) = check_object_segments(&segments) {
        return error(StatusCode::BAD_REQUEST, message);
    }
    let method = request.method().clone();
    let query = request.uri().query().unwrap_or_default().to_owned();
    match (method, segments.as_slice()) {
        (Method::POST, ["apply"]) => apply(request, admin, false).await,
        (Method::POST, ["validate"]) => apply(request, admin, true).await,
        (Method::GET, ["services"]) => json(StatusCode::OK, &runtime.services()),
        (Method::GET, ["configurations"]) => json(StatusCode::OK, &runtime.configurations()),
        (Method::GET, ["revisions"]) => json(StatusCode::OK, &runtime.revisions()),
        (Method::GET, ["routes"]) => json(StatusCode::OK, &runtime.routes()),
        (Method::GET, ["dashboard"]) => json(StatusCode::OK, &runtime.dashboard()),
        (Method::GET, ["services", ns, name]) => match runtime.service(ns, name) {
            Some(service) => json(StatusCode::OK, &service),
            None => not_found("Service", ns, name),
        },
        (Method::DELETE, ["services", ns, name]) => match delete(runtime, ns, name).await {
            Ok(true) => json(
                StatusCode::OK,
                &Deleted {
                    deleted: format!("{ns}/{name}"),
                },
            ),
            Ok(false) => not_found("Service", ns, name),
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("not deleted: {e}"),
            ),
        },
        (Method::GET, ["revisions", ns, name]) => match runtime.revision(ns, name) {
            Some(revision) => json(StatusCode::OK, &revision),
            None => not_found("Revision", ns, name),
        },
        (Method::GET, ["revisions", ns, name, "logs"]) => {
            let tail = tail(&query);
            match runtime.logs(ns, name, tail) {
                Some(lines) => text(
                    StatusCode::OK,
                    lines.join("\n") + if lines.is_empty() { "" } else { "\n" },
                ),
                None => not_found("Revision", ns, name),
            }
        }
        (method, _) => error(
            StatusCode::NOT_FOUND,
            format!("no admin endpoint {method} {path}"),
        ),
    }
}

/// `{services,revisions}/{ns}/{name}/..`: the namespace must be a DNS-1123 label and
/// the name a DNS-1123 subdomain, as Kubernetes requires, before either is looked up.
fn check_object_segments(segments: &[&str]) -> Result<(), String> {
    let [_, namespace, name, ..] = segments else {
        return Ok(());
    };
    if !is_dns1123_label(namespace) {
        return Err(format!(
            "namespace: must be a DNS-1123 label (lowercase letters, digits and '-'), got {namespace:?}"
        ));
    }
    if !is_dns1123_subdomain(name) {
        return Err(format!(
            "name: must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.'), got {name:?}"
        ));
    }
    Ok(())
}

fn authorized(request: &Request<Body>, token: &str) -> bool {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return false;
    };
    let Some(given) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
        return false;
    };
    // Compare every byte, so the time taken does not tell how much of a guess matched.
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn apply(request: Request<Body>, admin: &Admin, dry_run: bool) -> Response<Body> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .unwrap_or(0);
    let body = match read_body(request.into_body(), declared).await {
        Ok(body) => body,
        Err(BodyError::TooLarge(e)) => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, format!("request body: {e}"));
        }
        Err(BodyError::Read(message)) => {
            return error(StatusCode::BAD_REQUEST, format!("request body: {message}"));
        }
    };
    // Decoded on the blocking pool under the parser's one permit, then stored (an
    // apply syncs its files) after the permit is given back. Once the permit is held
    // the whole apply runs to its end, even if the client goes away.
    let runtime = admin.runtime.clone();
    let applied = admin
        .parser
        .run(move |permit| {
            let manifests = decode(&body);
            drop(permit);
            runtime.apply_manifests(manifests?, dry_run)
        })
        .await;
    match applied {
        Ok(Ok(response)) => json(StatusCode::OK, &response),
        Ok(Err(e)) => {
            let status = match e.kind {
                ApplyErrorKind::Invalid => StatusCode::BAD_REQUEST,
                ApplyErrorKind::Storage => StatusCode::INTERNAL_SERVER_ERROR,
            };
            json(status, &ErrorBody { errors: e.errors })
        }
        Err(e @ ParserError::Busy { .. }) => {
            let mut response = error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, RETRY_AFTER_SECS.into());
            response
        }
        Err(e @ ParserError::Failed(_)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The Services, ConfigMaps and Secrets in a request body.
fn decode(body: &[u8]) -> Result<Manifests, ApplyError> {
    let yaml = std::str::from_utf8(body).map_err(|_| ApplyError {
        errors: vec!["request body: must be UTF-8 YAML".to_owned()],
        kind: ApplyErrorKind::Invalid,
    })?;
    Runtime::decode_manifests(yaml)
}

/// [`Runtime::delete`] off the request path's threads: it syncs the directory.
async fn delete(runtime: &Runtime, namespace: &str, name: &str) -> Result<bool, String> {
    let (runtime, namespace, name) = (runtime.clone(), namespace.to_owned(), name.to_owned());
    match tokio::task::spawn_blocking(move || runtime.delete(&namespace, &name)).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Why a request body was not read.
#[derive(Debug)]
enum BodyError {
    TooLarge(InputTooLarge),
    Read(String),
}

/// The whole body, refused past [`MAX_INPUT_BYTES`]. A declared `Content-Length` past
/// the limit is refused before any of the body is kept.
async fn read_body(mut body: Body, declared: u64) -> Result<Vec<u8>, BodyError> {
    let mut bytes = Vec::new();
    let mut too_large = declared > MAX_INPUT_BYTES as u64;
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len();
        too_large |= seen > MAX_INPUT_BYTES;
        if too_large {
            bytes = Vec::new();
            if seen > DRAIN_PAST_LIMIT {
                break;
            }
        } else {
            bytes.extend_from_slice(&data);
        }
    }
    if too_large {
        return Err(BodyError::TooLarge(InputTooLarge));
    }
    Ok(bytes)
}

fn tail(query: &str) -> usize {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("tail="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

fn not_found(kind: &str, namespace: &str, name: &str) -> Response<Body> {
    error(
        StatusCode::NOT_FOUND,
        format!("{kind} {namespace}/{name} not found"),
    )
}

fn error(status: StatusCode, message: String) -> Response<Body> {
    json(
        status,
        &ErrorBody {
            errors: vec![message],
        },
    )
}

fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value)
        .unwrap_or_else(|e| format!("{{\"errors\":[\"{e}\"]}}").into_bytes());
    let mut response = Response::new(net::full(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut response = net::text_response(status, body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The dashboard's page: the same bytes for everyone, holding no data (the page reads
/// the token from its URL's fragment, which never reaches the server, and sends it
/// with every `/v1/` request it makes). It may load nothing from elsewhere.
fn dashboard_page() -> Response<Body> {
    let mut response = Response::new(net::full(Bytes::from_static(
        super::DASHBOARD_HTML.as_bytes(),
    )));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src 'self' data:",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        http::HeaderValue::from_static("no-referrer"),
    );
    response
}
