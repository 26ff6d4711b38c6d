//! The autoscaler's HTTP endpoints: activators' stats in, Prometheus gauges and health
//! out.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use knserve_core::net::{self, Body, BoxError};
use tower::service_fn;
use tower::util::BoxCloneService;
use tracing::debug;

use super::Deciders;
use crate::servers::wire::{STATS_PATH, StatMessage};

/// The largest stats POST accepted (an activator batches up to 1024 stats).
pub const MAX_STATS_BODY: usize = 1 << 20;

/// A boxed HTTP service, as [`net::serve`] takes it.
pub type HttpService = BoxCloneService<Request<Body>, Response<Body>, BoxError>;

/// `POST /v1/stats`: a JSON array of [`StatMessage`] recorded into each revision's
/// collector. A stat for a revision not being scaled is dropped with a debug log; a body
/// that is not such an array is answered 400 naming the problem (Knative's autoscaler
/// likewise accepts stats only for revisions it scales).
///
/// The body is read whole before the deciders' lock is taken, and each record is
/// synchronous: the lock is a `std::sync::Mutex`, whose guard is not `Send`, so the
/// boxed `Send` future cannot hold it across an await.
pub fn stats_service(deciders: Arc<Deciders>) -> HttpService {
    BoxCloneService::new(service_fn(move |request: Request<Body>| {
        let deciders = deciders.clone();
        async move { Ok::<_, BoxError>(receive_stats(&deciders, request).await) }
    }))
}

async fn receive_stats(deciders: &Deciders, request: Request<Body>) -> Response<Body> {
    if request.uri().path() != STATS_PATH {
        return net::text_response(StatusCode::NOT_FOUND, "not found\n");
    }
    if request.method() != Method::POST {
        return net::text_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST a JSON array of stats\n",
        );
    }
    let body = match read_body(request.into_body()).await {
        Ok(body) => body,
        Err(text) => return net::text_response(StatusCode::BAD_REQUEST, text),
    };
    let messages = match parse_stats(&body) {
        Ok(messages) => messages,
        Err(error) => {
            let text = format!("invalid stats: {error}\n");
            return net::text_response(StatusCode::BAD_REQUEST, text);
        }
    };
    for message in messages {
        let (revision, stat) = message.into_parts();
        if !deciders.record(&revision, &stat) {
            debug!(%revision, pod = %stat.pod_name, "stat for an unknown revision ignored");
        }
    }
    net::text_response(StatusCode::OK, "")
}

/// The body, at most [`MAX_STATS_BODY`] bytes (a frame loop rather than `Limited`, whose
/// boxed error trips rustc's higher-ranked inference inside a boxed service).
async fn read_body(mut body: Body) -> Result<Bytes, String> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("cannot read the stats body: {e}\n"))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > MAX_STATS_BODY {
                return Err(format!("stats body exceeds {MAX_STATS_BODY} bytes\n"));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(out))
}

fn parse_stats(body: &Bytes) -> Result<Vec<StatMessage>, serde_json::Error> {
    serde_json::from_slice(body)
}

/// `GET /metrics` (Prometheus text of [`Deciders::render_metrics`]) and `GET /healthz`.
pub fn metrics_service(deciders: Arc<Deciders>) -> HttpService {
    BoxCloneService::new(service_fn(move |request: Request<Body>| {
        let deciders = deciders.clone();
        async move {
            let response = match (request.method(), request.uri().path()) {
                (&Method::GET, "/healthz") => net::text_response(StatusCode::OK, "ok\n"),
                (&Method::GET, "/metrics") => {
                    let mut response =
                        net::text_response(StatusCode::OK, deciders.render_metrics());
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                    );
                    response
                }
                _ => net::text_response(StatusCode::NOT_FOUND, "not found\n"),
            };
            Ok::<_, BoxError>(response)
        }
    }))
}
