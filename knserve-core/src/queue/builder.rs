//! [`QueueProxy`]: the queue-proxy's layer stack, built from its config in one call.

use std::{future::Future, sync::Arc, time::Duration};

use super::{
    drain::{DrainHandle, Drainer, InFlight},
    readiness::Readiness,
    stack::QueueStack,
    stats::{self, StatsHandle},
};
use crate::{
    RevisionKey,
    net::metrics::RequestMetrics,
    timeout::TimeoutLimits,
    trace::{INSTANCE_ATTRIBUTE, NAMESPACE_ATTRIBUTE, REVISION_ATTRIBUTE, Tracing},
};

/// How one instance's queue-proxy runs.
#[derive(Debug, Clone)]
pub struct QueueProxyConfig {
    /// The pod (instance) name its stats and request metrics carry.
    pub pod_name: String,
    /// How often stats are reported (Knative: 1 s).
    pub stats_period: Duration,
    /// How long the drain waits with no new request before it completes.
    pub drain_quiet_period: Duration,
    /// The user container's readiness probe.
    pub readiness: Readiness,
    /// The revision's timeouts.
    pub limits: TimeoutLimits,
    /// `containerConcurrency`; 0 is unlimited.
    pub container_concurrency: u32,
    /// Where the Prometheus request metrics are recorded; `None` leaves the metrics
    /// layer out of the stack rather than counting for nobody.
    pub request_metrics: Option<Arc<RequestMetrics>>,
    /// The process's tracer ([`Tracing::disabled`] when tracing is off): each request
    /// gets a `queue-proxy` span labelled with the revision and `pod_name`.
    pub tracing: Tracing,
    /// The revision this instance serves, for the spans' labels.
    pub revision: RevisionKey,
}

/// The queue-proxy of spec §4 for one instance, built in one call: its layer stack
/// and the handles that drive it and read it — drain, in-flight count, stats,
/// request metrics.
///
/// The stack is [`QueueStack`]'s, outermost first: drain and probes, in-flight
/// tracking, timeouts, header rewrite, stats, the `containerConcurrency` breaker and,
/// when configured, request metrics. [`stack`](Self::stack)`.wrap(app)` puts it around
/// the app (a proxy to the user container, or an in-process service). Nothing is
/// spawned here: a backend that pushes stats runs [`reporter`](Self::reporter); one
/// that reads them reads [`stats`](Self::stats).
///
/// # Example
/// ```
/// use std::time::Duration;
///
/// use http::{Request, StatusCode};
/// use knserve_core::{
///     net::{self, BoxError, metrics::RequestMetrics},
///     RevisionKey,
///     queue::{QueueProxy, QueueProxyConfig, readiness::Readiness},
///     timeout::TimeoutLimits,
///     trace::Tracing,
/// };
/// use tower::{ServiceExt, service_fn};
///
/// # let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// # runtime.block_on(async {
/// let queue = QueueProxy::new(QueueProxyConfig {
///     pod_name: "hello-00001-a".to_owned(),
///     stats_period: Duration::from_secs(1),
///     drain_quiet_period: Duration::ZERO,
///     readiness: Readiness::always(),
///     limits: TimeoutLimits::default(),
///     container_concurrency: 1,
///     request_metrics: Some(RequestMetrics::new([("revision", "hello-00001")])),
///     tracing: Tracing::disabled(),
///     revision: RevisionKey::new("default", "hello-00001"),
/// });
/// let app = service_fn(|_request| async {
///     Ok::<_, BoxError>(net::text_response(StatusCode::OK, "hello"))
/// });
/// let stack = queue.stack().wrap(app);
///
/// let request = Request::get("http://hello.default/").body(net::empty()).unwrap();
/// let response = stack.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), StatusCode::OK);
/// drop(response);
/// assert_eq!(queue.in_flight().count(), 0, "the request finished");
/// assert!(queue.metrics().is_some(), "request metrics were asked for");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct QueueProxy {
    stack: QueueStack,
    stats_period: Duration,
}

impl QueueProxy {
    /// A queue-proxy with fresh drain, in-flight, stats and metrics state.
    pub fn new(config: QueueProxyConfig) -> Self {
        let attributes = vec![
            opentelemetry::KeyValue::new(REVISION_ATTRIBUTE, config.revision.name.to_string()),
            opentelemetry::KeyValue::new(
                NAMESPACE_ATTRIBUTE,
                config.revision.namespace.to_string(),
            ),
            opentelemetry::KeyValue::new(INSTANCE_ATTRIBUTE, config.pod_name.clone()),
        ];
        let stack = QueueStack {
            tracing: config.tracing,
            trace_attributes: attributes,
            drain: DrainHandle::new(Drainer::new(config.drain_quiet_period)),
            in_flight: InFlight::new(),
            stats: StatsHandle::new(config.pod_name, config.stats_period),
            metrics: config.request_metrics,
            readiness: config.readiness,
            limits: config.limits,
            container_concurrency: config.container_concurrency,
        };
        Self {
            stack,
            stats_period: config.stats_period,
        }
    }

    /// The stack and its settings: [`QueueStack::wrap`] puts it around the app.
    pub fn stack(&self) -> &QueueStack {
        &self.stack
    }

    /// Health checks, hash probes and the drain.
    pub fn drain(&self) -> &DrainHandle {
        &self.stack.drain
    }

    /// Requests (and upgraded connections) in flight.
    pub fn in_flight(&self) -> &InFlight {
        &self.stack.in_flight
    }

    /// The autoscaler's request statistics.
    pub fn stats(&self) -> &StatsHandle {
        &self.stack.stats
    }

    /// The Prometheus request metrics, when configured.
    pub fn metrics(&self) -> Option<&Arc<RequestMetrics>> {
        self.stack.metrics.as_ref()
    }

    /// Computes a stat every stats period, for a backend whose autoscaler scrapes the
    /// latest one (`/metrics`); spawn it, abort it on shutdown.
    pub fn reporter(&self) -> impl Future<Output = ()> + Send + use<> {
        stats::reporter(self.stack.stats.clone(), self.stats_period)
    }
}
