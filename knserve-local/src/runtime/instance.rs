//! One instance of a revision: a queue-proxy on its own loopback port in front of the
//! user's code — a supervised child process, or an in-process tower service.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use knserve_core::{
    api::IntOrString,
    net::{self, Forward, ServeHandle, metrics::RequestMetrics},
    queue::{
        drain::{DrainHandle, Drainer, InFlight},
        readiness::{ProbeSpec, Readiness},
        stack::{HttpService, QueueStack},
        stats::StatsHandle,
    },
    timeout::TimeoutLimits,
};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tracing::{debug, info};

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
/// How often a starting process is probed after a failed (aggressive) check.
const PROBE_RETRY: Duration = Duration::from_millis(100);

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
    /// looked for. Each instance adds `PORT` and its own name.
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
    /// Labels of the request metrics: namespace, configuration, revision.
    pub labels: [(String, String); 3],
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
    server: ServeHandle,
    process: Option<Supervised>,
    monitor: Option<JoinHandle<()>>,
}

impl Instance {
    /// Starts instance `id` of a revision: binds its queue-proxy and starts the workload.
    pub async fn start(
        id: String,
        workload: &Workload,
        settings: &InstanceSettings,
    ) -> std::io::Result<Self> {
        let labels = settings
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain([("pod", id.as_str())]);
        let mut stack = QueueStack {
            drain: DrainHandle::new(Drainer::new(Duration::ZERO)),
            in_flight: InFlight::new(),
            stats: StatsHandle::new(id.clone(), STATS_PERIOD),
            metrics: RequestMetrics::new(labels),
            readiness: Readiness::always(),
            limits: settings.limits,
            container_concurrency: settings.container_concurrency,
        };
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let (state_tx, state) = watch::channel(InstanceState::Starting);
        let (service, process, monitor) = match workload {
            Workload::InProcess(factory) => {
                state_tx.send_replace(InstanceState::Ready);
                (stack.wrap(factory()), None, None)
            }
            Workload::Process(template) => {
                let port = free_port().await?;
                let probe = probe_spec(template, port);
                stack.readiness = Readiness::new(vec![probe.clone()]);
                let idle = match settings.container_concurrency {
                    0 => UNLIMITED_IDLE_CONNECTIONS,
                    cc => cc as usize,
                };
                let app = Forward::new(idle, false).to(SocketAddr::from(([127, 0, 0, 1], port)));
                let process =
                    Supervised::start(process_spec(&id, template, port), template.restart);
                let monitor = tokio::spawn(monitor(id.clone(), process.status(), probe, state_tx));
                (stack.wrap(app), Some(process), Some(monitor))
            }
        };
        let server = net::serve(listener, service)?;
        info!(instance = %id, address = %server.local_addr(), "instance started");
        Ok(Self {
            id,
            address: server.local_addr(),
            stats: stack.stats,
            in_flight: stack.in_flight,
            metrics: stack.metrics,
            state,
            server,
            process,
            monitor,
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
    /// arrive, waits up to `grace` for those in flight, closes the queue-proxy, then
    /// stops the process — SIGTERM, and SIGKILL after `grace`.
    pub async fn stop(self, grace: Duration) {
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

async fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    Ok(listener.local_addr()?.port())
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
    spec.name = id.to_owned();
    spec
}

/// Follows the process: probes it each time it runs, and reports failures.
async fn monitor(
    id: String,
    mut status: watch::Receiver<ProcessStatus>,
    probe: ProbeSpec,
    state: watch::Sender<InstanceState>,
) {
    loop {
        let current = status.borrow_and_update().clone();
        match current {
            ProcessStatus::Running { .. } => {
                let readiness = Readiness::new(vec![probe.clone()]);
                tokio::select! {
                    () = until_ready(&readiness) => {
                        debug!(instance = %id, "ready");
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

async fn until_ready(readiness: &Readiness) {
    while !readiness.check().await {
        tokio::time::sleep(PROBE_RETRY).await;
    }
}
