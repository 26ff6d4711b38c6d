//! Distributed tracing: W3C Trace Context through every hop, and a span per hop
//! exported over OTLP.
//!
//! Each hop of the request path (ingress router, activator, queue-proxy) puts a
//! [`TraceLayer`] outermost and a [`TraceForwardLayer`] right in front of what
//! forwards the request. The outer layer reads the caller's `traceparent` and
//! `tracestate` (a request without them starts a new trace), starts the hop's server
//! span as their child and writes the span's own context back into the request's
//! headers, so the next hop — and finally the app — sees this hop as its parent. The
//! inner layer runs once the hop has decided where the request goes and may send it:
//! it records the revision and the destination on the span, and the time the request
//! waited in this hop (the activator's buffering until an instance had capacity, the
//! queue-proxy's `containerConcurrency` breaker) as a child span named as Knative names
//! it (`throttler_try`, `kn.queueproxy.wait`) and as the attribute `knserve.wait_ms`.
//! The span ends when the response body has been sent (or dropped).
//!
//! Layers in between reach the span through the request's [`HopSpan`] extension: the
//! local backend's cold-start timing adds the phases of a scale from zero to the
//! activator's span as events.
//!
//! Configuration is Knative's `config-observability` tracing keys
//! ([`TracingConfig`]). With `tracing-protocol: none`
//! (the default) [`Tracing::layer`] and [`Tracing::forward_layer`] return `None`, and
//! builders ([`Tracing::hop`], the queue-proxy's stack) then build their chain without
//! the tracing layers, so tracing that is off adds nothing to a request, not even a
//! branch (the callgrind gate in `bench/` measures it),
//! and trace headers pass through every hop unchanged, as Knative's no-op tracer
//! passes them.
//!
//! Probes (`K-Network-Probe`, `kube-probe/` user agents) are never traced, as Knative
//! filters them.

mod export;
mod layer;

use std::{
    fmt,
    sync::Arc,
    time::{Duration, SystemTime},
};

use http::{Request, Response};
use opentelemetry::{
    Context, KeyValue,
    trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _},
};
use opentelemetry_sdk::{
    propagation::TraceContextPropagator,
    trace::{SdkTracer, SdkTracerProvider},
};
use tokio::time::Instant;
use tower::{Layer, Service, util::BoxCloneService};

pub use self::export::StartError;
pub use self::layer::{
    SpanBody, TraceForward, TraceForwardLayer, TraceFuture, TraceLayer, TraceService,
};
use crate::config::TracingConfig;
use crate::net::{Body, BoxError, HttpService};

/// The attribute holding a revision's name (Knative's metrics key).
pub const REVISION_ATTRIBUTE: &str = "kn.revision.name";
/// The attribute holding a revision's namespace (OpenTelemetry's Kubernetes key).
pub const NAMESPACE_ATTRIBUTE: &str = "k8s.namespace.name";
/// The attribute naming the instance a hop serves (the queue-proxy's pod or instance
/// name) or forwards to (the destination's address, on the router and the activator).
pub const INSTANCE_ATTRIBUTE: &str = "knserve.instance";
/// The attribute holding how long the request waited in the hop, in milliseconds.
pub const WAIT_ATTRIBUTE: &str = "knserve.wait_ms";

/// A hop of the request path, which names its span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// The ingress router: span `ingress`, no wait span (it does not queue).
    Ingress,
    /// The activator: span `activator`, wait span `throttler_try`.
    Activator,
    /// An instance's queue-proxy: span `queue-proxy`, wait span `kn.queueproxy.wait`.
    QueueProxy,
}

impl Hop {
    /// The name of the hop's server span.
    pub fn span_name(self) -> &'static str {
        match self {
            Self::Ingress => "ingress",
            Self::Activator => "activator",
            Self::QueueProxy => "queue-proxy",
        }
    }

    /// The name of the span covering the request's wait in this hop, as Knative's
    /// activator and queue-proxy name theirs.
    pub fn wait_span_name(self) -> Option<&'static str> {
        match self {
            Self::Ingress => None,
            Self::Activator => Some("throttler_try"),
            Self::QueueProxy => Some("kn.queueproxy.wait"),
        }
    }
}

/// The process's tracer, or nothing when tracing is off; cheap to clone.
///
/// Built once per process from `config-observability` ([`Tracing::start`]); every
/// hop's layers share it. [`Tracing::shutdown`] sends what is still batched.
#[derive(Clone, Default)]
pub struct Tracing(Option<Arc<Shared>>);

struct Shared {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    propagator: TraceContextPropagator,
}

impl fmt::Debug for Tracing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracing")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

impl Tracing {
    /// Tracing off: no layer, no span, headers untouched.
    pub fn disabled() -> Self {
        Self(None)
    }

    /// The tracer `config` asks for, its spans labelled with the resource attribute
    /// `service.name` = `service_name`; [`disabled`](Self::disabled) for protocol
    /// `none`. Exporting runs on the SDK's batch thread; the OTLP client's requests
    /// run on the Tokio runtime this is called from (it must be called inside one).
    ///
    /// Two deliberate limits, refused here with the reason: `grpc` (OTLP/gRPC; use
    /// `http/protobuf`, which every OTLP collector also serves, on port 4318), and
    /// `https://` endpoints (knserve's exporter speaks plain HTTP; run the collector
    /// or an agent beside knserve). An endpoint written without a scheme
    /// (`collector:4318/v1/traces`) means `https://` in Knative, so it is refused too.
    pub fn start(config: &TracingConfig, service_name: &str) -> Result<Self, StartError> {
        export::start(config, service_name)
    }

