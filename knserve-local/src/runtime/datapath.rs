//! The request path of one `knserve serve`: the ingress router and the activator, each
//! on a loopback listener, assembled from the core's layers.
//!
//! ```text
//! ingress (router) ──Serve──► instance queue-proxy ──► app
//!        └──Proxy──► activator ──► instance queue-proxy ──► app
//! ```
//!
//! The activator and every instance's queue-proxy listen on their own loopback ports,
//! and they are also registered in one [`LocalPeers`] table: the ingress and the
//! activator reach them with in-process tower calls ([`Dispatch`]), so a request
//! crosses a socket only from the client to the ingress and from the queue-proxy to
//! the app. What each hop sees is what it would have seen over its socket (see
//! [`knserve_core::net::Dispatch`]).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use futures_util::future::BoxFuture;
use http::{HeaderValue, Request, Response};
use knserve_core::{
    RevisionKey,
    activator::{
        self, ActivatorConfig, Backends,
        handler::RevisionTable,
        throttler::{ThrottlerConfig, ThrottlerRegistry},
    },
    autoscaler::metrics::Stat,
    net::{
        self, Body, BoxError, Dispatch, Forward, LocalPeers, PeerGuard, ServeHandle,
        exposition::{Exposition, Labels},
        metrics::Histogram,
    },
    queue::stack::HttpService,
    router::{Hops, RouteLayer, RouteTable},
    trace::{Hop, HopSpan, Tracing},
};
use rand::{SeedableRng, rngs::SmallRng};
use tokio::{
    net::TcpListener,
    sync::{mpsc, watch},
    time::Instant,
};
use tower::{Layer, Service, util::BoxCloneService};

/// Idle connections the router and the activator keep per instance.
const IDLE_PER_HOST: usize = 256;
/// Bucket bounds of the cold-start histogram, in seconds.
const COLD_START_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// The response header that reports a cold start: the standard `Server-Timing`, so
/// browsers' network panels show it too. Its first value is
/// `cold-start;dur=<milliseconds>`, from the request's arrival at the activator to the
/// response headers; the values after it ([`COLD_START_PHASES`]) split that time into
/// the phases of the scale from zero, in order, each `<phase>;dur=<milliseconds>`.
/// The phases never add up to more than the total; a phase whose stamp is missing (an
/// in-process instance has no process to spawn) is left out.
pub const COLD_START_HEADER: &str = "server-timing";
/// The phases of a cold start, as named in [`COLD_START_HEADER`]:
///
/// - `scale`: arrival at the activator → the autoscaler's decision to scale from zero
///   (the activator's poke, the decider, the PodAutoscaler);
/// - `spawn`: decision → the instance's process spawned (its queue-proxy bound first);
/// - `ready`: spawned → the instance passed its readiness probe (the app's own start);
/// - `route`: ready → the activator forwards the request (the instance published to
///   the activator, its probe, the throttler's admission);
/// - `app`: forwarded → response headers from the instance (queue-proxy and app).
pub const COLD_START_PHASES: [&str; 5] = ["scale", "spawn", "ready", "route", "app"];

/// When the steps of a revision's latest scale from zero happened: the control loop,
/// the instance and its monitor stamp them, and the cold-start timing reads them.
#[derive(Debug, Default)]
pub struct StartTrace(Mutex<StartStamps>);

#[derive(Debug, Default, Clone, Copy)]
struct StartStamps {
    decided: Option<Instant>,
    spawned: Option<Instant>,
    ready: Option<Instant>,
}

impl StartTrace {
    /// The autoscaler asked for instances while there were none: a new scale from
    /// zero starts, and the stamps of the previous one are dropped.
    pub fn decided(&self, at: Instant) {
        *self.lock() = StartStamps {
            decided: Some(at),
            ..StartStamps::default()
        };
    }

    /// An instance's process was spawned (the first one since the decision counts).
    pub fn spawned(&self, at: Instant) {
        self.lock().spawned.get_or_insert(at);
    }

    /// An instance passed its readiness probe (the first one since the decision counts).
    pub fn ready(&self, at: Instant) {
        self.lock().ready.get_or_insert(at);
    }

