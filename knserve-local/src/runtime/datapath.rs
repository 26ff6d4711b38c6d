//! The request path of one `knserve serve`: the ingress router and the activator, each
//! on a loopback listener, assembled from the core's layers.
//!
//! ```text
//! ingress (router) ──Serve──► instance queue-proxy ──► app
//!        └──Proxy──► activator ──► instance queue-proxy ──► app
//! ```

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, PoisonError, RwLock},
    task::{Context, Poll},
};

use futures_util::future::BoxFuture;
use http::{HeaderValue, Request, Response};
use knserve_core::{
    RevisionKey,
    activator::{
        Backends,
        handler::{HandlerLayer, RevisionTable},
        report,
        throttler::{ThrottleLayer, ThrottlerConfig, ThrottlerRegistry},
    },
    autoscaler::metrics::Stat,
    net::{self, Body, BoxError, Forward, ServeHandle, metrics::Histogram},
    queue::stack::HttpService,
    router::{Hops, RouteLayer, RouteTable},
    timeout::{TimeoutLayer, TimeoutLimits},
};
use rand::{SeedableRng, rngs::SmallRng};
use tokio::{
    net::TcpListener,
    sync::{mpsc, watch},
    time::Instant,
};
use tower::{Layer, Service, ServiceBuilder, util::BoxCloneService};

/// Idle connections the router and the activator keep per instance.
const IDLE_PER_HOST: usize = 256;
/// Bucket bounds of the cold-start histogram, in seconds.
const COLD_START_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// The response header that reports a cold start: the standard `Server-Timing`, so
/// browsers' network panels show it too. The value is `cold-start;dur=<milliseconds>`.
pub const COLD_START_HEADER: &str = "server-timing";

/// Each revision's probed instances, as the activator's throttler sees them: the
/// cold-start timing reads them, so "cold" means exactly that the activator had no
/// healthy instance to send the request to when it arrived.
#[derive(Debug, Clone, Default)]
pub struct HealthyBackends(Arc<RwLock<HashMap<RevisionKey, watch::Receiver<Backends>>>>);

impl HealthyBackends {
    /// Follows `backends` for `key`.
    pub fn insert(&self, key: RevisionKey, backends: watch::Receiver<Backends>) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, backends);
    }

    /// Stops following `key`.
    pub fn remove(&self, key: &RevisionKey) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    fn is_empty(&self, key: &RevisionKey) -> bool {
        let revisions = self.0.read().unwrap_or_else(PoisonError::into_inner);
        revisions
            .get(key)
            .is_none_or(|backends| backends.borrow().healthy.is_empty())
    }
}

/// Cold starts: requests that reached the activator while their revision had no ready
/// instance, timed from arrival to the response headers.
#[derive(Debug)]
pub struct ColdStarts {
    backends: HealthyBackends,
    histogram: Histogram,
}

impl ColdStarts {
    fn new(backends: HealthyBackends) -> Arc<Self> {
        Arc::new(Self {
            backends,
            histogram: Histogram::new(&COLD_START_BUCKETS),
        })
    }

    /// Appends `knserve_cold_start_seconds` in Prometheus text.
    pub fn render(&self, out: &mut String) {
        self.histogram.render(
            out,
            "knserve_cold_start_seconds",
            "Time from a request's arrival at a revision with no ready instance to its response headers.",
            "",
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

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let cold = request
            .extensions()
            .get::<RevisionKey>()
            .is_some_and(|key| self.cold.backends.is_empty(key))
            .then(|| (Instant::now(), self.cold.clone()));
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = match future.await {
                Ok(response) => response,
                Err(e) => return Err(e),
            };
            if let Some((arrived, cold)) = cold {
                let waited = arrived.elapsed();
                cold.histogram.observe(waited);
                let value = format!("cold-start;dur={:.1}", waited.as_secs_f64() * 1e3);
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().append(COLD_START_HEADER, value);
                }
            }
            Ok(response)
        })
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
}

/// A running activator.
#[derive(Debug)]
pub struct Activator {
    /// Its control side.
    pub control: ActivatorControl,
    server: ServeHandle,
    _draining: watch::Sender<bool>,
}

impl Activator {
    /// Binds the activator on loopback and starts it; the receiver gets the stats it
    /// reports for the autoscaler (the requests it holds or proxies, per revision).
    pub async fn start(
        cluster_domain: &str,
    ) -> std::io::Result<(Self, mpsc::Receiver<(RevisionKey, Stat)>)> {
        let backends = HealthyBackends::default();
        let control = ActivatorControl {
            table: RevisionTable::new(),
            registry: ThrottlerRegistry::new(ThrottlerConfig::default()),
            cold_starts: ColdStarts::new(backends.clone()),
            backends,
        };
        let (stats_tx, stats) = mpsc::channel(1024);
        let (report, worker) = report::pair("activator", stats_tx);
        tokio::spawn(worker.run());
        let (draining_tx, draining) = watch::channel(false);
        let stack = ServiceBuilder::new()
            .layer(
                HandlerLayer::new(control.table.clone(), draining)
                    .cluster_domain(cluster_domain.to_owned()),
            )
            .layer(ColdStartLayer(control.cold_starts.clone()))
            .layer(report)
            .layer(TimeoutLayer::activator(TimeoutLimits::default()))
            .layer(ThrottleLayer::new(control.registry.clone()))
            .service(Forward::new(IDLE_PER_HOST, false));
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let server = net::serve(listener, BoxCloneService::new(stack))?;
        let activator = Self {
            control,
            server,
            _draining: draining_tx,
        };
        Ok((activator, stats))
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Stops accepting and finishes what it holds.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// Starts the ingress router on `listener`.
pub fn ingress(
    listener: TcpListener,
    tables: watch::Receiver<Arc<RouteTable>>,
    hops: watch::Receiver<Hops>,
) -> std::io::Result<ServeHandle> {
    let stack = ServiceBuilder::new()
        .layer(RouteLayer::new(
            tables,
            hops,
            SmallRng::seed_from_u64(seed()),
        ))
        .service(Forward::new(IDLE_PER_HOST, false));
    net::serve(listener, BoxCloneService::new(stack))
}

/// A seed that differs per process, for the router's weighted choice.
fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}
