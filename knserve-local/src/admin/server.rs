//! The admin API's server side (the contract is in [`super`]).

use std::{pin::Pin, sync::Arc};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use knserve_core::api::{is_dns1123_label, is_dns1123_subdomain};
use knserve_core::net::{self, Body, BoxError, ServeHandle};
use serde::Serialize;
use tokio::net::TcpListener;
use tower::{service_fn, util::BoxCloneService};

use super::{API_PREFIX, Deleted, ErrorBody};
use crate::runtime::{ApplyErrorKind, Runtime};

/// The largest apply body accepted (bytes).
const MAX_BODY: usize = 4 << 20;

/// Serves the admin API for `runtime` on `listener`, requiring `token`.
pub fn serve(
    listener: TcpListener,
    runtime: Runtime,
    token: String,
) -> std::io::Result<ServeHandle> {
    let token: Arc<str> = token.into();
    let service =
        service_fn(move |request: Request<Body>| answer(request, runtime.clone(), token.clone()));
    net::serve(listener, BoxCloneService::new(service))
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

fn answer(request: Request<Body>, runtime: Runtime, token: Arc<str>) -> Answer {
    Box::pin(async move { Ok(handle(request, &runtime, &token).await) })
}

async fn handle(request: Request<Body>, runtime: &Runtime, token: &str) -> Response<Body> {
    let path = request.uri().path().to_owned();
    if path == "/metrics" && request.method() == Method::GET {
        return text(StatusCode::OK, runtime.metrics_text());
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
        (Method::POST, ["apply"]) => apply(request, runtime, false).await,
        (Method::POST, ["validate"]) => apply(request, runtime, true).await,
        (Method::GET, ["services"]) => json(StatusCode::OK, &runtime.services()),
        (Method::GET, ["configurations"]) => json(StatusCode::OK, &runtime.configurations()),
        (Method::GET, ["revisions"]) => json(StatusCode::OK, &runtime.revisions()),
        (Method::GET, ["routes"]) => json(StatusCode::OK, &runtime.routes()),
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

async fn apply(request: Request<Body>, runtime: &Runtime, dry_run: bool) -> Response<Body> {
    let body = match read_body(request.into_body()).await {
        Ok(body) => body,
        Err(message) => return error(StatusCode::BAD_REQUEST, format!("request body: {message}")),
    };
    let Ok(yaml) = std::str::from_utf8(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "request body: must be UTF-8 YAML".to_owned(),
        );
    };
    // Off the request path's threads: an apply syncs its files to disk.
    let (runtime, yaml) = (runtime.clone(), yaml.to_owned());
    let applied = tokio::task::spawn_blocking(move || runtime.apply_yaml(&yaml, dry_run)).await;
    let applied = match applied {
        Ok(applied) => applied,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, format!("apply: {e}")),
    };
    match applied {
        Ok(response) => json(StatusCode::OK, &response),
        Err(e) => {
            let status = match e.kind {
                ApplyErrorKind::Invalid => StatusCode::BAD_REQUEST,
                ApplyErrorKind::Storage => StatusCode::INTERNAL_SERVER_ERROR,
            };
            json(status, &ErrorBody { errors: e.errors })
        }
    }
}

/// [`Runtime::delete`] off the request path's threads: it syncs the directory.
async fn delete(runtime: &Runtime, namespace: &str, name: &str) -> Result<bool, String> {
    let (runtime, namespace, name) = (runtime.clone(), namespace.to_owned(), name.to_owned());
    match tokio::task::spawn_blocking(move || runtime.delete(&namespace, &name)).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// The whole body, refused past [`MAX_BODY`] bytes.
async fn read_body(mut body: Body) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > MAX_BODY {
                return Err(format!("larger than {MAX_BODY} bytes"));
            }
            bytes.extend_from_slice(&data);
        }
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
