//! [`Front`]: what the activator answers before the core handler — its own
//! `/healthz`, and a 404 naming the missing revision header.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{HeaderMap, Request, Response, StatusCode};
use knserve_core::{
    activator::handler::{Answer, RevisionTable, Verdict, decide},
    net::{
        Body, BoxError,
        headers::{KNATIVE_SERVING_NAMESPACE, KNATIVE_SERVING_REVISION, network_probe},
        text_response,
    },
};
use tokio::sync::watch;
use tower::{Layer, Service};

/// The activator's health path.
pub const HEALTHZ: &str = "/healthz";

/// Answers, in front of [`knserve_core::activator::handler::Handler`]:
/// - `GET /healthz` naming no revision and carrying no probe header: 200 `ok`, or 500
///   while draining (the kubelet's probe may use any User-Agent);
/// - a request that names no revision — neither both `Knative-Serving-Revision` and
///   `Knative-Serving-Namespace` nor a `<rev>.<ns>.svc.<domain>` Host: 404 naming the
///   missing header(s). Knative answers 404 here too; 400 would blame a client for
///   what is the ingress's job.
///
/// Everything else goes to the inner handler unchanged.
#[derive(Debug, Clone)]
pub struct Front<S> {
    inner: S,
    layer: FrontLayer,
}

/// Builds [`Front`]s.
#[derive(Debug, Clone)]
pub struct FrontLayer {
    table: RevisionTable,
    draining: watch::Receiver<bool>,
    cluster_domain: Arc<str>,
}

impl FrontLayer {
    /// Resolves revisions in `table` as the handler does; `/healthz` fails once
    /// `draining` is true.
    pub fn new(
        table: RevisionTable,
        draining: watch::Receiver<bool>,
        cluster_domain: impl Into<Arc<str>>,
    ) -> Self {
        Self {
            table,
            draining,
            cluster_domain: cluster_domain.into(),
        }
    }

    fn answer(&self, request: &Request<Body>) -> Option<Response<Body>> {
        let headers = request.headers();
        if request.uri().path() == HEALTHZ
            && !headers.contains_key(KNATIVE_SERVING_REVISION)
            && network_probe(headers).is_none()
        {
            return Some(if *self.draining.borrow() {
                text_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "activator is shutting down",
                )
            } else {
                text_response(StatusCode::OK, "ok")
            });
        }
        let verdict = decide(
            headers,
            request.uri(),
            *self.draining.borrow(),
            &self.table,
            &self.cluster_domain,
        );
        matches!(verdict, Verdict::Answer(Answer::NoRevision)).then(|| missing(headers))
    }
}

fn missing(headers: &HeaderMap) -> Response<Body> {
    let names = [
        (KNATIVE_SERVING_REVISION, "Knative-Serving-Revision"),
        (KNATIVE_SERVING_NAMESPACE, "Knative-Serving-Namespace"),
    ];
    let absent: Vec<&str> = names
        .iter()
        .filter(|(name, _)| headers.get(name).is_none_or(|v| v.is_empty()))
        .map(|(_, shown)| *shown)
        .collect();
    text_response(
        StatusCode::NOT_FOUND,
        format!(
            "Error getting active endpoint: the request names no revision (missing header {})",
            absent.join(" and ")
        ),
    )
}

impl<S> Layer<S> for FrontLayer {
    type Service = Front<S>;

    fn layer(&self, inner: S) -> Front<S> {
        Front {
            inner,
            layer: self.clone(),
        }
    }
}

impl<S> Service<Request<Body>> for Front<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        match self.layer.answer(&request) {
            Some(response) => Box::pin(std::future::ready(Ok(response))),
            None => Box::pin(self.inner.call(request)),
        }
    }
}