    fn stamps(&self) -> StartStamps {
        *self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StartStamps> {
        // Plain stamps: no invariant a panicking holder could break.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Set on a cold request by the cold-start timing; the layer in front of the forward
/// stamps it each time the activator forwards the request to an instance.
#[derive(Debug, Clone, Default)]
struct ForwardStamp(Arc<Mutex<Option<Instant>>>);

impl ForwardStamp {
    fn get(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Each revision's probed instances, as the activator's throttler sees them, and its
/// [`StartTrace`]: the cold-start timing reads them, so "cold" means exactly that the
/// activator had no healthy instance to send the request to when it arrived.
#[derive(Debug, Clone, Default)]
pub struct HealthyBackends(Arc<RwLock<HashMap<RevisionKey, Followed>>>);

/// What the cold-start timing follows of one revision.
type Followed = (watch::Receiver<Backends>, Arc<StartTrace>);

impl HealthyBackends {
    /// Follows `backends` for `key`, whose scales from zero `trace` stamps.
    pub fn insert(
        &self,
        key: RevisionKey,
        backends: watch::Receiver<Backends>,
        trace: Arc<StartTrace>,
    ) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, (backends, trace));
    }

    /// Stops following `key`.
    pub fn remove(&self, key: &RevisionKey) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    /// The revision's trace when it has no healthy instance (a cold request), `None`
    /// when it has one. An unknown revision is cold, with no trace.
    fn cold(&self, key: &RevisionKey) -> Option<Option<Arc<StartTrace>>> {
        let revisions = self.0.read().unwrap_or_else(PoisonError::into_inner);
        match revisions.get(key) {
            None => Some(None),
            Some((backends, trace)) => backends
                .borrow()
                .healthy
                .is_empty()
                .then(|| Some(trace.clone())),
        }
    }
}

/// How many of the latest cold starts [`ColdStarts::recent`] keeps.
pub const RECENT_COLD_STARTS: usize = 50;

/// One cold request, as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ColdStartRecord {
    /// The revision's namespace.
    pub namespace: String,
    /// The revision's name.
    pub revision: String,
    /// When the request arrived at the activator, Unix time in milliseconds.
    pub arrived_unix_ms: u64,
    /// The response's status.
    pub status: u16,
    /// Arrival to response headers, in milliseconds (`cold-start` in [`COLD_START_HEADER`]).
    pub total_ms: f64,
    /// The phases of [`COLD_START_PHASES`] that have their stamp, in order.
    pub phases: Vec<ColdStartPhase>,
}

/// One phase of a [`ColdStartRecord`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ColdStartPhase {
    /// One of [`COLD_START_PHASES`].
    pub name: &'static str,
    /// Its duration in milliseconds.
    pub ms: f64,
}

/// Cold starts: requests that reached the activator while their revision had no ready
/// instance, timed from arrival to the response headers, and the latest
/// [`RECENT_COLD_STARTS`] of them; and the count of every request the activator took
/// for a known revision, cold or warm.
#[derive(Debug)]
pub struct ColdStarts {
    backends: HealthyBackends,
    histogram: Histogram,
    requests: AtomicU64,
    recent: Mutex<std::collections::VecDeque<ColdStartRecord>>,
}

impl ColdStarts {
    fn new(backends: HealthyBackends) -> Arc<Self> {
        Arc::new(Self {
            backends,
            histogram: Histogram::new(&COLD_START_BUCKETS),
            requests: AtomicU64::new(0),
            recent: Mutex::new(std::collections::VecDeque::with_capacity(
                RECENT_COLD_STARTS,
            )),
        })
    }

    /// The latest cold starts, newest first.
    pub fn recent(&self) -> Vec<ColdStartRecord> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.iter().rev().cloned().collect()
    }

    fn remember(&self, record: ColdStartRecord) {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == RECENT_COLD_STARTS {
            recent.pop_front();
        }
        recent.push_back(record);
    }

    /// Adds `knserve_activator_requests_total` and `knserve_cold_start_seconds` to `out`.
    pub fn write(&self, out: &mut Exposition) {
        out.counter(
            "knserve_activator_requests_total",
            "Requests the activator took for a known revision, held or forwarded.",
            &Labels::default(),
            self.requests.load(Ordering::Relaxed),
        );
        self.histogram.write(
            out,
            "knserve_cold_start_seconds",
            "Time from a request's arrival at a revision with no ready instance to its response headers.",
            &Labels::default(),
        );
    }
}

#[derive(Debug, Clone)]
struct ColdStartLayer(Arc<ColdStarts>);

