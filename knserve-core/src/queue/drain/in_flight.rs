//! Requests in flight, upgraded connections included (§4.2 step 4).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use crate::net::guard_response;
use http::{Request, Response};
use tokio::sync::watch;
use tower::{Layer, Service};

use crate::net::{Body, BoxError, ConnectionHold};

/// A count of requests in flight that can be waited on until it reaches zero.
///
/// Clones share the count.
#[derive(Debug, Clone)]
pub struct InFlight {
    count: Arc<watch::Sender<usize>>,
}

impl Default for InFlight {
    fn default() -> Self {
        Self::new()
    }
}

impl InFlight {
    /// No request in flight.
    pub fn new() -> Self {
        Self {
            count: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Requests in flight now.
    pub fn count(&self) -> usize {
        *self.count.borrow()
    }

    /// Counts one request in until the guard is dropped.
    pub fn enter(&self) -> InFlightGuard {
        self.count.send_modify(|n| *n += 1);
        InFlightGuard {
            count: self.count.clone(),
        }
    }

    /// Returns once no request is in flight (at once if none is).
    pub async fn idle(&self) {
        let mut changes = self.count.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = changes.wait_for(|n| *n == 0).await;
    }
}

/// One request counted in; dropping it counts the request out.
#[derive(Debug)]
pub struct InFlightGuard {
    count: Arc<watch::Sender<usize>>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.count.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Puts a [`Track`] in front of a service.
#[derive(Debug, Clone)]
pub struct TrackLayer {
    in_flight: InFlight,
}

impl TrackLayer {
    /// Counts requests into `in_flight`.
    pub fn new(in_flight: InFlight) -> Self {
        Self { in_flight }
    }
}

impl<S> Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Track<S> {
        Track {
            inner,
            in_flight: self.in_flight.clone(),
        }
    }
}

/// Counts each request in flight from `call` until its response body ends (or the
/// request fails) — and, for an upgraded connection, until the tunnel closes, through
/// a guard pushed into the request's [`ConnectionHold`].
#[derive(Debug, Clone)]
pub struct Track<S> {
    inner: S,
    in_flight: InFlight,
}

impl<S> Service<Request<Body>> for Track<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let guard = Arc::new(self.in_flight.enter());
        ConnectionHold::attach(request.extensions_mut(), guard.clone());
        TrackFuture {
            inner: self.inner.call(request),
            guard: Some(guard),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Track`].
    #[derive(Debug)]
    pub struct TrackFuture<F> {
        #[pin]
        inner: F,
        guard: Option<Arc<InFlightGuard>>,
    }
}

impl<F> Future for TrackFuture<F>
where
    F: Future<Output = Result<Response<Body>, BoxError>>,
{
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let guard = this.guard.take();
        Poll::Ready(Ok(match guard {
            Some(guard) => guard_response(response, guard),
            None => response,
        }))
    }
}
