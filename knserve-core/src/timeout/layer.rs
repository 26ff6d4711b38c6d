//! The timeout as a tower layer.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};
use tracing::debug;

use super::{Expired, TimeoutBody, TimeoutGuard, TimeoutLimits};
use crate::net::{Body, BoxError, text_response};
use crate::time::Timestamp;

/// The queue-proxy's 504 body (§4.2 step 7).
pub const QUEUE_TIMEOUT_BODY: &str = "request timeout";
/// The activator's 504 body (§3.7).
pub const ACTIVATOR_TIMEOUT_BODY: &str = "activator request timeout";

/// The error a response body ends with when a limit runs out after the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} timeout expired")]
pub struct TimedOut(pub Expired);

/// Applies [`TimeoutLimits`] to every request; see [`Timeout`].
#[derive(Debug, Clone)]
pub struct TimeoutLayer {
    limits: TimeoutLimits,
    body: Bytes,
}

impl TimeoutLayer {
    /// `limits` for requests that carry none, answering 504 with `body`.
    pub fn new(limits: TimeoutLimits, body: impl Into<Bytes>) -> Self {
        Self {
            limits,
            body: body.into(),
        }
    }

    /// The queue-proxy's handler: 504 `request timeout`.
    pub fn queue_proxy(limits: TimeoutLimits) -> Self {
        Self::new(limits, QUEUE_TIMEOUT_BODY)
    }

    /// The activator's handler: 504 `activator request timeout`.
    pub fn activator(limits: TimeoutLimits) -> Self {
        Self::new(limits, ACTIVATOR_TIMEOUT_BODY)
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            limits: self.limits,
            body: self.body.clone(),
        }
    }
}

/// Enforces `timeoutSeconds`, `responseStartTimeoutSeconds` and `idleTimeoutSeconds`
/// (spec §3.7) around the inner service.
///
/// The clock starts when [`call`](Service::call) is made, so time the inner service
/// spends queueing the request (a breaker below this layer) counts toward the total.
/// A limit that runs out before the inner service answers drops its future — which
/// also cancels a queued wait — and answers 504 with the configured body. After the
/// headers, the body is wrapped in a [`TimeoutBody`] that ends with [`TimedOut`]
/// instead (see the module doc, §8 note (a)). A [`TimeoutLimits`] request extension
/// replaces the layer's limits for that request.
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    limits: TimeoutLimits,
    body: Bytes,
}

impl<S> Service<Request<Body>> for Timeout<S>
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
        let limits = request
            .extensions()
            .get::<TimeoutLimits>()
            .copied()
            .unwrap_or(self.limits);
        let epoch = Instant::now();
        let guard = TimeoutGuard::new(Timestamp::ZERO, limits);
        let sleep = tokio::time::sleep_until(deadline(epoch, &guard));
        ResponseFuture {
            inner: self.inner.call(request),
            sleep,
            state: Some((guard, epoch)),
            body: self.body.clone(),
        }
    }
}

/// The instant a guard whose time starts at `epoch` next needs looking at.
pub(super) fn deadline(epoch: Instant, guard: &TimeoutGuard) -> Instant {
    epoch + guard.next_deadline().since_epoch()
}

/// `now` on the time line of a guard whose time starts at `epoch`.
pub(super) fn since(epoch: Instant) -> Timestamp {
    Timestamp::from_duration(Instant::now().saturating_duration_since(epoch))
}

pin_project_lite::pin_project! {
    /// The response future of [`Timeout`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Sleep,
        state: Option<(TimeoutGuard, Instant)>,
        body: Bytes,
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, BoxError>>,
{
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            let (mut guard, epoch) = this.state.take().expect("polled after completion");
            let response = result?;
            guard.headers_started(since(epoch));
            let message = std::mem::take(this.body);
            return Poll::Ready(Ok(
                response.map(|body| TimeoutBody::new(body, guard, epoch, message).boxed_unsync())
            ));
        }
        loop {
            ready!(this.sleep.as_mut().poll(cx));
            let (guard, epoch) = this.state.as_ref().expect("polled after completion");
            if let Some(limit) = guard.expired(since(*epoch)) {
                debug!(%limit, "request timed out before the response started");
                this.state.take();
                return Poll::Ready(Ok(text_response(
                    StatusCode::GATEWAY_TIMEOUT,
                    this.body.clone(),
                )));
            }
            this.sleep.as_mut().reset(deadline(*epoch, guard));
        }
    }
}
