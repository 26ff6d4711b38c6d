//! The knserve activator on Kubernetes (spec §3): receives the requests of revisions
//! at zero or in Proxy mode (the ingress sends them to a public Service whose
//! endpoints are the activators), holds them until the revision has a probed pod, and
//! proxies them to the pods' queue-proxies on :8012.
//!
//! The layers are knserve-core's, built by its [`Activator`] as in the local backend's
//! data path: [`Front`] →
//! handler (probes, revision from `Knative-Serving-Revision`/`-Namespace`) → reporter
//! → timeouts → throttler → `Forward`. What this module adds is where their inputs
//! come from:
//!
//! - [`ActivatorState`]: Revisions and EndpointSlices from kube watchers (or tests),
//!   applied one [`ActivatorEvent`] at a time.
//! - [`send_stats`]: the reporter's stats, POSTed to the autoscaler as JSON.
//! - [`ActivatorServer`]: all of it on a listener; [`run`]: the same fed by watchers,
//!   until SIGTERM/SIGINT starts Knative's drain ([`ActivatorServer::terminate`]).

mod front;
mod signals;
mod state;
mod stats;

use std::{
    future::Future,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use futures_util::{StreamExt, TryStreamExt};
use http::Uri;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use knserve_core::{
    activator::{Activator, ActivatorConfig, probing::ProberConfig, throttler::ThrottlerRegistry},
    net::{self, Forward, ServeHandle},
    trace::{Hop, Tracing},
};
use kube::{
    Api,
    runtime::{WatchStreamExt, watcher},
};
use tokio::{net::TcpListener, task::JoinHandle};
use tower::{ServiceBuilder, layer::util::Identity};
use tracing::{info, warn};

pub use self::front::{Front, FrontLayer, HEALTHZ};
pub use self::signals::{Shutdown, until_signal};
pub use self::state::{
    ActivatorEvent, ActivatorState, QUEUE_SERVING_PORT, SERVING_PORT_NAME, revision_info,
};
pub use self::stats::send_stats;
use crate::crd::Revision;
use crate::servers::wire::{AUTOSCALER_PORT, STATS_PATH};

/// Idle connections kept per pod (`MAX_IDLE_PROXY_CONNS_PER_HOST`, §3.1).
const IDLE_PER_HOST: usize = 100;

/// How long the activator keeps serving after SIGTERM with `/healthz` failing, so
/// load balancers and endpoint lists drop it before it stops accepting (§3.1, §7).
pub const DRAIN_SLEEP: Duration = Duration::from_secs(45);

/// How the activator runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivatorOptions {
    /// Where it listens (default `0.0.0.0:8012`).
    pub listen: SocketAddr,
    /// The pod name its stats carry (`POD_NAME`).
    pub pod_name: String,
    /// Its pod IP (`POD_IP`), to find its place among a revision's activators (§3.5);
    /// without it, it uses every pod of every revision.
    pub pod_ip: Option<IpAddr>,
    /// Where stats go (default
    /// `http://autoscaler.knative-serving.svc.cluster.local:8080/v1/stats`).
    pub stats_url: String,
    /// The cluster's DNS domain, for revisions named by Host (default `cluster.local`).
    pub cluster_domain: String,
    /// Where `config-observability` is read from (`SYSTEM_NAMESPACE`, default
    /// `knative-serving`).
    pub system_namespace: String,
}

impl Default for ActivatorOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8012)),
            pod_name: "activator".to_owned(),
            pod_ip: None,
            stats_url: stats_url("knative-serving", "cluster.local"),
            cluster_domain: "cluster.local".to_owned(),
            system_namespace: "knative-serving".to_owned(),
        }
    }
}

/// The autoscaler's stats URL in `system_namespace` under `cluster_domain`.
pub fn stats_url(system_namespace: &str, cluster_domain: &str) -> String {
    format!(
        "http://autoscaler.{system_namespace}.svc.{cluster_domain}:{AUTOSCALER_PORT}{STATS_PATH}"
    )
}

/// A running activator: its stack on a listener, the state that feeds it, and the
/// stats sender.
#[derive(Debug)]
pub struct ActivatorServer {
    state: Arc<Mutex<ActivatorState>>,
    activator: Activator,
    server: ServeHandle,
    tasks: Vec<JoinHandle<()>>,
}

impl ActivatorServer {
    /// Serves on `listener` with no revisions; nothing watches the cluster until
    /// events are [`apply`](Self::apply)ed. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// When `options.stats_url` is not a URI, or the listener has no local address.
    pub fn start(listener: TcpListener, options: &ActivatorOptions) -> anyhow::Result<Self> {
        Self::start_traced(listener, options, &Tracing::disabled())
    }

