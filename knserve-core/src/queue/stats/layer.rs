//! The stats layer: every request except kubelet probes counted in and out (§4.2 step 9).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::handle::StatsHandle;
use crate::net::guard_response;
use crate::net::{Body, BoxError, ConnectionHold, headers};

/// Builds [`Stats`] services that all count into one [`StatsHandle`].
#[derive(Debug, Clone)]
pub struct StatsLayer {
    handle: StatsHandle,
}

impl StatsLayer {
    /// Counts into `handle`.
    pub fn new(handle: StatsHandle) -> Self {
        Self { handle }
    }
}

impl<S> Layer<S> for StatsLayer {
    type Service = Stats<S>;

    fn layer(&self, inner: S) -> Stats<S> {
        Stats {
            inner,
            handle: self.handle.clone(),
        }
    }
}

/// Counts each request in when it arrives and out when its response body ends or is
/// dropped, or when the inner service fails — proxied when it carries
/// `K-Proxy-Request: activator`. Kubelet probes are not counted. An upgraded
/// connection (websocket) counts until it closes, through [`ConnectionHold`].
///
/// It sits outside the breaker, so requests queued there count as concurrency, as in
/// Knative: the autoscaler sees the load offered to the pod, not only what the app
/// accepted.
#[derive(Debug, Clone)]
pub struct Stats<S> {
    inner: S,
    handle: StatsHandle,
}

/// One counted request; dropping the last reference counts it out.
struct InFlight {
    handle: StatsHandle,
    proxied: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.handle.request_out(self.proxied);
    }
}

impl<S> Service<Request<Body>> for Stats<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        if headers::is_kubelet_probe(request.headers()) {
            let future = self.inner.call(request);
            return ResponseFuture {
                future,
                in_flight: None,
            };
        }
        let proxied = headers::is_proxied(request.headers());
        self.handle.request_in(proxied);
        let in_flight = Arc::new(InFlight {
            handle: self.handle.clone(),
            proxied,
        });
        ConnectionHold::attach(request.extensions_mut(), in_flight.clone());
        ResponseFuture {
            future: self.inner.call(request),
            in_flight: Some(in_flight),
        }
    }
}

pin_project! {
    /// The response future of [`Stats`].
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        in_flight: Option<Arc<InFlight>>,
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, BoxError>>,
{
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.future.poll(cx));
        let in_flight = this.in_flight.take();
        Poll::Ready(result.map(|response| match in_flight {
            Some(in_flight) => guard_response(response, in_flight),
            None => response,
        }))
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("counted", &self.in_flight.is_some())
            .finish_non_exhaustive()
    }
}
