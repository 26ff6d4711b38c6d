//! The handler as a tower layer.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tokio::sync::watch;
use tracing::debug;

use super::{RevisionTable, Verdict, decide, rewrite};
use crate::net::{Body, BoxError};

/// The cluster domain Kubernetes services live under by default.
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// Builds [`Handler`]s: the outermost activator layer (spec §3.2 steps 1–4).
#[derive(Debug, Clone)]
pub struct HandlerLayer {
    table: RevisionTable,
    draining: watch::Receiver<bool>,
    cluster_domain: Arc<str>,
}

impl HandlerLayer {
    /// A layer resolving revisions in `table`; kubelet health checks fail once
    /// `draining` is true (set it on SIGTERM, or while the autoscaler link is down).
    pub fn new(table: RevisionTable, draining: watch::Receiver<bool>) -> Self {
        Self {
            table,
            draining,
            cluster_domain: DEFAULT_CLUSTER_DOMAIN.into(),
        }
    }

    /// Resolves Hosts under `cluster_domain` instead of `cluster.local`.
    pub fn cluster_domain(mut self, cluster_domain: impl Into<Arc<str>>) -> Self {
        self.cluster_domain = cluster_domain.into();
        self
    }
}

impl<S> tower::Layer<S> for HandlerLayer {
    type Service = Handler<S>;

    fn layer(&self, inner: S) -> Handler<S> {
        Handler {
            inner,
            layer: self.clone(),
        }
    }
}

/// Answers health checks and probes itself, resolves the revision (404 when unknown)
/// and forwards the rest with the §3.7 header changes and the
/// [`RevisionKey`](crate::RevisionKey) and [`RevisionInfo`](super::RevisionInfo)
/// extensions (see [`rewrite`]).
#[derive(Debug, Clone)]
pub struct Handler<S> {
    inner: S,
    layer: HandlerLayer,
}

impl<S> tower::Service<Request<Body>> for Handler<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let draining = *self.layer.draining.borrow();
        let verdict = decide(
            request.headers(),
            request.uri(),
            draining,
            &self.layer.table,
            &self.layer.cluster_domain,
        );
        match verdict {
            Verdict::Answer(answer) => {
                debug!(?answer, "answered by the activator");
                ResponseFuture {
                    inner: None,
                    answer: Some(answer.into_response()),
                }
            }
            Verdict::Forward { key, info } => {
                rewrite(&mut request, key, info);
                ResponseFuture {
                    inner: Some(self.inner.call(request)),
                    answer: None,
                }
            }
        }
    }
}

pin_project! {
    /// The future [`Handler`] returns: its own answer, or the inner service's.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Option<F>,
        answer: Option<Response<Body>>,
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, BoxError>>,
{
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.inner.as_pin_mut() {
            Some(inner) => inner.poll(cx),
            None => Poll::Ready(
                this.answer
                    .take()
                    .ok_or_else(|| "handler response polled after completion".into()),
            ),
        }
    }
}
