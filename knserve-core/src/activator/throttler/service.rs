//! [`Throttle`]: the tower service that drives the throttler for each request.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use http::{Request, Response, StatusCode, header};
use http_body::Body as _;
use tower::{Layer, Service, ServiceExt};
use tracing::debug;

use super::{MAX_RETRIES, Replay, ThrottlerRegistry, may_retry, revision::Permit};
use crate::RevisionKey;
use crate::net::{Body, BoxError, ConnectionHold, Destination, Unanswered, text_response};

/// A request extension telling the throttler which revision the request is for, set
/// by the activator's handler once it has resolved the revision (§3.2 step 4).
///
/// `container_concurrency` travels with it for the layers that want it; the throttler
/// itself uses the value the registry was given, which cannot differ for a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionTarget {
    /// The revision.
    pub key: RevisionKey,
    /// Its `containerConcurrency` (0 = unlimited).
    pub container_concurrency: u32,
}

/// A request reached [`Throttle`] without a [`RevisionTarget`]: the stack is wired
/// wrongly; answered 500 with this message.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("request reached the throttler without a revision target")]
pub struct MissingTarget;

/// Waits for capacity of the request's revision, picks its instance, sets the
/// [`Destination`] extension and calls the inner service (normally
/// [`Forward`](crate::net::Forward)); the revision token and the instance slot are
/// given back when the response body ends or is dropped, or — for an upgraded
/// connection — when the tunnel closes (through [`ConnectionHold`]).
///
/// Refusals are responses: 503 or 504 with the message of
/// [`Refusal`](super::Refusal); a revision the registry does not know yet (its
/// informer has not seen it) gets 503 as well.
///
/// Unlike tower's `ConcurrencyLimit`, `poll_ready` reserves nothing: which revision's
/// capacity to take is only known from the request, so the waiting happens in the
/// response future (as in tower's `Buffer`), and the inner service is cloned into it.
#[derive(Clone)]
pub struct Throttle<S> {
    inner: S,
    registry: ThrottlerRegistry,
}

impl<S> Throttle<S> {
    /// Throttles requests to `inner` with the revisions of `registry`.
    pub fn new(inner: S, registry: ThrottlerRegistry) -> Self {
        Self { inner, registry }
    }
}

impl<S> fmt::Debug for Throttle<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

/// Wraps services in a [`Throttle`] sharing one registry.
#[derive(Debug, Clone)]
pub struct ThrottleLayer {
    registry: ThrottlerRegistry,
}

impl ThrottleLayer {
    /// A layer over `registry`.
    pub fn new(registry: ThrottlerRegistry) -> Self {
        Self { registry }
    }
}

impl<S> Layer<S> for ThrottleLayer {
    type Service = Throttle<S>;

    fn layer(&self, inner: S) -> Throttle<S> {
        Throttle::new(inner, self.registry.clone())
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

type Call = Box<dyn FnMut(Request<Body>) -> BoxFuture<Result<Response<Body>, BoxError>> + Send>;

/// The response future of [`Throttle`]: waiting for admission, then the inner call —
/// again on another instance when the one picked failed before answering and the
/// request may be sent twice (see [`may_retry`]).
pub struct ResponseFuture {
    state: State,
    call: Call,
    // Kept beside the state, not in it: the copy of the head is much larger than the
    // admission state, and boxing it would allocate per request.
    replay: Option<Replay>,
    retries: u32,
}

enum State {
    Admitting(BoxFuture<Result<Admitted, Response<Body>>>),
    Calling {
        response: BoxFuture<Result<Response<Body>, BoxError>>,
        permit: Option<Arc<Permit>>,
    },
}

/// A request holding its permit, with its destination set.
struct Admitted {
    request: Request<Body>,
    permit: Arc<Permit>,
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Admitting(_) => "admitting",
            State::Calling { .. } => "calling",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<Body>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Admitting(admission) => {
                    let Admitted { request, permit } = match ready!(admission.as_mut().poll(cx)) {
                        Ok(admitted) => admitted,
                        Err(answer) => return Poll::Ready(Ok(answer)),
                    };
                    this.replay = Replay::of(&request);
                    this.state = State::Calling {
                        response: (this.call)(request),
                        permit: Some(permit),
                    };
                }
                State::Calling { response, permit } => {
                    let result = ready!(response.as_mut().poll(cx));
                    if let Some(stage) = unanswered(&result)
                        && let Some(request) =
                            retry(stage, permit, &mut this.replay, &mut this.retries)
                    {
                        *response = (this.call)(request);
                        continue;
                    }
                    let response = result?;
                    let permit = permit.take().expect("the response completes once");
                    let response = crate::net::guard_response(response, permit);
                    return Poll::Ready(Ok(response));
                }
            }
        }
    }
}

