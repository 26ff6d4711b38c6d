//! [`Activator`]: the activator's layer stack, built from its config in one call.

use tokio::sync::{mpsc, watch};
use tower::{
    ServiceBuilder,
    layer::util::{Identity, Stack},
};

use super::{
    handler::{DEFAULT_CLUSTER_DOMAIN, HandlerLayer, RevisionTable},
    report::{self, ReportLayer, ReportWorker},
    throttler::{ThrottleLayer, ThrottlerConfig, ThrottlerRegistry},
};
use crate::{
    RevisionKey,
    autoscaler::metrics::Stat,
    timeout::{TimeoutLayer, TimeoutLimits},
};

/// How an activator runs.
#[derive(Debug, Clone)]
pub struct ActivatorConfig {
    /// The pod name its stats carry (Knative: the activator pod's name).
    pub pod_name: String,
    /// The cluster DNS domain revisions are named under when found by Host.
    pub cluster_domain: String,
    /// What may wait for each revision: count, bytes and time.
    pub throttler: ThrottlerConfig,
    /// The activator's own request timeouts, around the throttler.
    pub timeouts: TimeoutLimits,
    /// Stats the queue to the autoscaler holds before the reporter waits, in stats.
    pub stats_queue: usize,
}

impl Default for ActivatorConfig {
    fn default() -> Self {
        Self {
            pod_name: "activator".to_owned(),
            cluster_domain: DEFAULT_CLUSTER_DOMAIN.to_owned(),
            throttler: ThrottlerConfig::default(),
            timeouts: TimeoutLimits::default(),
            stats_queue: 1024,
        }
    }
}

/// The activator's layers, outermost first: handler, the caller's `L`, reporter,
/// timeouts, throttler (what [`Activator::layers`] returns).
pub type ActivatorLayers<L> = Stack<
    ThrottleLayer,
    Stack<TimeoutLayer, Stack<ReportLayer, Stack<L, Stack<HandlerLayer, Identity>>>>,
>;

/// What the autoscaler link receives: each revision's held and proxied requests.
pub type StatReceiver = mpsc::Receiver<(RevisionKey, Stat)>;

/// The activator of spec §3, built in one call: its layer stack, its machines (the
/// revision table and the per-revision throttlers) and its handles (drain, stats).
///
/// The stack, outermost first: [`handler`](super::handler) (health checks, probes,
/// revision resolution; 404 for an unknown revision), a layer of the caller's that
/// sees the resolved revision (`Identity` when there is none), the
/// [`report`](super::report)er of concurrency for the autoscaler, the activator's
/// timeouts, and the [`throttler`](super::throttler) that holds requests until the
/// revision has capacity and picks an instance. The innermost service, given by the
/// caller, forwards to the instance the throttler chose.
///
/// The control side keeps the machines current: [`table`](Self::table) with the
/// revisions and their settings, [`registry`](Self::registry) with each revision's
/// capacity and probed instances. Nothing is spawned here: the caller runs the
/// [`ReportWorker`] that [`new`](Self::new) returns and reads its stats.
///
/// The stack is returned unboxed ([`ActivatorLayers`]): boxing is the caller's choice,
/// so building through this type adds nothing per request.
///
/// # Example
/// ```
/// use http::{Request, StatusCode};
/// use knserve_core::{
///     activator::{Activator, ActivatorConfig},
///     net::{self, BoxError},
/// };
/// use tower::{ServiceExt, layer::util::Identity, service_fn};
///
/// # let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// # runtime.block_on(async {
/// let (activator, worker, mut stats) = Activator::new(ActivatorConfig::default());
/// tokio::spawn(worker.run());
/// let forward = service_fn(|_request| async {
///     Ok::<_, BoxError>(net::text_response(StatusCode::OK, "from an instance"))
/// });
/// let stack = activator.layers(Identity::new()).service(forward);
///
/// let request = Request::get("http://hello.default.svc.cluster.local/")
///     .body(net::empty())
///     .unwrap();
/// let response = stack.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), StatusCode::NOT_FOUND, "no revision is known yet");
/// assert!(activator.table().is_empty());
/// assert!(stats.try_recv().is_err(), "nothing was held, nothing reported");
/// # });
/// ```
#[derive(Debug)]
pub struct Activator {
    table: RevisionTable,
    registry: ThrottlerRegistry,
    draining: watch::Sender<bool>,
    handler: HandlerLayer,
    report: ReportLayer,
    timeouts: TimeoutLimits,
}

impl Activator {
    /// An activator with no revisions, the worker that reports its stats every second
    /// (spawn [`ReportWorker::run`]), and where those stats arrive.
    pub fn new(config: ActivatorConfig) -> (Self, ReportWorker, StatReceiver) {
        let table = RevisionTable::new();
        let (draining, draining_rx) = watch::channel(false);
        let (stats_tx, stats) = mpsc::channel(config.stats_queue);
        let (report, worker) = report::pair(config.pod_name, stats_tx);
        let activator = Self {
            handler: HandlerLayer::new(table.clone(), draining_rx)
                .cluster_domain(config.cluster_domain),
            registry: ThrottlerRegistry::new(config.throttler),
            table,
            draining,
            report,
            timeouts: config.timeouts,
        };
        (activator, worker, stats)
    }

    /// The layer stack, with `resolved` placed right after the handler (it sees the
    /// request's [`RevisionKey`] and [`RevisionInfo`](super::handler::RevisionInfo)
    /// extensions); finish it with `.service(forward)`.
    pub fn layers<L>(&self, resolved: L) -> ServiceBuilder<ActivatorLayers<L>> {
        ServiceBuilder::new()
            .layer(self.handler.clone())
            .layer(resolved)
            .layer(self.report.clone())
            .layer(TimeoutLayer::activator(self.timeouts))
            .layer(ThrottleLayer::new(self.registry.clone()))
    }

    /// The revisions the activator knows, with their settings.
    pub fn table(&self) -> &RevisionTable {
        &self.table
    }

    /// The per-revision throttlers: capacity and instance updates, and their loads.
    pub fn registry(&self) -> &ThrottlerRegistry {
        &self.registry
    }

    /// Fails health checks from now on (on SIGTERM, before the drain period); requests
    /// are still served.
    pub fn drain(&self) {
        self.draining.send_replace(true);
    }

    /// Whether the activator is draining, watched (for layers in front of it that
    /// answer health checks too).
    pub fn draining(&self) -> watch::Receiver<bool> {
        self.draining.subscribe()
    }
}
