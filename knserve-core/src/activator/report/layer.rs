//! The reporter as a tower layer and its one-second driver.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll, ready},
    time::Duration,
};

use crate::net::guard_response;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tokio::{
    sync::mpsc::{self, error::TrySendError},
    time::{Instant, MissedTickBehavior},
};
use tracing::debug;

use super::ConcurrencyReporter;
use crate::{
    RevisionKey, Timestamp,
    autoscaler::metrics::Stat,
    net::{Body, BoxError, ConnectionHold},
};

/// How often the activator reports (spec §3.8, §7).
pub const REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Where stats go: the autoscaler connection's queue.
pub type StatSender = mpsc::Sender<(RevisionKey, Stat)>;

/// The machine and the time line it is fed on, shared by the layer and the worker.
#[derive(Debug, Clone)]
struct Shared {
    machine: Arc<Mutex<ConcurrencyReporter>>,
    epoch: Instant,
}

impl Shared {
    fn with<T>(&self, step: impl FnOnce(&mut ConcurrencyReporter, Timestamp) -> T) -> T {
        let now = Timestamp::from_duration(Instant::now().saturating_duration_since(self.epoch));
        // The machine's state is valid after every step, so a panic elsewhere while
        // the lock was held leaves nothing to repair.
        let mut machine = self.machine.lock().unwrap_or_else(PoisonError::into_inner);
        step(&mut machine, now)
    }
}

/// The reporter's layer and worker for the activator pod `pod_name`, sending on `stats`.
///
/// Put the layer inside [`handler`](crate::activator::handler) (which sets the
/// [`RevisionKey`] extension) and spawn [`ReportWorker::run`].
pub fn pair(pod_name: impl Into<Arc<str>>, stats: StatSender) -> (ReportLayer, ReportWorker) {
    let shared = Shared {
        machine: Arc::new(Mutex::new(ConcurrencyReporter::new(pod_name))),
        epoch: Instant::now(),
    };
    let layer = ReportLayer {
        shared: shared.clone(),
        stats: stats.clone(),
    };
    (layer, ReportWorker { shared, stats })
}

/// Sends a [`ConcurrencyReporter::report`] batch every [`REPORT_INTERVAL`].
#[derive(Debug)]
pub struct ReportWorker {
    shared: Shared,
    stats: StatSender,
}

impl ReportWorker {
    /// Reports every second until the stats receiver is dropped. Batches wait for
    /// room in the channel (it is the only back-pressure the autoscaler link has).
    pub async fn run(self) {
        let mut ticks = tokio::time::interval_at(Instant::now() + REPORT_INTERVAL, REPORT_INTERVAL);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let batch = self.shared.with(|machine, now| machine.report(now));
            for stat in batch {
                if self.stats.send(stat).await.is_err() {
                    debug!("stats receiver closed; reporter stops");
                    return;
                }
            }
        }
    }
}

/// Counts requests in and out of the revision named by their [`RevisionKey`]
/// extension; see [`pair`].
#[derive(Debug, Clone)]
pub struct ReportLayer {
    shared: Shared,
    stats: StatSender,
}

impl<S> tower::Layer<S> for ReportLayer {
    type Service = Report<S>;

    fn layer(&self, inner: S) -> Report<S> {
        Report {
            inner,
            shared: self.shared.clone(),
            stats: self.stats.clone(),
        }
    }
}

/// The service [`ReportLayer`] makes.
///
/// A request counts in when it is called and out when its response body ends or is
/// dropped, or — for an upgraded connection — when the tunnel closes (a guard rides
/// in the request's [`ConnectionHold`]), or when the inner service fails. Requests
/// without a [`RevisionKey`] extension pass uncounted.
#[derive(Debug, Clone)]
pub struct Report<S> {
    inner: S,
    shared: Shared,
    stats: StatSender,
}

impl<S> tower::Service<Request<Body>> for Report<S>
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
        let Some(key) = request.extensions().get::<RevisionKey>().cloned() else {
            return ResponseFuture {
                inner: self.inner.call(request),
                guard: None,
            };
        };
        if let Some(stat) = self
            .shared
            .with(|machine, now| machine.request_in(now, &key))
        {
            send_immediate(&self.stats, key.clone(), stat);
        }
        let guard = Arc::new(InFlight {
            shared: self.shared.clone(),
            key,
        });
        ConnectionHold::attach(request.extensions_mut(), guard.clone());
        ResponseFuture {
            inner: self.inner.call(request),
            guard: Some(guard),
        }
    }
}

/// The immediate signal must not wait behind a slow autoscaler link: it is dropped
/// when the queue is full (the next report carries the load anyway).
fn send_immediate(stats: &StatSender, key: RevisionKey, stat: Stat) {
    match stats.try_send((key, stat)) {
        Ok(()) => {}
        Err(TrySendError::Full((key, _))) => {
            debug!(revision = %key, "stats queue full; immediate stat dropped");
        }
        Err(TrySendError::Closed((key, _))) => {
            debug!(revision = %key, "stats receiver closed; immediate stat dropped");
        }
    }
}

/// Counts its request out when the last clone is dropped.
struct InFlight {
    shared: Shared,
    key: RevisionKey,
}

impl fmt::Debug for InFlight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlight").field("key", &self.key).finish()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared
            .with(|machine, now| machine.request_out(now, &self.key));
    }
}

pin_project! {
    /// The future [`Report`] returns: the inner response with a body that counts the
    /// request out when it ends.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        guard: Option<Arc<InFlight>>,
    }
}

impl<F> Future for ResponseFuture<F>
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
