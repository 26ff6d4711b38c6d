//! The shared accumulator behind the stats layer, and its 1 s reporter.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http::{HeaderValue, Response, header};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::debug;

use super::machine::RequestStats;
use super::wire::encode;
use crate::autoscaler::metrics::Stat;
use crate::net::{Body, full};
use crate::time::Timestamp;

/// The `Content-Type` of the protobuf stat served at `GET :9090/metrics`.
pub const PROTOBUF_CONTENT_TYPE: &str = "application/protobuf";

/// One pod's [`RequestStats`], shared by the [`Stats`](super::Stats) layer (which
/// counts requests in and out), the [`reporter`] (which cuts a report every period)
/// and the metrics endpoint (which serves the latest report).
///
/// The handle's creation is the process start its stats report uptime from, and the
/// epoch of the [`Timestamp`]s it is given; create it when the process starts. The
/// mutex is held only for one machine step, never across an `.await`.
#[derive(Clone)]
pub struct StatsHandle {
    shared: Arc<Mutex<Shared>>,
    epoch: Instant,
}

struct Shared {
    stats: RequestStats,
    pod_name: String,
    latest: Stat,
}

impl StatsHandle {
    /// Statistics for `pod_name`, counting arrivals per `period` (Knative: 1 s). Until
    /// the first report, the latest stat carries only the pod name.
    pub fn new(pod_name: impl Into<String>, period: Duration) -> Self {
        let pod_name = pod_name.into();
        let latest = Stat {
            pod_name: pod_name.clone(),
            ..Stat::default()
        };
        let shared = Shared {
            stats: RequestStats::new(Timestamp::ZERO, period),
            pod_name,
            latest,
        };
        Self {
            shared: Arc::new(Mutex::new(shared)),
            epoch: Instant::now(),
        }
    }

    /// The current time on this handle's time line.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_duration(Instant::now().saturating_duration_since(self.epoch))
    }

    /// Cuts the report for the time since the previous one, keeps it as the latest and
    /// returns it.
    pub fn report(&self, now: Timestamp) -> Stat {
        let mut shared = self.lock();
        let report = shared.stats.report(now);
        let stat = report.into_stat(shared.pod_name.clone(), now.since_epoch());
        shared.latest = stat.clone();
        stat
    }

    /// The latest report.
    pub fn latest(&self) -> Stat {
        self.lock().latest.clone()
    }

    /// Requests in flight now.
    pub fn concurrency(&self) -> u64 {
        self.lock().stats.concurrency()
    }

    /// The answer to `GET :9090/metrics`: the latest report as a protobuf `Stat`.
    pub fn metrics_response(&self) -> Response<Body> {
        let mut response = Response::new(full(encode(&self.latest())));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROTOBUF_CONTENT_TYPE),
        );
        response
    }

    pub(super) fn request_in(&self, proxied: bool) {
        let now = self.now();
        self.lock().stats.request_in(now, proxied);
    }

    pub(super) fn request_out(&self, proxied: bool) {
        let now = self.now();
        self.lock().stats.request_out(now, proxied);
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // Every step leaves the machine consistent, so a poisoned lock is still usable.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for StatsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = self.lock();
        f.debug_struct("StatsHandle")
            .field("pod_name", &shared.pod_name)
            .field("concurrency", &shared.stats.concurrency())
            .finish_non_exhaustive()
    }
}

/// Cuts a report every `period` (Knative: 1 s), first one period after it starts, and
/// keeps it for [`StatsHandle::latest`]; runs until dropped. Late ticks are delayed,
/// not bunched. A zero period is raised to 1 ms, as an interval cannot tick at 0.
pub fn reporter(handle: StatsHandle, period: Duration) -> impl Future<Output = ()> + Send {
    let period = period.max(Duration::from_millis(1));
    async move {
        let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let stat = handle.report(handle.now());
            debug!(
                concurrency = stat.average_concurrent_requests,
                rps = stat.request_count,
                "request stats report"
            );
        }
    }
}