impl<S> Layer<S> for ColdStartLayer
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Service = ColdStart;

    fn layer(&self, inner: S) -> Self::Service {
        ColdStart {
            inner: BoxCloneService::new(inner),
            cold: self.0.clone(),
        }
    }
}

/// Times requests that arrive while their revision is at zero (placed after the
/// handler, which resolves the revision). The inner service is boxed: its future is
/// then one concrete type, which keeps the `Send` proof of the async block simple.
#[derive(Debug, Clone)]
struct ColdStart {
    inner: HttpService,
    cold: Arc<ColdStarts>,
}

impl Service<Request<Body>> for ColdStart {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<Body>, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        self.cold.requests.fetch_add(1, Ordering::Relaxed);
        let cold = request
            .extensions()
            .get::<RevisionKey>()
            .and_then(|key| Some((key.clone(), self.cold.backends.cold(key)?)))
            .map(|(key, trace)| {
                let forwarded = ForwardStamp::default();
                request.extensions_mut().insert(forwarded.clone());
                let arrived_unix = std::time::SystemTime::now();
                (key, Instant::now(), arrived_unix, trace, forwarded)
            });
        let span = cold
            .as_ref()
            .and_then(|_| request.extensions().get::<HopSpan>().cloned());
        let future = self.inner.call(request);
        let cold_starts = self.cold.clone();
        Box::pin(async move {
            let mut response = future.await?;
            if let Some((key, arrived, arrived_unix, trace, forwarded)) = cold {
                let now = Instant::now();
                let waited = now - arrived;
                cold_starts.histogram.observe(waited);
                let stamps = trace.map(|t| t.stamps()).unwrap_or_default();
                let marks = [
                    stamps.decided,
                    stamps.spawned,
                    stamps.ready,
                    forwarded.get(),
                    Some(now),
                ];
                let (total_ms, phases) = cold_start_phases(arrived, marks);
                if let Some(span) = span {
                    trace_cold_start(&span, arrived, total_ms, &phases);
                }
                let headers = response.headers_mut();
                for value in server_timing(total_ms, &phases) {
                    if let Ok(value) = HeaderValue::from_str(&value) {
                        headers.append(COLD_START_HEADER, value);
                    }
                }
                let arrived_unix_ms = arrived_unix
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                cold_starts.remember(ColdStartRecord {
                    namespace: key.namespace.to_string(),
                    revision: key.name.to_string(),
                    arrived_unix_ms,
                    status: response.status().as_u16(),
                    total_ms,
                    phases,
                });
            }
            Ok(response)
        })
    }
}

/// The total and the phases of a cold request that arrived at `arrived`, in
/// milliseconds: each phase of [`COLD_START_PHASES`] that has its end mark. Marks are
/// clamped to be monotonic from `arrived` (a stamp from before the request's arrival —
/// the scale from zero had begun already — counts as the arrival), so the phases never
/// add up to more than the total.
fn cold_start_phases(arrived: Instant, marks: [Option<Instant>; 5]) -> (f64, Vec<ColdStartPhase>) {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let end = marks[4].unwrap_or(arrived).max(arrived);
    let mut phases = Vec::with_capacity(marks.len());
    let mut last = arrived;
    for (name, mark) in COLD_START_PHASES.iter().zip(marks) {
        let Some(mark) = mark else { continue };
        let mark = mark.clamp(last, end);
        phases.push(ColdStartPhase {
            name,
            ms: ms(mark - last),
        });
        last = mark;
    }
    (ms(end - arrived), phases)
}

/// Puts a cold start on the activator's span: the attribute `knserve.cold_start_ms`
/// and one event per phase, `cold_start.<phase>` at the phase's end with its
/// `duration_ms`.
fn trace_cold_start(span: &HopSpan, arrived: Instant, total_ms: f64, phases: &[ColdStartPhase]) {
    span.set_attribute(opentelemetry::KeyValue::new(
        "knserve.cold_start_ms",
        total_ms,
    ));
    let mut at = arrived;
    for phase in phases {
        at += std::time::Duration::from_secs_f64(phase.ms / 1e3);
        span.add_event_at(
            phase_event(phase.name),
            at,
            vec![opentelemetry::KeyValue::new("duration_ms", phase.ms)],
        );
    }
}

/// The span event of a cold-start phase.
fn phase_event(phase: &str) -> &'static str {
    match phase {
        "scale" => "cold_start.scale",
        "spawn" => "cold_start.spawn",
        "ready" => "cold_start.ready",
        "route" => "cold_start.route",
        _ => "cold_start.app",
    }
}

