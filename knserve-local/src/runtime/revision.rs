//! One revision at runtime: its autoscaling state, its instances, and what the request
//! path knows about it.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use knserve_core::{
    RevisionKey,
    activator::{
        Backends, Membership,
        handler::RevisionInfo,
        probing::{Endpoints, ProberConfig, prober},
    },
    api::Revision,
    autoscaler::{PodAutoscaler, ScalingParams, SksMode},
    net::{exposition::revision_labels, pressure::SharedWarnLimiter},
    reconcile::{RevisionHealth, RevisionObservation},
    time::Timestamp,
    timeout::TimeoutLimits,
};
use tokio::{sync::watch, task::JoinHandle};

use super::{
    datapath::{ActivatorControl, StartTrace},
    instance::{Instance, InstanceSettings, InstanceState, Workload},
    progress::{PROGRESS_DEADLINE_EXCEEDED, Progress, ProgressTracker},
};

/// The runtime side of one revision.
#[derive(Debug)]
pub(super) struct RevisionRt {
    pub key: RevisionKey,
    pub params: ScalingParams,
    pub pa: PodAutoscaler,
    pub workload: Workload,
    pub settings: InstanceSettings,
    /// SIGTERM to SIGKILL, and the longest wait for in-flight requests at scale-down:
    /// the revision's `timeoutSeconds`, as Knative sets `terminationGracePeriodSeconds`.
    pub grace: Duration,
    pub instances: Vec<Instance>,
    /// Instances being started (bound and spawned asynchronously).
    pub starting: u32,
    pub next_id: u32,
    /// The instance count the PA last asked for.
    pub target: u32,
    /// The mode the request path was last given.
    pub mode: SksMode,
    pub routing_state: Option<String>,
    pub ever_ready: bool,
    pub failure: Option<(String, String)>,
    /// Its container's environment names a ConfigMap, Secret or key that does not
    /// exist: no instance starts until it does.
    pub env_blocked: bool,
    /// Its progress deadline, from creation to its initial scale.
    pub progress: ProgressTracker,
    endpoints: watch::Sender<Endpoints>,
    _membership: watch::Sender<Membership>,
    prober: JoinHandle<()>,
}

impl RevisionRt {
    /// The runtime side of `revision`, created at `now`, given `deadline` to reach its
    /// initial scale.
    pub fn new(
        now: Timestamp,
        revision: &Revision,
        params: ScalingParams,
        workload: Workload,
        activator: &ActivatorControl,
        deadline: Duration,
    ) -> Self {
        let key = RevisionKey::new(revision.metadata.namespace(), revision.metadata.name());
        let spec = &revision.spec;
        let cc = spec
            .container_concurrency
            .and_then(|cc| u32::try_from(cc).ok())
            .unwrap_or(0);
        let seconds = |s: Option<i64>| s.and_then(|s| u64::try_from(s).ok()).filter(|s| *s > 0);
        let timeout = seconds(spec.timeout_seconds).unwrap_or(300);
        let limits = TimeoutLimits::from_seconds(
            timeout,
            seconds(spec.response_start_timeout_seconds),
            seconds(spec.idle_timeout_seconds),
        );
        activator.table.insert(
            key.clone(),
            RevisionInfo {
                container_concurrency: cc,
                timeout: Duration::from_secs(timeout),
                response_start_timeout: seconds(spec.response_start_timeout_seconds)
                    .map(Duration::from_secs),
                idle_timeout: seconds(spec.idle_timeout_seconds).map(Duration::from_secs),
            },
        );
        let (endpoints, endpoints_rx) = watch::channel(Endpoints::default());
        let (backends_tx, backends_rx) = watch::channel(Backends::default());
        let (membership, membership_rx) = watch::channel(Membership::default());
        let trace = Arc::new(StartTrace::default());
        activator
            .backends
            .insert(key.clone(), backends_rx.clone(), trace.clone());
        activator
            .registry
            .upsert(key.clone(), cc, backends_rx, membership_rx);
        // A process instance is published ready the moment its monitor's probe passes
        // (polled every millisecond, see `instance`): probing it before then, through
        // its queue-proxy's 50 ms aggressive retries, would only learn it later.
        let config = ProberConfig {
            require_ready: matches!(workload, Workload::Process(_)),
            ..ProberConfig::default()
        };
        let prober = tokio::spawn(prober(endpoints_rx, backends_tx, config));
        let label = |name: &str| revision.metadata.label(name).unwrap_or_default().to_owned();
        let labels = revision_labels(
            &key.namespace,
            &label("serving.knative.dev/service"),
            &label("serving.knative.dev/configuration"),
            &key.name,
        );
        Self {
            target: params.initial_scale,
            params,
            pa: PodAutoscaler::new(now),
            workload,
            settings: InstanceSettings {
                container_concurrency: cc,
                limits,
                labels,
                trace,
                peers: activator.peers.clone(),
                tracing: activator.tracing.clone(),
                revision: key.clone(),
                start_warnings: SharedWarnLimiter::new(crate::process::STARVED_WARN_PERIOD),
            },
            grace: Duration::from_secs(timeout),
            instances: Vec::new(),
            starting: 0,
            next_id: 1,
            mode: SksMode::Proxy,
            routing_state: revision
                .metadata
                .label("serving.knative.dev/routingState")
                .map(str::to_owned),
            ever_ready: false,
            failure: None,
            env_blocked: false,
            progress: ProgressTracker::new(now, deadline),
            endpoints,
            _membership: membership,
            prober,
            key,
        }
    }

