//! One instance of a revision: a queue-proxy on its own loopback port in front of the
//! user's code — a supervised child process, or an in-process tower service.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use knserve_core::{
    api::{IntOrString, expansion},
    net::{
        self, Forward, LocalPeers, PeerGuard, ServeHandle, exposition::Labels,
        metrics::RequestMetrics, pressure::SharedWarnLimiter,
    },
    queue::{
        QueueProxy, QueueProxyConfig,
        drain::InFlight,
        readiness::{ProbeAction, ProbeSpec, Readiness},
        stack::HttpService,
        stats::StatsHandle,
    },
    timeout::TimeoutLimits,
};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle, time::Instant};
use tracing::{debug, info};

use super::datapath::StartTrace;
use crate::process::{LogBuffer, ProcessSpec, ProcessStatus, RestartPolicy, Supervised};

/// Makes the service behind each instance of an in-process revision.
pub type Factory = Arc<dyn Fn() -> HttpService + Send + Sync>;

/// Knative's stats reporting period (spec §4.7).
const STATS_PERIOD: Duration = Duration::from_secs(1);
/// Idle connections kept to a process app when `containerConcurrency` is 0.
const UNLIMITED_IDLE_CONNECTIONS: usize = 1000;
/// After an instance leaves the routing tables, how long requests already on their
/// way may still arrive before its in-flight count is trusted to only go down.
const ROUTING_SETTLE: Duration = Duration::from_millis(500);
/// How often a starting process is probed when its probe asks for aggressive probing
/// (`periodSeconds` 0, Knative's default). The monitor, not the queue-proxy's 50 ms
/// retry rule, decides when a local instance is ready: a connection attempt to a port
/// nobody listens on costs microseconds on loopback, and the coarser the poll, the
/// longer a cold start waits beyond the app's own start.
const FAST_PROBE_INTERVAL: Duration = Duration::from_millis(1);
/// How long a starting process is polled at [`FAST_PROBE_INTERVAL`] (Knative's
/// aggressive limit); then every [`SLOW_PROBE_INTERVAL`].
const FAST_PROBE_LIMIT: Duration = knserve_core::queue::readiness::AGGRESSIVE_LIMIT;
/// The poll of a process still not ready after [`FAST_PROBE_LIMIT`].
const SLOW_PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// Where an instance stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceState {
    /// Started, not yet passing its readiness probe.
    Starting,
    /// Passing its readiness probe: it may take requests.
    Ready,
    /// Its process exited or could not start; it is being restarted. `crash_loop` says
    /// it failed too often in a row to wait for.
    Failing {
        /// Knative-style reason, e.g. `ExitCode1`.
        reason: String,
        /// What happened, with the app's last output.
        message: String,
        /// Consecutive failures reached the crash-loop limit.
        crash_loop: bool,
    },
}

/// What runs behind the queue-proxy.
#[derive(Clone)]
pub enum Workload {
    /// A child process.
    Process(Box<ProcessTemplate>),
    /// In-process services.
    InProcess(Factory),
}

impl std::fmt::Debug for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Process(template) => f.debug_tuple("Process").field(template).finish(),
            Self::InProcess(_) => f.write_str("InProcess"),
        }
    }
}

/// How to run a revision's container as a process (everything but the port).
#[derive(Debug, Clone)]
pub struct ProcessTemplate {
    /// The container's `command[0]` as the program, `command[1..]` then `args`, its
    /// `env` with Knative's `K_*` variables, `workingDir`, and where a bare program is
    /// looked for. Each instance adds `PORT` and its own name, then expands the `$(VAR)`
    /// references of the program and its arguments against the whole `env`, as the
    /// kubelet does (`env` values are expanded already, each against those before it).
    pub process: ProcessSpec,
    /// The serving container's readiness probe.
    pub probe: Option<knserve_core::api::Probe>,
    /// The container port the manifest declares (default 8080). The process listens
    /// on `PORT` instead, so a probe aimed at this port is aimed at `PORT`.
    pub container_port: i32,
    /// Restart back-off.
    pub restart: RestartPolicy,
}