    /// [`start`](Self::start) with each request traced by `tracing` (see
    /// [`knserve_core::trace`]): the `activator` span starts after the health and
    /// probe front, and its wait (`throttler_try`) ends when the throttler admits it.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_traced(
        listener: TcpListener,
        options: &ActivatorOptions,
        tracing: &Tracing,
    ) -> anyhow::Result<Self> {
        let url: Uri = options.stats_url.parse()?;
        let (activator, worker, stats_rx) = Activator::new(ActivatorConfig {
            pod_name: options.pod_name.clone(),
            cluster_domain: options.cluster_domain.clone(),
            stats_queue: 4096,
            ..ActivatorConfig::default()
        });
        let state = ActivatorState::new(
            activator.table().clone(),
            activator.registry().clone(),
            options.pod_ip,
            ProberConfig::default(),
        );
        let tasks = vec![
            tokio::spawn(worker.run()),
            tokio::spawn(send_stats(stats_rx, url)),
        ];
        let stack = ServiceBuilder::new()
            .layer(FrontLayer::new(
                activator.table().clone(),
                activator.draining(),
                options.cluster_domain.clone(),
            ))
            .service(tracing.hop(
                Hop::Activator,
                Vec::new(),
                activator.layers(Identity::new()),
                Forward::new(IDLE_PER_HOST, false),
            ));
        let server = net::serve(listener, stack)?;
        Ok(Self {
            state: Arc::new(Mutex::new(state)),
            activator,
            server,
            tasks,
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Applies a watch event (what the watchers of [`run`] do).
    pub fn apply(&self, event: ActivatorEvent) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .apply(event);
    }

    /// The throttlers, for their loads.
    pub fn registry(&self) -> &ThrottlerRegistry {
        self.activator.registry()
    }

    /// Fails health checks from now on (call on SIGTERM, before the drain period).
    pub fn drain(&self) {
        self.activator.drain();
    }

    /// Knative's shutdown (§3.1): `/healthz` fails at once while requests are still
    /// served for `drain_sleep` (the network drain); then stops accepting, finishes the
    /// requests in flight and stops reporting. [`run`] uses [`DRAIN_SLEEP`].
    pub async fn terminate(self, drain_sleep: Duration) {
        self.drain();
        info!(
            ?drain_sleep,
            "draining: /healthz fails, requests are still served"
        );
        tokio::time::sleep(drain_sleep).await;
        info!("drain period over; finishing the requests in flight");
        self.shutdown().await;
    }

    /// Stops accepting, finishes the requests in flight and stops reporting.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Runs the activator: serves on `options.listen`, watches Revisions and
/// EndpointSlices in all namespaces, and reports to the autoscaler, until SIGTERM or
/// SIGINT; then drains for [`DRAIN_SLEEP`] ([`ActivatorServer::terminate`]) and returns.
///
/// # Errors
/// On a failure to bind or to install the signal handlers, when the watch streams end,
/// or on a second signal during the drain.
pub async fn run(client: kube::Client, options: ActivatorOptions) -> anyhow::Result<()> {
    until_signal(|shutdown| run_until(client, options, DRAIN_SLEEP, shutdown)).await
}

/// [`run`] without signal handling: serves until `shutdown` completes, then drains for
/// `drain_sleep` and returns.
///
/// # Errors
/// On a failure to bind, or when the watch streams end.
pub async fn run_until(
    client: kube::Client,
    options: ActivatorOptions,
    drain_sleep: Duration,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(options.listen).await?;
    let tracing =
        super::tracing_from_cluster(&client, &options.system_namespace, "knserve-activator").await;
    let server = ActivatorServer::start_traced(listener, &options, &tracing)?;
    info!(address = %server.address(), stats = %options.stats_url, "activator listening");
    let mut feed = tokio::spawn(feed(client, server.state.clone()));
    tokio::select! {
        () = shutdown => {}
        _ = &mut feed => anyhow::bail!("the activator's watch streams ended"),
    }
    // The watches keep feeding during the drain: held requests still need their pods.
    server.terminate(drain_sleep).await;
    feed.abort();
    tracing.shutdown().await;
    Ok(())
}

/// Applies the Revision and EndpointSlice watch events to `state` until the streams
/// end.
async fn feed(client: kube::Client, state: Arc<Mutex<ActivatorState>>) {
    let revisions = watcher(
        Api::<Revision>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .map_ok(ActivatorEvent::Revision);
    let slices = watcher(
        Api::<EndpointSlice>::all(client),
        watcher::Config::default(),
    )
    .default_backoff()
    .map_ok(ActivatorEvent::EndpointSlice);
    let mut events = futures_util::stream::select(revisions.boxed(), slices.boxed());
    while let Some(event) = events.next().await {
        match event {
            Ok(event) => state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .apply(event),
            Err(error) => warn!(%error, "activator watch failed; retrying"),
        }
    }
}

#[cfg(test)]
mod tests;