    pub fn ready_addresses(&self) -> Vec<SocketAddr> {
        self.instances
            .iter()
            .filter(|i| *i.state().borrow() == InstanceState::Ready)
            .map(Instance::address)
            .collect()
    }

    /// The reason and message of an instance in a crash loop, if one is.
    pub fn crash_loop(&self) -> Option<(String, String)> {
        self.instances
            .iter()
            .find_map(|i| match &*i.state().borrow() {
                InstanceState::Failing {
                    reason,
                    message,
                    crash_loop: true,
                } => Some((reason.clone(), message.clone())),
                _ => None,
            })
    }

    /// Publishes the instances to the activator's prober (and the failure, which fails
    /// the requests waiting for this revision at once).
    pub fn publish_endpoints(&self, ready: &[SocketAddr]) {
        let not_ready = self
            .instances
            .iter()
            .map(Instance::address)
            .filter(|a| !ready.contains(a))
            .collect();
        let next = Endpoints {
            ready: ready.to_vec(),
            not_ready,
            failure: self
                .unavailable()
                .map(|(reason, message)| Arc::from(format!("{reason}: {message}"))),
        };
        self.endpoints.send_if_modified(|current| {
            let changed = *current != next;
            if changed {
                *current = next;
            }
            changed
        });
    }

    /// Why the revision cannot serve, if it cannot: its instances' failure, else its
    /// missed progress deadline.
    fn unavailable(&self) -> Option<(String, String)> {
        self.failure.clone().or_else(|| {
            (self.progress.state() == Progress::Exceeded).then(|| {
                (
                    PROGRESS_DEADLINE_EXCEEDED.to_owned(),
                    self.progress.message(),
                )
            })
        })
    }

    /// What the control plane's status reconcile needs. An instance failure is the
    /// container's (`ContainerHealthy=False`); a missed progress deadline is the
    /// resources' (`ResourcesAvailable=False`), as Knative marks them.
    pub fn observation(&self, ready: u32) -> RevisionObservation {
        let exceeded = self.progress.state() == Progress::Exceeded;
        let health = match (&self.failure, exceeded, self.ever_ready) {
            (Some((reason, message)), _, _) => RevisionHealth::Failed {
                reason: reason.clone(),
                message: message.clone(),
            },
            (None, true, _) => RevisionHealth::Unavailable {
                reason: PROGRESS_DEADLINE_EXCEEDED.to_owned(),
                message: self.progress.message(),
            },
            (None, false, true) => RevisionHealth::Ready,
            (None, false, false) => RevisionHealth::Deploying,
        };
        RevisionObservation {
            health,
            actual_replicas: ready,
            desired_replicas: Some(self.target),
            active: Some(ready > 0),
        }
    }

    /// Picks the instances to remove to come down to `keep`: not-ready ones first, then
    /// the least busy.
    pub fn take_victims(&mut self, keep: usize) -> Vec<Instance> {
        if self.instances.len() <= keep {
            return Vec::new();
        }
        self.instances.sort_by_key(|i| {
            let ready = *i.state().borrow() == InstanceState::Ready;
            (ready, i.in_flight())
        });
        // Sorted: not-ready first, then the ready ones from idle to busiest.
        let mut order: Vec<Instance> = std::mem::take(&mut self.instances);
        let remove = order.len() - keep;
        let rest = order.split_off(remove);
        self.instances = rest;
        order
    }
}

impl Drop for RevisionRt {
    fn drop(&mut self) {
        self.prober.abort();
    }
}
