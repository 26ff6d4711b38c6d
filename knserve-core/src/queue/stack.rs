//! The queue-proxy's handler chain of §4.2, assembled once for every backend.

use std::sync::Arc;

use http::{Request, Response};
use opentelemetry::KeyValue;
use tower::{
    Service, ServiceBuilder,
    layer::util::{Identity, Stack},
    util::Either,
};

use super::{
    drain::{DrainHandle, DrainLayer, InFlight, TrackLayer},
    limit::ConcurrencyLimitLayer,
    readiness::Readiness,
    rewrite::RewriteLayer,
    stats::{StatsHandle, StatsLayer},
};
use crate::{
    net::{
        Body, BoxError,
        metrics::{MetricsLayer, RequestMetrics},
    },
    timeout::{TimeoutLayer, TimeoutLimits},
    trace::{Hop, Tracing},
};

/// A boxed request-path service, as the stack returns it.
pub use crate::net::HttpService;

/// The layers of the chain, outermost first (see [`QueueStack::layers`]).
type Chain = Stack<
    Either<MetricsLayer, Identity>,
    Stack<
        ConcurrencyLimitLayer,
        Stack<
            StatsLayer,
            Stack<
                RewriteLayer,
                Stack<TimeoutLayer, Stack<TrackLayer, Stack<DrainLayer, Identity>>>,
            >,
        >,
    >,
>;

/// The shared state of one instance's queue-proxy: its drain, in-flight count, stats
/// and request metrics, plus the per-revision settings of the chain.
///
/// The Kubernetes sidecar and the local backend's per-instance proxy build the same
/// chain from this, outermost first: drain and probes, in-flight tracking, timeouts,
/// header rewrite, stats, the `containerConcurrency` breaker, request metrics (when
/// exposed). When tracing is on, the hop's span is outside the chain (its layer skips
/// probes) and its wait ends right before the app; when it is off the chain is built
/// without the tracing layers ([`Tracing::hop`]).
#[derive(Debug, Clone)]
pub struct QueueStack {
    /// Health checks, hash probes and the drain.
    pub drain: DrainHandle,
    /// Requests (and upgraded connections) in flight.
    pub in_flight: InFlight,
    /// The autoscaler's request statistics.
    pub stats: StatsHandle,
    /// Prometheus request metrics, when something exposes them (none: the layer is
    /// left out of the chain rather than counting for nobody).
    pub metrics: Option<Arc<RequestMetrics>>,
    /// The user container's readiness probe.
    pub readiness: Readiness,
    /// The revision's timeouts.
    pub limits: TimeoutLimits,
    /// `containerConcurrency`; 0 is unlimited.
    pub container_concurrency: u32,
    /// The tracer (see [`crate::trace`]); [`Tracing::disabled`] when tracing is off.
    pub tracing: Tracing,
    /// The labels of the hop's spans: revision, namespace, instance.
    pub trace_attributes: Vec<KeyValue>,
}

impl QueueStack {
    /// The chain around `app`, the user container (a proxy to it, or an in-process
    /// service), traced as the `queue-proxy` hop.
    pub fn wrap<S>(&self, app: S) -> HttpService
    where
        S: Service<Request<Body>, Response = Response<Body>, Error = BoxError>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        self.tracing.hop(
            Hop::QueueProxy,
            self.trace_attributes.clone(),
            self.layers(),
            app,
        )
    }

    /// The chain's layers, outermost first.
    fn layers(&self) -> ServiceBuilder<Chain> {
        ServiceBuilder::new()
            .layer(DrainLayer::new(self.drain.clone(), self.readiness.clone()))
            .layer(TrackLayer::new(self.in_flight.clone()))
            .layer(TimeoutLayer::queue_proxy(self.limits))
            .layer(RewriteLayer)
            .layer(StatsLayer::new(self.stats.clone()))
            .layer(ConcurrencyLimitLayer::for_container_concurrency(
                self.container_concurrency,
            ))
            .option_layer(self.metrics.clone().map(MetricsLayer::new))
    }
}