/// Per-revision settings every instance shares.
#[derive(Debug, Clone)]
pub struct InstanceSettings {
    /// `containerConcurrency`.
    pub container_concurrency: u32,
    /// The revision's timeouts.
    pub limits: TimeoutLimits,
    /// Labels of the revision's metrics: namespace, service, configuration, revision.
    pub labels: Labels,
    /// Where the revision's scale from zero is stamped (spawned, ready).
    pub trace: Arc<StartTrace>,
    /// Where each instance registers its queue-proxy, for the ingress and the
    /// activator to call in-process.
    pub peers: LocalPeers,
    /// The process's tracer, for the queue-proxy's spans.
    pub tracing: knserve_core::trace::Tracing,
    /// The revision, which labels the queue-proxy's spans.
    pub revision: knserve_core::RevisionKey,
    /// Limits the warnings about instance starts refused for want of descriptors,
    /// memory or processes: one per second for the whole revision.
    pub start_warnings: SharedWarnLimiter,
}

/// A running instance.
#[derive(Debug)]
pub struct Instance {
    id: String,
    address: SocketAddr,
    stats: StatsHandle,
    in_flight: InFlight,
    metrics: Arc<RequestMetrics>,
    state: watch::Receiver<InstanceState>,
    // Dropped before the server (stop, or field order on drop): callers then meet the
    // listener's refusal, never a stack whose server is gone.
    registration: PeerGuard,
    server: ServeHandle,
    process: Option<Supervised>,
    monitor: Option<JoinHandle<()>>,
    // The app's port, leased until the instance is gone (after its process); held
    // for its `Drop`, never read.
    _port: Option<super::ports::PortLease>,
}

impl Instance {
    /// Starts instance `id` of a revision: binds its queue-proxy and starts the workload.
    pub async fn start(
        id: String,
        workload: &Workload,
        settings: &InstanceSettings,
    ) -> std::io::Result<Self> {
        // The admin listener's /metrics exposes every instance's request metrics.
        let metrics = RequestMetrics::with_labels(settings.labels.with("pod_name", &id));
        let queue = |readiness| {
            QueueProxy::new(QueueProxyConfig {
                pod_name: id.clone(),
                stats_period: STATS_PERIOD,
                drain_quiet_period: Duration::ZERO,
                readiness,
                limits: settings.limits,
                container_concurrency: settings.container_concurrency,
                request_metrics: Some(metrics.clone()),
                tracing: settings.tracing.clone(),
                revision: settings.revision.clone(),
            })
        };
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let (state_tx, state) = watch::channel(InstanceState::Starting);
        let (queue, service, process, monitor, port) = match workload {
            Workload::InProcess(factory) => {
                settings.trace.ready(Instant::now());
                state_tx.send_replace(InstanceState::Ready);
                let queue = queue(Readiness::always());
                let service = queue.stack().wrap(factory());
                (queue, service, None, None, None)
            }
            Workload::Process(template) => {
                let lease = super::ports::lease()?;
                let port = lease.port();
                let probe = probe_spec(template, port);
                let queue = queue(Readiness::new(vec![probe.clone()]));
                let idle = match settings.container_concurrency {
                    0 => UNLIMITED_IDLE_CONNECTIONS,
                    cc => cc as usize,
                };
                let app = Forward::new(idle, false).to(SocketAddr::from(([127, 0, 0, 1], port)));
                let process = Supervised::start_sharing_warnings(
                    process_spec(&id, template, port),
                    template.restart,
                    settings.start_warnings.clone(),
                );
                let monitor = tokio::spawn(monitor(
                    id.clone(),
                    process.status(),
                    probe,
                    state_tx,
                    settings.trace.clone(),
                ));
                let service = queue.stack().wrap(app);
                (queue, service, Some(process), Some(monitor), Some(lease))
            }
        };
        let server = net::serve(listener, service.clone())?;
        let registration = settings.peers.register(server.local_addr(), service);
        info!(instance = %id, address = %server.local_addr(), "instance started");
        Ok(Self {
            id,
            address: server.local_addr(),
            stats: queue.stats().clone(),
            in_flight: queue.in_flight().clone(),
            metrics,
            state,
            registration,
            server,
            process,
            monitor,
            _port: port,
        })
    }

    /// The instance's name (the pod name of the stats).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its queue-proxy's address: where the router and the activator send requests.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its request statistics.
    pub fn stats(&self) -> &StatsHandle {
        &self.stats
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.count()
    }

    /// Its Prometheus request metrics.
    pub fn metrics(&self) -> &Arc<RequestMetrics> {
        &self.metrics
    }

