//! [`TraceLayer`] (a hop's server span and header propagation) and
//! [`TraceForwardLayer`] (revision, destination and wait, just before forwarding).

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context as TaskContext, Poll},
    time::SystemTime,
};

use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use opentelemetry::{
    Context, KeyValue,
    propagation::TextMapPropagator as _,
    trace::{SpanKind, Status, TraceContextExt as _, Tracer as _},
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower::{Layer, Service};

use super::{Hop, HopSpan, INSTANCE_ATTRIBUTE, NAMESPACE_ATTRIBUTE, REVISION_ATTRIBUTE, Shared};
use crate::{
    RevisionKey,
    net::{Body, BoxError, Destination, headers},
};

/// A hop's outer tracing layer: see the [module docs](super). Built by
/// [`Tracing::layer`](super::Tracing::layer).
#[derive(Clone)]
pub struct TraceLayer {
    shared: Arc<Shared>,
    hop: Hop,
    attributes: Arc<[KeyValue]>,
}

impl fmt::Debug for TraceLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceLayer")
            .field("hop", &self.hop)
            .finish()
    }
}

impl TraceLayer {
    pub(super) fn new(shared: Arc<Shared>, hop: Hop, attributes: Vec<KeyValue>) -> Self {
        Self {
            shared,
            hop,
            attributes: attributes.into(),
        }
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`TraceLayer`].
#[derive(Clone)]
pub struct TraceService<S> {
    inner: S,
    layer: TraceLayer,
}

impl<S> fmt::Debug for TraceService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceService")
            .field("hop", &self.layer.hop)
            .finish_non_exhaustive()
    }
}

/// Probes are not traced (Knative's filters): network probes and health checks.
fn is_probe(request: &Request<Body>) -> bool {
    let headers = request.headers();
    headers::network_probe(headers).is_some() || headers::is_health_check(headers)
}

impl<S> Service<Request<Body>> for TraceService<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = TraceFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        if is_probe(&request) {
            return TraceFuture {
                inner: self.inner.call(request),
                span: None,
            };
        }
        let TraceLayer {
            shared,
            hop,
            attributes,
        } = &self.layer;
        let parent = shared
            .propagator
            .extract(&HeaderExtractor(request.headers()));
        let arrived = Instant::now();
        let arrived_at = SystemTime::now();
        let mut span_attributes = Vec::with_capacity(attributes.len() + 3);
        span_attributes.extend(attributes.iter().cloned());
        span_attributes.push(KeyValue::new(
            "http.request.method",
            request.method().as_str().to_owned(),
        ));
        span_attributes.push(KeyValue::new("url.path", request.uri().path().to_owned()));
        let host = request
            .headers()
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| request.uri().host());
        if let Some(host) = host {
            span_attributes.push(KeyValue::new("server.address", host.to_owned()));
        }
        let span = shared
            .tracer
            .span_builder(hop.span_name())
            .with_kind(SpanKind::Server)
            .with_start_time(arrived_at)
            .with_attributes(span_attributes)
            .start_with_context(&shared.tracer, &parent);
        let cx = parent.with_span(span);
        // The next hop's parent is this span: replace the caller's traceparent (and
        // carry its tracestate on).
        shared
            .propagator
            .inject_context(&cx, &mut HeaderInjector(request.headers_mut()));
        request.extensions_mut().insert(HopSpan {
            cx: cx.clone(),
            hop: *hop,
            arrived,
            arrived_at,
        });
        TraceFuture {
            inner: self.inner.call(request),
            span: Some(cx),
        }
    }
}

pin_project! {
    /// The future of [`TraceService`]: records the status, then hands the span to the
    /// response body ([`SpanBody`]), which ends it.
    pub struct TraceFuture<F> {
        #[pin]
        inner: F,
        span: Option<Context>,
    }
}

impl<F> fmt::Debug for TraceFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceFuture")
            .field("traced", &self.span.is_some())
            .finish_non_exhaustive()
    }
}

impl<F> Future for TraceFuture<F>
where
    F: Future<Output = Result<Response<Body>, BoxError>>,
{
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(task));
        let Some(cx) = this.span.take() else {
            return Poll::Ready(result);
        };
        Poll::Ready(match result {
            Ok(response) => {
                {
                    let span = cx.span();
                    let status = response.status();
                    span.set_attribute(KeyValue::new(
                        "http.response.status_code",
                        i64::from(status.as_u16()),
                    ));
                    if status.is_server_error() {
                        span.set_status(Status::error(status.to_string()));
                    }
                }
                Ok(response.map(|body| {
                    Body::new(SpanBody {
                        inner: body,
                        span: Some(cx),
                    })
                }))
            }
            Err(error) => {
                let span = cx.span();
                span.set_status(Status::error(error.to_string()));
                span.end();
                Err(error)
            }
        })
    }
}

pin_project! {
    /// A response body that ends its hop's span when it has been sent or dropped.
    pub struct SpanBody {
        #[pin]
        inner: Body,
        span: Option<Context>,
    }

    impl PinnedDrop for SpanBody {
        fn drop(this: Pin<&mut Self>) {
            if let Some(cx) = this.project().span.take() {
                cx.span().end();
            }
        }
    }
}

impl fmt::Debug for SpanBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanBody").finish_non_exhaustive()
    }
}

impl HttpBody for SpanBody {
    type Data = bytes::Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        task: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(task));
        match &frame {
            None => {
                if let Some(cx) = this.span.take() {
                    cx.span().end();
                }
            }
            Some(Err(error)) => {
                if let Some(cx) = this.span.take() {
                    let span = cx.span();
                    span.set_status(Status::error(error.to_string()));
                    span.end();
                }
            }
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A hop's inner tracing layer, in front of what forwards the request: see the
/// [module docs](super). Built by [`Tracing::forward_layer`](super::Tracing::forward_layer).
#[derive(Clone)]
pub struct TraceForwardLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for TraceForwardLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceForwardLayer").finish()
    }
}

impl TraceForwardLayer {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl<S> Layer<S> for TraceForwardLayer {
    type Service = TraceForward<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceForward {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service of [`TraceForwardLayer`].
#[derive(Clone)]
pub struct TraceForward<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> fmt::Debug for TraceForward<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceForward").finish_non_exhaustive()
    }
}

impl<S> Service<Request<Body>> for TraceForward<S>
where
    S: Service<Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> S::Future {
        if let Some(hop) = request.extensions().get::<HopSpan>() {
            if let Some(revision) = request.extensions().get::<RevisionKey>() {
                hop.set_attribute(KeyValue::new(REVISION_ATTRIBUTE, revision.name.to_string()));
                hop.set_attribute(KeyValue::new(
                    NAMESPACE_ATTRIBUTE,
                    revision.namespace.to_string(),
                ));
            }
            if let Some(Destination(address)) = request.extensions().get::<Destination>() {
                hop.set_attribute(KeyValue::new(INSTANCE_ATTRIBUTE, address.to_string()));
            }
            hop.record_wait(&self.shared.tracer);
        }
        self.inner.call(request)
    }
}