/// The `Server-Timing` values of a cold request: the total, then each phase.
fn server_timing(total_ms: f64, phases: &[ColdStartPhase]) -> Vec<String> {
    std::iter::once(format!("cold-start;dur={total_ms:.1}"))
        .chain(phases.iter().map(|p| format!("{};dur={:.1}", p.name, p.ms)))
        .collect()
}

/// Stamps the [`ForwardStamp`] of a cold request as the activator forwards it; warm
/// requests pass untouched.
#[derive(Debug, Clone)]
struct StampForward<S>(S);

impl<S> Service<Request<Body>> for StampForward<S>
where
    S: Service<Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> S::Future {
        if let Some(stamp) = request.extensions().get::<ForwardStamp>() {
            *stamp.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        }
        self.0.call(request)
    }
}

/// The activator's control side: the tables the orchestrator keeps current.
#[derive(Debug, Clone)]
pub struct ActivatorControl {
    /// Revisions the activator knows, with their settings.
    pub table: RevisionTable,
    /// Per-revision throttlers.
    pub registry: ThrottlerRegistry,
    /// Probed instances per revision, for cold-start timing.
    pub backends: HealthyBackends,
    /// Cold-start observations.
    pub cold_starts: Arc<ColdStarts>,
    /// The hops of this process the ingress and the activator call in-process: the
    /// activator itself and every instance's queue-proxy.
    pub peers: LocalPeers,
    /// The process's tracer, which every instance's queue-proxy uses too.
    pub tracing: Tracing,
}

/// A running activator.
#[derive(Debug)]
pub struct Activator {
    /// Its control side.
    pub control: ActivatorControl,
    // Unregistered before the server stops, so callers then meet its closed socket.
    registration: PeerGuard,
    server: ServeHandle,
    // Keeps the handler's drain signal open while the activator serves.
    _layers: activator::Activator,
}

impl Activator {
    /// Binds the activator on loopback and starts it; the receiver gets the stats it
    /// reports for the autoscaler (the requests it holds or proxies, per revision).
    /// `throttler` bounds what waits for each revision.
    pub async fn start(
        cluster_domain: &str,
        throttler: ThrottlerConfig,
        tracing: Tracing,
    ) -> std::io::Result<(Self, mpsc::Receiver<(RevisionKey, Stat)>)> {
        let (layers, worker, stats) = activator::Activator::new(ActivatorConfig {
            cluster_domain: cluster_domain.to_owned(),
            throttler,
            ..ActivatorConfig::default()
        });
        tokio::spawn(worker.run());
        let backends = HealthyBackends::default();
        let peers = LocalPeers::new();
        let control = ActivatorControl {
            peers: peers.clone(),
            table: layers.table().clone(),
            registry: layers.registry().clone(),
            cold_starts: ColdStarts::new(backends.clone()),
            backends,
            tracing: tracing.clone(),
        };
        let stack = tracing.hop(
            Hop::Activator,
            Vec::new(),
            layers.layers(ColdStartLayer(control.cold_starts.clone())),
            StampForward(Dispatch::new(
                peers.clone(),
                Forward::new(IDLE_PER_HOST, false),
            )),
        );
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let server = net::serve(listener, stack.clone())?;
        let registration = peers.register(server.local_addr(), stack);
        let activator = Self {
            control,
            registration,
            server,
            _layers: layers,
        };
        Ok((activator, stats))
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Stops accepting and finishes what it holds.
    pub async fn shutdown(self) {
        drop(self.registration);
        self.server.shutdown().await;
    }
}

/// Starts the ingress router on `listener`; it calls the hops in `peers` in-process.
pub fn ingress(
    listener: TcpListener,
    tables: watch::Receiver<Arc<RouteTable>>,
    hops: watch::Receiver<Hops>,
    peers: LocalPeers,
    tracing: &Tracing,
) -> std::io::Result<ServeHandle> {
    let stack = tracing.hop(
        Hop::Ingress,
        Vec::new(),
        RouteLayer::new(tables, hops, SmallRng::seed_from_u64(seed())),
        Dispatch::new(peers, Forward::new(IDLE_PER_HOST, false)),
    );
    net::serve(listener, stack)
}

/// A seed that differs per process, for the router's weighted choice.
fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}
