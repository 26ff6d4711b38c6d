//! Requests in flight, upgraded connections included (§4.2 step 4).

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, ready},
};

use crate::net::guard_response;
use http::{Request, Response};
use tokio::sync::Notify;
use tower::{Layer, Service};

use crate::net::{Body, BoxError, ConnectionHold};

/// A count of requests in flight that can be waited on until it reaches zero.
///
/// Clones share the count. Counting in and out are two atomic operations, plus a
/// wake-up only when someone waits in [`idle`](Self::idle) (a drain, rarely): this runs
/// twice per request on every hop.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    count: AtomicUsize,
    /// Tasks inside `idle`: a guard that brings the count to zero wakes them.
    waiting: AtomicUsize,
    zero: Notify,
}

impl InFlight {
    /// No request in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests in flight now.
    pub fn count(&self) -> usize {
        self.shared.count.load(Ordering::SeqCst)
    }

    /// Counts one request in until the guard is dropped.
    pub fn enter(&self) -> InFlightGuard {
        self.shared.count.fetch_add(1, Ordering::SeqCst);
        InFlightGuard {
            shared: self.shared.clone(),
        }
    }

    /// Returns once no request is in flight (at once if none is).
    pub async fn idle(&self) {
        // Registered as waiting before each look at the count, and the last guard looks
        // at `waiting` after its decrement (both sequentially consistent): either this
        // sees zero or that guard sees a waiter and wakes it.
        let shared = &self.shared;
        shared.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = scopeguard(|| {
            shared.waiting.fetch_sub(1, Ordering::SeqCst);
        });
        loop {
            let zero = shared.zero.notified();
            tokio::pin!(zero);
            zero.as_mut().enable();
            if shared.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            zero.await;
        }
    }
}

/// Runs `f` when dropped (also when the future holding it is cancelled).
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

/// One request counted in; dropping it counts the request out.
#[derive(Debug)]
pub struct InFlightGuard {
    shared: Arc<Shared>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let before = self.shared.count.fetch_sub(1, Ordering::SeqCst);
        if before == 1 && self.shared.waiting.load(Ordering::SeqCst) > 0 {
            self.shared.zero.notify_waiters();
        }
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

#[cfg(test)]
mod count_tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_waiters_wake_when_guards_dropped_on_other_threads_reach_zero() {
        for _ in 0..200 {
            let in_flight = InFlight::new();
            let guards: Vec<_> = (0..8).map(|_| in_flight.enter()).collect();
            let waiter = tokio::spawn({
                let in_flight = in_flight.clone();
                async move { in_flight.idle().await }
            });
            let droppers: Vec<_> = guards
                .into_iter()
                .map(|guard| tokio::spawn(async move { drop(guard) }))
                .collect();
            for dropper in droppers {
                dropper.await.unwrap();
            }
            tokio::time::timeout(Duration::from_secs(5), waiter)
                .await
                .expect("the last guard wakes the waiter")
                .unwrap();
            assert_eq!(in_flight.count(), 0);
            assert_eq!(in_flight.shared.waiting.load(Ordering::SeqCst), 0);
        }
    }

    #[tokio::test]
    async fn a_cancelled_idle_wait_stops_counting_as_a_waiter() {
        let in_flight = InFlight::new();
        let guard = in_flight.enter();
        let waited = tokio::time::timeout(Duration::from_millis(10), in_flight.idle()).await;
        assert!(waited.is_err(), "a request is still in flight");
        assert_eq!(in_flight.shared.waiting.load(Ordering::SeqCst), 0);
        drop(guard);
        in_flight.idle().await;
    }
}