    /// Its state, watched.
    pub fn state(&self) -> watch::Receiver<InstanceState> {
        self.state.clone()
    }

    /// Its process's output, when it is a process.
    pub fn logs(&self) -> Option<LogBuffer> {
        self.process.as_ref().map(Supervised::logs)
    }

    /// Stops an instance already out of the routing tables: lets requests on their way
    /// arrive (through its socket: it leaves the in-process table at once), waits up
    /// to `grace` for those in flight — in-process ones included — closes the
    /// queue-proxy, then stops the process — SIGTERM, and SIGKILL after `grace`.
    pub async fn stop(self, grace: Duration) {
        drop(self.registration);
        tokio::time::sleep(ROUTING_SETTLE).await;
        if tokio::time::timeout(grace, self.in_flight.idle())
            .await
            .is_err()
        {
            info!(instance = %self.id, open = self.in_flight.count(), "stopping with requests still in flight");
        }
        self.server.shutdown().await;
        if let Some(monitor) = self.monitor {
            monitor.abort();
        }
        if let Some(process) = self.process {
            let exit = process.stop(grace).await;
            debug!(instance = %self.id, ?exit, "process stopped");
        }
        info!(instance = %self.id, "instance stopped");
    }
}

/// The readiness probe of an instance whose app listens on `port`: the manifest's,
/// with a port equal to the declared container port moved to `port` (a probe of
/// another port keeps it), else a TCP connect to `port` (Knative's default).
fn probe_spec(template: &ProcessTemplate, port: u16) -> ProbeSpec {
    let Some(mut probe) = template.probe.clone() else {
        return ProbeSpec::tcp(port);
    };
    let declared = |p: &Option<IntOrString>| match p {
        Some(IntOrString::Int(n)) => *n == template.container_port,
        Some(IntOrString::String(s)) => s.parse() == Ok(template.container_port),
        None => false,
    };
    if let Some(get) = probe.http_get.as_mut().filter(|g| declared(&g.port)) {
        get.port = None;
    }
    if let Some(tcp) = probe.tcp_socket.as_mut().filter(|t| declared(&t.port)) {
        tcp.port = None;
    }
    ProbeSpec::from_probe(&probe, port).unwrap_or_else(|_| ProbeSpec::tcp(port))
}

fn process_spec(id: &str, template: &ProcessTemplate, port: u16) -> ProcessSpec {
    let mut spec = template.process.clone();
    spec.env.push(("PORT".to_owned(), port.to_string()));
    spec.program = expansion::expand_with(&spec.program, &spec.env);
    for arg in &mut spec.args {
        *arg = expansion::expand_with(arg, &spec.env);
    }
    spec.name = id.to_owned();
    spec
}