    /// Whether spans are recorded.
    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// One hop's stack: `inner` around `service`, traced as `hop`. With tracing on, the
    /// hop's span ([`layer`](Self::layer), with `attributes`) sits outside `inner` and
    /// the [`forward_layer`](Self::forward_layer) between `inner` and `service`; with
    /// it off the stack is `inner` around `service` alone, so a request meets no
    /// tracing code at all, not even a branch (what `option_layer` would leave).
    pub fn hop<L, S>(
        &self,
        hop: Hop,
        attributes: Vec<KeyValue>,
        inner: L,
        service: S,
    ) -> HttpService
    where
        S: Service<Request<Body>, Response = Response<Body>, Error = BoxError>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        L: Layer<S> + Layer<TraceForward<S>>,
        <L as Layer<S>>::Service: Service<Request<Body>, Response = Response<Body>, Error = BoxError>
            + Clone
            + Send
            + 'static,
        <<L as Layer<S>>::Service as Service<Request<Body>>>::Future: Send + 'static,
        <L as Layer<TraceForward<S>>>::Service: Service<Request<Body>, Response = Response<Body>, Error = BoxError>
            + Clone
            + Send
            + 'static,
        <<L as Layer<TraceForward<S>>>::Service as Service<Request<Body>>>::Future: Send + 'static,
    {
        match (self.layer(hop, attributes), self.forward_layer()) {
            (Some(trace), Some(forward)) => {
                BoxCloneService::new(trace.layer(inner.layer(forward.layer(service))))
            }
            _ => BoxCloneService::new(inner.layer(service)),
        }
    }

    /// The outer layer of `hop` (server span, header propagation), `None` when
    /// tracing is off. `attributes` are set on every span of this layer (the
    /// queue-proxy's revision and instance).
    pub fn layer(&self, hop: Hop, attributes: Vec<KeyValue>) -> Option<TraceLayer> {
        let shared = self.0.clone()?;
        Some(TraceLayer::new(shared, hop, attributes))
    }

    /// The inner layer (revision, destination and wait), `None` when tracing is off.
    pub fn forward_layer(&self) -> Option<TraceForwardLayer> {
        self.0
            .as_ref()
            .map(|shared| TraceForwardLayer::new(shared.clone()))
    }

    /// Sends the spans still batched and stops the exporter (on shutdown). The SDK
    /// blocks its caller until the batch thread is done, and the batch's requests run
    /// on this runtime, so the wait happens on a blocking thread.
    pub async fn shutdown(&self) {
        let Some(shared) = self.0.clone() else { return };
        let done = tokio::task::spawn_blocking(move || shared.provider.shutdown()).await;
        if let Ok(Err(error)) = done {
            tracing::warn!(%error, "tracing: could not send the last spans");
        }
    }

    /// Sends the spans batched so far now, instead of at the next batch (see
    /// [`shutdown`](Self::shutdown) for why it is async).
    pub async fn flush(&self) {
        let Some(shared) = self.0.clone() else { return };
        let done = tokio::task::spawn_blocking(move || shared.provider.force_flush()).await;
        if let Ok(Err(error)) = done {
            tracing::warn!(%error, "tracing: could not send spans");
        }
    }
}

impl Shared {
    fn new(provider: SdkTracerProvider) -> Self {
        Self {
            tracer: provider.tracer("knserve"),
            provider,
            propagator: TraceContextPropagator::new(),
        }
    }
}

/// The span of the hop a request is in, as a request extension: layers between
/// [`TraceLayer`] and [`TraceForwardLayer`] add to it.
#[derive(Clone)]
pub struct HopSpan {
    cx: Context,
    hop: Hop,
    arrived: Instant,
    arrived_at: SystemTime,
}

impl fmt::Debug for HopSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HopSpan")
            .field("hop", &self.hop)
            .field("span", &self.cx.span().span_context().span_id())
            .finish()
    }
}

impl HopSpan {
    /// Sets an attribute on the hop's span.
    pub fn set_attribute(&self, attribute: KeyValue) {
        self.cx.span().set_attribute(attribute);
    }

    /// Adds an event that happened at `at` (a monotonic instant, placed on the
    /// span's wall clock by its distance from the request's arrival).
    pub fn add_event_at(&self, name: &'static str, at: Instant, attributes: Vec<KeyValue>) {
        let timestamp = self.wall_clock(at);
        self.cx
            .span()
            .add_event_with_timestamp(name, timestamp, attributes);
    }

    /// When the request arrived at this hop.
    pub fn arrived(&self) -> Instant {
        self.arrived
    }

    /// `at` on the wall clock the span's timestamps use.
    fn wall_clock(&self, at: Instant) -> SystemTime {
        if at >= self.arrived {
            self.arrived_at + (at - self.arrived)
        } else {
            self.arrived_at
                .checked_sub(self.arrived - at)
                .unwrap_or(self.arrived_at)
        }
    }

    /// Records the wait from arrival to now as the hop's wait span and attribute.
    fn record_wait(&self, tracer: &SdkTracer) {
        let waited = self.arrived.elapsed();
        self.set_attribute(KeyValue::new(WAIT_ATTRIBUTE, millis(waited)));
        if let Some(name) = self.hop.wait_span_name() {
            let mut span = tracer
                .span_builder(name)
                .with_start_time(self.arrived_at)
                .start_with_context(tracer, &self.cx);
            span.end_with_timestamp(self.arrived_at + waited);
        }
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}
