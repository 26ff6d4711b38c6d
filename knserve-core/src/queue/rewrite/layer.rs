//! The header rewrite as a tower layer.

use http::Request;
use tower::{Layer, Service};

use super::headers::rewrite_for_app;
use crate::net::Body;

/// Builds [`Rewrite`] services.
#[derive(Debug, Clone, Copy, Default)]
pub struct RewriteLayer;

impl<S> Layer<S> for RewriteLayer {
    type Service = Rewrite<S>;

    fn layer(&self, inner: S) -> Rewrite<S> {
        Rewrite { inner }
    }
}

/// Rewrites each request's headers for the app (§4.6, [`rewrite_for_app`]) and passes
/// it on; responses are untouched, as the queue-proxy adds no headers of its own.
#[derive(Debug, Clone)]
pub struct Rewrite<S> {
    inner: S,
}

impl<S> Service<Request<Body>> for Rewrite<S>
where
    S: Service<Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> S::Future {
        rewrite_for_app(request.headers_mut());
        self.inner.call(request)
    }
}
