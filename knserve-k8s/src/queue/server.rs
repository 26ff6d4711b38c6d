//! The sidecar's listeners, its layer stack, and its shutdown sequence (spec §4.1,
//! §4.2, §4.5).

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use http::{Method, Request, StatusCode, header};
use knserve_core::{
    RevisionKey,
    net::{
        self, Body, BoxError, ProtocolForward, ServeHandle,
        exposition::{Exposition, Labels, revision_labels},
        metrics::RequestMetrics,
    },
    queue::{
        self, QueueProxyConfig,
        drain::{DrainHandle, HIJACKED_DRAIN_LIMIT, InFlight, LIVENESS_RESET_DELAY},
        readiness::Readiness,
        stack::HttpService,
        stats::{StatsHandle, prometheus_text, write_stat},
    },
    timeout::TimeoutLimits,
    trace::Tracing,
};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tower::service_fn;
use tracing::{info, warn};

use super::QueueEnv;

/// Idle connections kept to the app when `containerConcurrency` is 0 (spec §7).
const UNLIMITED_IDLE_CONNECTIONS: usize = 1000;
/// Knative's stats reporting period (spec §4.7).
const REPORTING_PERIOD: Duration = Duration::from_secs(1);

/// Why the sidecar could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `SERVING_READINESS_PROBE` does not describe a probe.
    #[error("SERVING_READINESS_PROBE: {0}")]
    Probe(#[source] knserve_core::queue::readiness::ProbeError),
    /// `OBSERVABILITY_CONFIG`'s tracing names an exporter knserve cannot build.
    #[error("OBSERVABILITY_CONFIG: {0}")]
    Tracing(#[source] knserve_core::trace::StartError),
    /// A listener could not be bound.
    #[error("binding {address}")]
    Bind {
        /// The address that was refused.
        address: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// The addresses a running sidecar listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    /// The main proxy port (`QUEUE_SERVING_PORT`).
    pub serving: SocketAddr,
    /// `GET /wait-for-drain` (Knative: 8022).
    pub admin: SocketAddr,
    /// `GET /metrics`: the autoscaler's stat (Knative: 9090).
    pub metrics: SocketAddr,
    /// Prometheus request metrics (Knative: 9091), when the observability config asks.
    pub user_metrics: Option<SocketAddr>,
}

/// A running sidecar: its servers, the drain state they share, and the stats reporter.
#[derive(Debug)]
pub struct QueueProxy {
    addresses: Addresses,
    serving: ServeHandle,
    admin: ServeHandle,
    metrics: ServeHandle,
    user_metrics: Option<ServeHandle>,
    drain: DrainHandle,
    in_flight: InFlight,
    terminating: watch::Sender<bool>,
    reporter: JoinHandle<()>,
    tracing: Tracing,
}

impl QueueProxy {
    /// Binds every listener of `env` and starts serving.
    pub async fn start(env: &QueueEnv) -> Result<Self, StartError> {
        let readiness = match &env.readiness_probe {
            Some(json) => {
                Readiness::from_env_json(json, env.user_port).map_err(StartError::Probe)?
            }
            None => Readiness::always(),
        };
        let request_metrics = RequestMetrics::with_labels(metric_labels(env));
        let (terminating, terminated) = watch::channel(false);

        let tracing = Tracing::start(&env.tracing, "knserve-queue").map_err(StartError::Tracing)?;
        let queue = queue::QueueProxy::new(QueueProxyConfig {
            tracing: tracing.clone(),
            revision: RevisionKey::new(env.namespace.as_str(), env.revision.as_str()),
            pod_name: env.pod.clone(),
            stats_period: REPORTING_PERIOD,
            drain_quiet_period: env.drain_quiet_period,
            readiness,
            limits: TimeoutLimits::from_seconds(
                env.timeout.as_secs(),
                env.response_start_timeout.map(|d| d.as_secs()),
                env.idle_timeout.map(|d| d.as_secs()),
            ),
            container_concurrency: env.container_concurrency,
            // Recorded only when served (OBSERVABILITY_CONFIG's Prometheus request metrics).
            request_metrics: env
                .prometheus_request_metrics
                .then(|| request_metrics.clone()),
        });
        let (drain, in_flight, stats) = (
            queue.drain().clone(),
            queue.in_flight().clone(),
            queue.stats().clone(),
        );
        let serving = serving_stack(env, &queue);
        let serving = net::serve(bind(env, env.serving_port).await?, serving)
            .map_err(|e| bind_error(env, env.serving_port, e))?;
        let admin = net::serve(
            bind(env, env.admin_port).await?,
            admin_service(drain.clone(), terminated),
        )
        .map_err(|e| bind_error(env, env.admin_port, e))?;
        let metrics = net::serve(
            bind(env, env.metrics_port).await?,
            stats_service(stats.clone()),
        )
        .map_err(|e| bind_error(env, env.metrics_port, e))?;
        let user_metrics = if env.prometheus_request_metrics {
            let service = user_metrics_service(request_metrics, stats.clone(), env);
            let listener = bind(env, env.user_metrics_port).await?;
            Some(
                net::serve(listener, service)
                    .map_err(|e| bind_error(env, env.user_metrics_port, e))?,
            )
        } else {
            None
        };
        let addresses = Addresses {
            serving: serving.local_addr(),
            admin: admin.local_addr(),
            metrics: metrics.local_addr(),
            user_metrics: user_metrics.as_ref().map(ServeHandle::local_addr),
        };
        info!(serving = %addresses.serving, user_port = env.user_port, "queue-proxy started");
        Ok(Self {
            addresses,
            serving,
            admin,
            metrics,
            user_metrics,
            drain,
            in_flight,
            terminating,
            reporter: tokio::spawn(queue.reporter()),
            tracing,
        })
    }

    /// Where the servers listen.
    pub fn addresses(&self) -> Addresses {
        self.addresses
    }

    /// The shutdown of §4.5, on SIGTERM: fail health checks and wait until the drain's
    /// quiet period passes with no new request; stop accepting and finish every admitted
    /// request; wait up to 60 s more for upgraded connections; then stop the rest.
    pub async fn terminate(self) {
        let _ = self.terminating.send(true);
        self.drain.drain().await;
        info!("drained; stopping the servers");
        self.serving.shutdown().await;
        if tokio::time::timeout(HIJACKED_DRAIN_LIMIT, self.in_flight.idle())
            .await
            .is_err()
        {
            warn!(
                open = self.in_flight.count(),
                "upgraded connections still open after the drain limit"
            );
        }
        self.reporter.abort();
        self.admin.shutdown().await;
        self.metrics.shutdown().await;
        if let Some(user_metrics) = self.user_metrics {
            user_metrics.shutdown().await;
        }
        self.tracing.shutdown().await;
    }
}

/// The main handler chain of §4.2, outermost first, in front of a proxy to the app.
fn serving_stack(env: &QueueEnv, queue: &queue::QueueProxy) -> HttpService {
    let app = SocketAddr::from(([127, 0, 0, 1], env.user_port));
    let idle = match env.container_concurrency {
        0 => UNLIMITED_IDLE_CONNECTIONS,
        cc => cc as usize,
    };
    // Knative's `NewProxyAutoTransport`: a request that arrived over HTTP/2 (h2c from
    // the activator or the ingress, on the h2c port 8013) goes to the app as h2c with
    // prior knowledge, any other as HTTP/1.1.
    queue.stack().wrap(ProtocolForward::new(idle, true).to(app))
}

/// `GET /wait-for-drain`, the user container's preStop hook (§4.5): drains, answers
/// 200, and undoes the drain when no SIGTERM follows within a second (kubelet is
/// restarting only the user container after a liveness failure).
fn admin_service(drain: DrainHandle, terminated: watch::Receiver<bool>) -> HttpService {
    tower::util::BoxCloneService::new(service_fn(move |request: Request<Body>| {
        let drain = drain.clone();
        let terminated = terminated.clone();
        async move {
            if request.uri().path() != "/wait-for-drain" {
                return Ok(net::text_response(StatusCode::NOT_FOUND, "not found"));
            }
            drain.drain().await;
            tokio::spawn(async move {
                tokio::time::sleep(LIVENESS_RESET_DELAY).await;
                if !*terminated.borrow() {
                    info!("no SIGTERM after the drain; serving again");
                    drain.reset();
                }
            });
            Ok::<_, BoxError>(net::text_response(StatusCode::OK, ""))
        }
    }))
}

/// `GET /metrics` on the autoscaler port: the latest stat as protobuf, as Knative's
/// autoscaler expects, or as Prometheus text when the client asks for text.
fn stats_service(stats: StatsHandle) -> HttpService {
    tower::util::BoxCloneService::new(service_fn(move |request: Request<Body>| {
        let stats = stats.clone();
        async move {
            if request.method() != Method::GET || request.uri().path() != "/metrics" {
                return Ok(net::text_response(StatusCode::NOT_FOUND, "not found"));
            }
            if wants_text(&request) {
                let mut response =
                    net::text_response(StatusCode::OK, prometheus_text(&stats.latest(), &[]));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    PROMETHEUS_TEXT.parse().expect("static"),
                );
                return Ok(response);
            }
            Ok::<_, BoxError>(stats.metrics_response())
        }
    }))
}

const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

fn wants_text(request: &Request<Body>) -> bool {
    request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/plain") || accept.contains("openmetrics"))
}

/// The labels of every series this pod exports: Knative's revision labels and the pod.
fn metric_labels(env: &QueueEnv) -> Labels {
    let service = env.service.as_deref().unwrap_or_default();
    revision_labels(&env.namespace, service, &env.configuration, &env.revision)
        .with("pod_name", &env.pod)
}

/// Prometheus request metrics and the autoscaler stat, on the user-metrics port: one
/// exposition, each family once.
fn user_metrics_service(
    metrics: Arc<RequestMetrics>,
    stats: StatsHandle,
    env: &QueueEnv,
) -> HttpService {
    let labels = metric_labels(env);
    tower::util::BoxCloneService::new(service_fn(move |_: Request<Body>| {
        let mut text = Exposition::new();
        metrics.write(&mut text);
        write_stat(&mut text, &stats.latest(), &labels);
        let mut response = net::text_response(StatusCode::OK, text.render());
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            PROMETHEUS_TEXT.parse().expect("static"),
        );
        std::future::ready(Ok::<_, BoxError>(response))
    }))
}

async fn bind(env: &QueueEnv, port: u16) -> Result<TcpListener, StartError> {
    let address = SocketAddr::new(env.bind, port);
    TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind { address, source })
}

fn bind_error(env: &QueueEnv, port: u16, source: io::Error) -> StartError {
    StartError::Bind {
        address: SocketAddr::new(env.bind, port),
        source,
    }
}
