//! The breaker as a tower layer (§4.4).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tokio::sync::oneshot;
use tower::{Layer, Service};
use tracing::debug;

use super::limiter::{Entry, Limiter, Permit, Ticket};
use crate::net::guard_response;
use crate::net::{Body, BoxError, ConnectionHold, headers, text_response};
use crate::queue::Breaker;

/// The body of the 503 a full breaker answers.
pub const QUEUE_FULL: &str = "pending request queue full";

/// A waiter's wake-up channel closed without a token; the limiter never does this.
#[derive(Debug, thiserror::Error)]
#[error("breaker dropped a waiting request")]
pub struct WaiterAbandoned;

/// Builds [`ConcurrencyLimit`]s that share one breaker.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer {
    limiter: Option<Limiter>,
}

impl ConcurrencyLimitLayer {
    /// The queue-proxy's limit for `containerConcurrency`: CC = 0 passes every request
    /// through; CC ≥ 1 admits CC at a time and queues up to 10 × CC more.
    pub fn for_container_concurrency(cc: u32) -> Self {
        Self {
            limiter: Breaker::for_container_concurrency(cc).map(Limiter::new),
        }
    }

    /// A limit enforced by `breaker`.
    pub fn new(breaker: Breaker) -> Self {
        Self {
            limiter: Some(Limiter::new(breaker)),
        }
    }

    /// The shared breaker, `None` when unlimited.
    pub fn limiter(&self) -> Option<&Limiter> {
        self.limiter.as_ref()
    }
}

impl<S> Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> ConcurrencyLimit<S> {
        ConcurrencyLimit {
            inner,
            limiter: self.limiter.clone(),
        }
    }
}

/// `containerConcurrency` in front of the app (§4.4): at most CC requests reach the
/// inner service at once, up to 10 × CC more wait in FIFO order, and beyond that the
/// answer is 503 `pending request queue full`. Kubelet probes bypass the limit.
///
/// A request holds its token until its response body ends or is dropped, and for an
/// upgrade (websocket) until the connection closes, through [`ConnectionHold`]. A
/// waiting request whose future is dropped (client gone, timeout above) gives its
/// place up.
///
/// Unlike tower's `ConcurrencyLimit`, the token is taken in `call`, not reserved in
/// `poll_ready`: the breaker refuses with a *response* and queues a bounded number of
/// requests, and both need the request in hand. Reserving in `poll_ready` would turn
/// the queue into back-pressure on the connection, which cannot answer 503 and which a
/// pending-but-never-called clone would hold a slot against. `poll_ready` only asks the
/// inner service; a queued request carries that ready service with it until admitted.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit<S> {
    inner: S,
    limiter: Option<Limiter>,
}

impl<S> Service<Request<Body>> for ConcurrencyLimit<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture<S, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let limiter = match &self.limiter {
            Some(limiter) if !headers::is_kubelet_probe(request.headers()) => limiter,
            _ => return ResponseFuture::called(self.inner.call(request), None),
        };
        match limiter.enter() {
            Entry::Admitted(permit) => {
                let permit = hold(&mut request, permit);
                ResponseFuture::called(self.inner.call(request), Some(permit))
            }
            Entry::Queued(ticket, admitted) => {
                debug!("request queued at the breaker");
                // The ready service goes with the request; `self` keeps a fresh clone.
                let fresh = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, fresh);
                ResponseFuture::waiting(ticket, admitted, ready, request)
            }
            Entry::Full => {
                debug!("breaker queue full");
                ResponseFuture::refused(text_response(StatusCode::SERVICE_UNAVAILABLE, QUEUE_FULL))
            }
        }
    }
}

/// Shares the permit with the request's [`ConnectionHold`], so an upgraded connection
/// keeps the token until it closes.
fn hold(request: &mut Request<Body>, permit: Permit) -> Arc<Permit> {
    let permit = Arc::new(permit);
    ConnectionHold::attach(request.extensions_mut(), permit.clone());
    permit
}

pin_project! {
    /// The response future of [`ConcurrencyLimit`].
    pub struct ResponseFuture<S, F> {
        #[pin]
        state: State<S, F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, F> {
        Refused { response: Option<Response<Body>> },
        Waiting {
            ticket: Option<Ticket>,
            admitted: oneshot::Receiver<()>,
            service: Option<S>,
            request: Option<Request<Body>>,
        },
        Called { #[pin] future: F, permit: Option<Arc<Permit>> },
    }
}

impl<S, F> ResponseFuture<S, F> {
    fn called(future: F, permit: Option<Arc<Permit>>) -> Self {
        let state = State::Called { future, permit };
        Self { state }
    }

    fn waiting(
        ticket: Ticket,
        admitted: oneshot::Receiver<()>,
        service: S,
        request: Request<Body>,
    ) -> Self {
        let state = State::Waiting {
            ticket: Some(ticket),
            admitted,
            service: Some(service),
            request: Some(request),
        };
        Self { state }
    }

    fn refused(response: Response<Body>) -> Self {
        let state = State::Refused {
            response: Some(response),
        };
        Self { state }
    }
}

impl<S, F> Future for ResponseFuture<S, F>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError, Future = F>,
    F: Future<Output = Result<Response<Body>, BoxError>>,
{
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            let next = match state.as_mut().project() {
                StateProj::Refused { response } => {
                    return Poll::Ready(response.take().ok_or_else(polled_after_completion));
                }
                StateProj::Called { future, permit } => {
                    let response = ready!(future.poll(cx));
                    let permit = permit.take();
                    return Poll::Ready(response.map(|r| match permit {
                        Some(permit) => guard_response(r, permit),
                        None => r,
                    }));
                }
                StateProj::Waiting {
                    ticket,
                    admitted,
                    service,
                    request,
                } => {
                    ready!(Pin::new(admitted).poll(cx)).map_err(|_| WaiterAbandoned)?;
                    debug!("queued request admitted by the breaker");
                    let (Some(ticket), Some(mut service), Some(mut request)) =
                        (ticket.take(), service.take(), request.take())
                    else {
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    let permit = hold(&mut request, ticket.admit());
                    State::Called {
                        future: service.call(request),
                        permit: Some(permit),
                    }
                }
            };
            state.set(next);
        }
    }
}

fn polled_after_completion() -> BoxError {
    "breaker response future polled after completion".into()
}

impl<S, F> fmt::Debug for ResponseFuture<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Refused { .. } => "refused",
            State::Waiting { .. } => "waiting",
            State::Called { .. } => "called",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
