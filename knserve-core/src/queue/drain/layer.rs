//! The drainer as a tower layer (§4.2 step 3).

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service};
use tracing::debug;

use super::DrainHandle;
use crate::net::{Body, BoxError, empty, headers, text_response};
use crate::queue::readiness::Readiness;

/// Body of the 503 a health check gets while draining.
pub const SHUTTING_DOWN: &str = "shutting down";
/// Body of the 400 a hash probe without `K-Network-Hash` gets.
pub const MISSING_HASH: &str = "a probe request must contain a non-empty \"K-Network-Hash\" header";
/// Body of the 503 a health check gets when the user container is not ready.
const NOT_READY: &str = "user container not ready";

/// What the drain layer does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A health check or hash probe while draining: 503 `shutting down`.
    ShuttingDown,
    /// A health check: run the readiness check, 200 `queue` or 503.
    CheckReadiness,
    /// A `K-Network-Probe` value this layer does not answer, or a health check without
    /// `K-Network-Probe: queue`: 400 `unexpected probe header value: <value>`.
    BadProbe(String),
    /// A hash probe: 200 echoing this `K-Network-Hash`.
    EchoHash(HeaderValue),
    /// A hash probe without a hash: 400.
    MissingHash,
    /// Any other request: restart the quiet timer and pass it on.
    Pass,
}

/// Classifies a request (§4.2 step 3, §4.3), in Knative's order: health checks
/// (kubelet, activator or autoscaler User-Agent, or `K-Network-Probe: queue`) first,
/// then hash probes, then other `K-Network-Probe` values.
///
/// A health check must carry `K-Network-Probe: queue` (Knative's probe handler rejects
/// anything else with 400, an absent header included); the queue-proxy's own
/// Kubernetes readiness probe always sends it.
pub fn decide(headers: &HeaderMap, draining: bool) -> Decision {
    let probe = headers::network_probe(headers);
    if headers::is_health_check(headers) || probe == Some(headers::PROBE_QUEUE) {
        return match probe {
            _ if draining => Decision::ShuttingDown,
            Some(headers::PROBE_QUEUE) => Decision::CheckReadiness,
            other => Decision::BadProbe(other.unwrap_or("").to_owned()),
        };
    }
    match probe {
        None => Decision::Pass,
        Some(headers::PROBE_HASH) if draining => Decision::ShuttingDown,
        Some(headers::PROBE_HASH) => match headers.get(headers::K_NETWORK_HASH) {
            Some(hash) if !hash.is_empty() => Decision::EchoHash(hash.clone()),
            _ => Decision::MissingHash,
        },
        Some(other) => Decision::BadProbe(other.to_owned()),
    }
}

/// Puts a [`Drain`] in front of a service.
#[derive(Debug, Clone)]
pub struct DrainLayer {
    handle: DrainHandle,
    readiness: Readiness,
}

impl DrainLayer {
    /// Drains through `handle` and answers health checks with `readiness`.
    pub fn new(handle: DrainHandle, readiness: Readiness) -> Self {
        Self { handle, readiness }
    }
}

impl<S> Layer<S> for DrainLayer {
    type Service = Drain<S>;

    fn layer(&self, inner: S) -> Drain<S> {
        Drain {
            inner,
            handle: self.handle.clone(),
            readiness: self.readiness.clone(),
        }
    }
}

/// Answers health checks and Knative probes itself (see [`decide`]); every other
/// request restarts the drain quiet timer and goes to the inner service. Draining
/// only changes the answers to health checks: admitted requests are never dropped.
#[derive(Debug, Clone)]
pub struct Drain<S> {
    inner: S,
    handle: DrainHandle,
    readiness: Readiness,
}

impl<S> Service<Request<Body>> for Drain<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let decision = decide(request.headers(), self.handle.is_draining());
        let kind = match decision {
            Decision::Pass => {
                self.handle.request_seen();
                Kind::Inner {
                    future: self.inner.call(request),
                }
            }
            Decision::CheckReadiness => {
                let readiness = self.readiness.clone();
                Kind::Check {
                    check: Box::pin(async move { readiness.check().await }),
                }
            }
            Decision::ShuttingDown => reply(text_response(
                StatusCode::SERVICE_UNAVAILABLE,
                SHUTTING_DOWN,
            )),
            Decision::BadProbe(value) => reply(text_response(
                StatusCode::BAD_REQUEST,
                format!("unexpected probe header value: {value}"),
            )),
            Decision::MissingHash => reply(text_response(StatusCode::BAD_REQUEST, MISSING_HASH)),
            Decision::EchoHash(hash) => {
                let mut response = Response::new(empty());
                response.headers_mut().insert(headers::K_NETWORK_HASH, hash);
                reply(response)
            }
        };
        ResponseFuture { kind }
    }
}

fn reply<F>(response: Response<Body>) -> Kind<F> {
    debug!(status = %response.status(), "drain layer answered a probe");
    Kind::Answer {
        response: Some(response),
    }
}

fn readiness_response(ready: bool) -> Response<Body> {
    if ready {
        text_response(StatusCode::OK, headers::PROBE_QUEUE)
    } else {
        text_response(StatusCode::SERVICE_UNAVAILABLE, NOT_READY)
    }
}

type Check = Pin<Box<dyn Future<Output = bool> + Send>>;

pin_project_lite::pin_project! {
    /// The response future of [`Drain`].
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Answer { response: Option<Response<Body>> },
        Check { check: Check },
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Inner { .. } => "inner",
            Kind::Answer { .. } => "answer",
            Kind::Check { .. } => "readiness check",
        };
        f.debug_struct("ResponseFuture")
            .field("kind", &kind)
            .finish()
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, BoxError>>,
{
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Answer { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
            KindProj::Check { check } => check
                .as_mut()
                .poll(cx)
                .map(|ready| Ok(readiness_response(ready))),
        }
    }
}