/// Follows the process: probes it each time it runs, and reports failures.
async fn monitor(
    id: String,
    mut status: watch::Receiver<ProcessStatus>,
    probe: ProbeSpec,
    state: watch::Sender<InstanceState>,
    trace: Arc<StartTrace>,
) {
    loop {
        let current = status.borrow_and_update().clone();
        match current {
            ProcessStatus::Running { .. } => {
                trace.spawned(Instant::now());
                tokio::select! {
                    () = until_ready(&probe) => {
                        debug!(instance = %id, "ready");
                        trace.ready(Instant::now());
                        state.send_replace(InstanceState::Ready);
                    }
                    changed = status.changed() => {
                        if changed.is_err() { return; }
                        continue;
                    }
                }
            }
            ProcessStatus::Exited {
                exit,
                failures: _,
                crash_loop,
                last_output,
                ..
            } => {
                let mut message = format!("Container failed with: {exit}");
                if !last_output.is_empty() {
                    message.push_str(&format!("; last output: {}", last_output.join(" | ")));
                }
                state.send_replace(InstanceState::Failing {
                    reason: exit.reason(),
                    message,
                    crash_loop,
                });
            }
            ProcessStatus::SpawnFailed {
                error, crash_loop, ..
            } => {
                state.send_replace(InstanceState::Failing {
                    reason: "CommandFailed".to_owned(),
                    message: format!("Container failed to start: {error}"),
                    crash_loop,
                });
            }
            ProcessStatus::Starting { .. } | ProcessStatus::Stopped => {
                state.send_if_modified(|s| {
                    let was_ready = *s == InstanceState::Ready;
                    if was_ready {
                        *s = InstanceState::Starting;
                    }
                    was_ready
                });
            }
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}

/// Returns once `probe` passed `successThreshold` times in a row. Each check is one
/// attempt (the user's `timeoutSeconds`). An aggressive probe (`periodSeconds` 0) is
/// checked every [`FAST_PROBE_INTERVAL`] while the app does not listen yet — and, for
/// an HTTP probe, every 50 ms (Knative's aggressive interval) once it listens but does
/// not pass, so an app warming up is not flooded — then every [`SLOW_PROBE_INTERVAL`]
/// after [`FAST_PROBE_LIMIT`]. Any other probe is checked every [`SLOW_PROBE_INTERVAL`].
async fn until_ready(probe: &ProbeSpec) {
    let single = ProbeSpec {
        period: probe.period.max(Duration::from_secs(1)),
        ..probe.clone()
    };
    let readiness = Readiness::new(vec![single]);
    let started = Instant::now();
    let mut streak = 0;
    loop {
        let passed = readiness.check().await;
        streak = if passed { streak + 1 } else { 0 };
        if streak >= probe.success_threshold.max(1) {
            return;
        }
        let interval = if !probe.is_aggressive() || started.elapsed() >= FAST_PROBE_LIMIT {
            SLOW_PROBE_INTERVAL
        } else if !passed && listens_but_fails(probe).await {
            knserve_core::queue::readiness::AGGRESSIVE_INTERVAL
        } else {
            FAST_PROBE_INTERVAL
        };
        tokio::time::sleep(interval).await;
    }
}

/// Whether a failed HTTP probe reached a listening app (it answered, but not 2xx–3xx).
async fn listens_but_fails(probe: &ProbeSpec) -> bool {
    match &probe.action {
        ProbeAction::Http { address, .. } => tokio::net::TcpStream::connect(address).await.is_ok(),
        ProbeAction::Tcp { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_starting_app_is_seen_ready_within_a_few_ms_of_listening_not_a_probe_period_later() {
        let lease = crate::runtime::ports::lease().unwrap();
        let port = lease.port();
        let app = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(120)).await;
            let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port))
                .await
                .unwrap();
            (listener, Instant::now())
        });
        tokio::time::timeout(Duration::from_secs(5), until_ready(&ProbeSpec::tcp(port)))
            .await
            .expect("the probe passes once the app listens");
        let seen = Instant::now();
        let (_listener, listening) = app.await.unwrap();
        let late = seen.saturating_duration_since(listening);
        assert!(
            late < Duration::from_millis(15),
            "an aggressive probe polls every {FAST_PROBE_INTERVAL:?}: seen {late:?} after listen()"
        );
    }

    #[tokio::test]
    async fn a_probe_with_a_success_threshold_needs_that_many_passes_in_a_row() {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let probe = ProbeSpec {
            success_threshold: 3,
            ..ProbeSpec::tcp(port)
        };
        let started = Instant::now();
        until_ready(&probe).await;
        assert!(
            started.elapsed() >= FAST_PROBE_INTERVAL * 2,
            "three passes, {FAST_PROBE_INTERVAL:?} apart"
        );
    }

    #[tokio::test]
    async fn an_app_that_listens_but_fails_its_http_probe_is_probed_at_knatives_pace_not_every_ms()
    {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let app = tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0; 1024];
                    if stream.read(&mut buf).await.unwrap_or(0) > 0 {
                        let answer =
                            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
                        let _ = stream.write_all(answer.as_bytes()).await;
                    }
                });
            }
        });
        let probe = ProbeSpec {
            action: ProbeAction::Http {
                address: ([127, 0, 0, 1], port).into(),
                path: "/".to_owned(),
                headers: Vec::new(),
            },
            ..ProbeSpec::tcp(port)
        };
        let watched = Duration::from_millis(300);
        let outcome = tokio::time::timeout(watched, until_ready(&probe)).await;
        app.abort();
        assert!(outcome.is_err(), "a 503 never passes");
        let connections = accepted.load(Ordering::SeqCst);
        assert!(
            (2..30).contains(&connections),
            "about two connections (probe, listen check) per 50 ms over {watched:?}, not one per ms: {connections}"
        );
    }
}