/// How far a failed attempt got, when it got no answer from the app: an error of the
/// forwarder, or the 502 an in-process hop made of one (marked with [`Unanswered`]).
fn unanswered(result: &Result<Response<Body>, BoxError>) -> Option<Unanswered> {
    match result {
        Ok(response) if response.status() == StatusCode::BAD_GATEWAY => {
            response.extensions().get::<Unanswered>().copied()
        }
        Ok(_) => None,
        Err(error) => Unanswered::of(&**error),
    }
}

/// The request to send to another instance after a failure at `stage`, if the rule
/// allows it and another instance has a free slot. The failed instance leaves the
/// set either way. The permit is shared only with the failed attempt's hold, which is
/// gone by now; were it still shared, the request is not retried.
fn retry(
    stage: Unanswered,
    permit: &mut Option<Arc<Permit>>,
    replay: &mut Option<Replay>,
    retries: &mut u32,
) -> Option<Request<Body>> {
    let method = replay.as_ref().map(Replay::method);
    let allowed = may_retry(
        method.unwrap_or(&http::Method::POST),
        method.is_some(),
        stage,
    );
    if !allowed || *retries >= MAX_RETRIES {
        return None;
    }
    let shared = permit.as_mut()?;
    let instance = Arc::get_mut(shared)?.move_off()?;
    *retries += 1;
    debug!(%instance, ?stage, attempt = *retries + 1, "forward failed before an answer; sending to another instance");
    let mut request = replay.take()?.request();
    *replay = Replay::of(&request);
    request.extensions_mut().insert(Destination(instance));
    ConnectionHold::attach(request.extensions_mut(), shared.clone());
    Some(request)
}

impl<S> Service<Request<Body>> for Throttle<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone + Send,
    S: 'static,
    S::Future: Send,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> ResponseFuture {
        let inner = self.inner.clone();
        let call: Call = Box::new(move |request| Box::pin(inner.clone().oneshot(request)));
        let admission = Box::pin(admit(self.registry.clone(), request));
        ResponseFuture {
            state: State::Admitting(admission),
            call,
            replay: None,
            retries: 0,
        }
    }
}

/// Waits for the request's revision to admit it and sets its destination; the
/// answer instead when it is refused.
async fn admit(
    registry: ThrottlerRegistry,
    mut request: Request<Body>,
) -> Result<Admitted, Response<Body>> {
    let Some(target) = request.extensions().get::<RevisionTarget>() else {
        let text = MissingTarget.to_string();
        return Err(text_response(StatusCode::INTERNAL_SERVER_ERROR, text));
    };
    let key = target.key.clone();
    let Some(revision) = registry.get(&key) else {
        let text = format!("revision {key} has no throttler yet");
        return Err(text_response(StatusCode::SERVICE_UNAVAILABLE, text));
    };
    let declared = body_size(&request);
    let streamed = declared.is_none().then(|| request.body_mut());
    let permit = match revision.admit(declared.unwrap_or(0), streamed).await {
        Ok(permit) => Arc::new(permit),
        Err(refusal) => {
            debug!(revision = %key, %refusal, "throttler refused");
            return Err(refusal.to_response());
        }
    };
    if let Some(instance) = permit.instance() {
        debug!(revision = %key, %instance, "throttler admitted");
        request.extensions_mut().insert(Destination(instance));
    }
    ConnectionHold::attach(request.extensions_mut(), permit.clone());
    Ok(Admitted { request, permit })
}
/// The body bytes a request declares: its exact size when the body knows it, else its
/// `Content-Length`, else 0. A streamed body of unknown length (chunked) counts as
/// empty on entry; if the request has to wait, the throttler reads it into memory
/// and counts the bytes read (see [`Throttler::buffer`](super::Throttler::buffer)).
pub fn declared_body_bytes(request: &Request<Body>) -> u64 {
    body_size(request).unwrap_or(0)
}

/// The exact size of the body, else its `Content-Length`; `None` when neither is known.
fn body_size(request: &Request<Body>) -> Option<u64> {
    request.body().size_hint().exact().or_else(|| {
        request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse().ok())
    })
}
