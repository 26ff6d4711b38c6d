//! The Kubernetes autoscaler (spec §2): collects load, decides, and reconciles
//! PodAutoscalers of class `kpa.autoscaling.knative.dev`, as Knative's autoscaler does.
//!
//! - [`Deciders`]: one KPA decider per revision, ticked every [`AutoscalerOptions::tick`].
//! - Stats in: activators `POST` [`wire::StatMessage`](crate::servers::wire::StatMessage)
//!   arrays to `/v1/stats` ([`stats_service`]); pods are scraped each
//!   [`AutoscalerOptions::scrape_interval`] ([`scrape`]).
//! - Decisions out: kube-runtime's `applier` (a `Controller`'s engine) over
//!   PodAutoscalers, whose reconcile calls
//!   [`crate::desired::autoscaling::desired`] and writes the ServerlessService, the
//!   Deployment's scale and the PA status; a changed decision wakes its PA at once.
//! - `config-autoscaler` in the system namespace is watched: absent means Knative's
//!   defaults; a map with a bad value is rejected whole (logged with the key and rule)
//!   and the previous config kept. `config-deployment`'s progress deadline is not
//!   watched: the default (600 s) applies unless the PA's
//!   `serving.knative.dev/progress-deadline` annotation says otherwise.
//! - `/metrics` and `/healthz` on [`AutoscalerOptions::metrics_listen`] ([`metrics_service`]).
//!
//! Start it with [`Autoscaler::start`] (binds, returns the bound addresses) or [`run`]
//! (until SIGTERM/SIGINT; [`run_until`] without the signal handlers). A request for a
//! PA that is not in the watch store — created but not yet seen, or deleted — is
//! normal: it is logged at debug and a deleted PA's decider and machine are dropped.

mod controller;
mod deciders;
mod http;
pub mod scrape;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use knserve_core::RevisionKey;
use knserve_core::api::keys::REVISION_LABEL;
use knserve_core::config::AutoscalerConfig;
use knserve_core::net::{self, ServeHandle};
use kube::api::Api;
use kube::runtime::controller::{Action, Error as ControllerError};
use kube::runtime::reflector::{self, ObjectRef, Store, reflector};
use kube::runtime::watcher::{self, Event, watcher};
use kube::runtime::{Config, WatchStreamExt, applier};
use kube::{Client, Resource, ResourceExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::{debug, info, warn};

pub use self::controller::{FIELD_MANAGER, ReconcileError};
pub use self::deciders::Deciders;
pub use self::http::{HttpService, MAX_STATS_BODY, metrics_service, stats_service};
use crate::crd::{PodAutoscaler, ServerlessService};

/// The port the queue sidecar serves its stat on.
pub const POD_METRICS_PORT: u16 = 9090;

/// Where the autoscaler listens and how often it works.
#[derive(Debug, Clone)]
pub struct AutoscalerOptions {
    /// Activators' stats (`POST /v1/stats`); default `0.0.0.0:8080`.
    pub stats_listen: SocketAddr,
    /// `/metrics` and `/healthz`; default `0.0.0.0:9090`.
    pub metrics_listen: SocketAddr,
    /// Where `config-autoscaler` lives; default `knative-serving`.
    pub system_namespace: String,
    /// How often every decider runs; default 2 s.
    pub tick: Duration,
    /// How often pods are scraped, and each scrape's timeout; default 1 s.
    pub scrape_interval: Duration,
    /// The port pods serve their stat on; default [`POD_METRICS_PORT`].
    pub pod_metrics_port: u16,
}

impl Default for AutoscalerOptions {
    fn default() -> Self {
        Self {
            stats_listen: SocketAddr::from(([0, 0, 0, 0], crate::servers::wire::AUTOSCALER_PORT)),
            metrics_listen: SocketAddr::from(([0, 0, 0, 0], 9090)),
            system_namespace: "knative-serving".to_owned(),
            tick: knserve_core::autoscaler::TICK_INTERVAL,
            scrape_interval: Duration::from_secs(1),
            pod_metrics_port: POD_METRICS_PORT,
        }
    }
}

/// The addresses a running autoscaler listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    /// `POST /v1/stats`.
    pub stats: SocketAddr,
    /// `GET /metrics`, `GET /healthz`.
    pub metrics: SocketAddr,
}

/// A running autoscaler: its two servers and its background tasks (aborted on drop).
#[derive(Debug)]
pub struct Autoscaler {
    addresses: Addresses,
    deciders: Arc<Deciders>,
    servers: Vec<ServeHandle>,
    tasks: Vec<JoinHandle<()>>,
    controller: Option<JoinHandle<()>>,
}

impl Autoscaler {
    /// Binds both listeners, starts the watches, the ticker, the scraper and the PA
    /// controller. Needs no object to exist beforehand (not even `config-autoscaler`).
    pub async fn start(client: Client, options: AutoscalerOptions) -> anyhow::Result<Self> {
        let (deciders, woken) = Deciders::new();
        let deciders = Arc::new(deciders);
        let stats = TcpListener::bind(options.stats_listen).await?;
        let metrics = TcpListener::bind(options.metrics_listen).await?;
        let servers = vec![
            net::serve(stats, stats_service(deciders.clone()))?,
            net::serve(metrics, metrics_service(deciders.clone()))?,
        ];
        let addresses = Addresses {
            stats: servers[0].local_addr(),
            metrics: servers[1].local_addr(),
        };
        info!(stats = %addresses.stats, metrics = %addresses.metrics, "autoscaler listening");
        let mut tasks = Vec::new();
        let (config_tx, config) = watch::channel(AutoscalerConfig::default());
        tasks.push(tokio::spawn(watch_config(
            client.clone(),
            options.system_namespace.clone(),
            config_tx,
        )));
        let deployments = spawn_store::<Deployment>(
            Api::all(client.clone()),
            watcher::Config::default().labels(REVISION_LABEL),
            &deciders,
            |d| d.labels().get(REVISION_LABEL).cloned(),
            &mut tasks,
        );
        let sks = spawn_store::<ServerlessService>(
            Api::all(client.clone()),
            watcher::Config::default(),
            &deciders,
            |s| Some(s.name_any()),
            &mut tasks,
        );
        let slices = spawn_store::<EndpointSlice>(
            Api::all(client.clone()),
            watcher::Config::default(),
            &deciders,
            |_| None,
            &mut tasks,
        );
        // Reconciling before the stores list would see no SKS and flip it to Proxy.
        let synced = (deployments.clone(), sks.clone());
        let ctx = Arc::new(controller::Context::new(
            client.clone(),
            deciders.clone(),
            config,
            deployments,
            sks,
            options.tick,
        ));
        let (pas, pa_events) = pa_store(client);
        tasks.push(tokio::spawn(tick(ctx.clone(), pas.clone(), options.tick)));
        tasks.push(tokio::spawn(scrape_loop(
            deciders.clone(),
            slices,
            options.clone(),
        )));
        let controller = tokio::spawn(async move {
            let (deployments, sks) = synced;
            let _ = tokio::join!(deployments.wait_until_ready(), sks.wait_until_ready());
            let queue = futures_util::stream::select(pa_events, wakes(woken).map(Ok));
            let reconciler = |pa, ctx| Box::pin(controller::reconcile(pa, ctx));
            let settled = ctx.clone();
            applier(
                reconciler,
                controller::error_policy,
                ctx,
                pas,
                queue,
                Config::default(),
            )
            .for_each(|result| {
                settle(&settled, result);
                std::future::ready(())
            })
            .await;
        });
        Ok(Self {
            addresses,
            deciders,
            servers,
            tasks,
            controller: Some(controller),
        })
    }

    /// The bound addresses.
    pub fn addresses(&self) -> Addresses {
        self.addresses
    }

    /// The deciders (for inspection).
    pub fn deciders(&self) -> &Arc<Deciders> {
        &self.deciders
    }

    /// Runs until the controller stops (it does not, short of a panic).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        self.stopped().await
    }

    /// Waits for the controller to stop; always an error saying why.
    async fn stopped(&mut self) -> anyhow::Result<()> {
        if let Some(controller) = self.controller.as_mut() {
            controller.await?;
        }
        anyhow::bail!("the PodAutoscaler controller stopped")
    }

    /// Stops cleanly: the controller, watches, ticker and scraper stop (a write in
    /// progress is abandoned; the next autoscaler's reconcile redoes it), and both
    /// servers stop accepting and answer the requests they have started.
    pub async fn shutdown(mut self) {
        self.tasks
            .iter()
            .chain(&self.controller)
            .for_each(JoinHandle::abort);
        for server in self.servers.drain(..) {
            server.shutdown().await;
        }
    }
}

impl Drop for Autoscaler {
    fn drop(&mut self) {
        self.tasks
            .iter()
            .chain(&self.controller)
            .for_each(JoinHandle::abort);
        self.servers.drain(..).for_each(ServeHandle::abort);
    }
}

/// Runs the autoscaler (see [`Autoscaler::start`]) until SIGTERM or SIGINT, then
/// [shuts it down](Autoscaler::shutdown).
///
/// # Errors
/// When it cannot start or install the signal handlers, or when the controller stops.
pub async fn run(client: Client, options: AutoscalerOptions) -> anyhow::Result<()> {
    crate::servers::activator::until_signal(|shutdown| run_until(client, options, shutdown)).await
}

/// [`run`] without signal handling: runs until `shutdown` completes, then shuts down.
///
/// # Errors
/// When it cannot start, or when the controller stops.
pub async fn run_until(
    client: Client,
    options: AutoscalerOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut autoscaler = Autoscaler::start(client, options).await?;
    let stopped = tokio::select! {
        result = autoscaler.stopped() => Some(result),
        () = shutdown => None,
    };
    if let Some(result) = stopped {
        return result;
    }
    info!("stopping the autoscaler");
    autoscaler.shutdown().await;
    Ok(())
}

/// What the applier yields for one reconcile request.
type Settled =
    Result<(ObjectRef<PodAutoscaler>, Action), ControllerError<ReconcileError, watcher::Error>>;

/// Logs one applier result. A request for a PA not in the store is normal (a new PA is
/// woken before the store has it; a deleted one after it left): debug, and whatever was
/// kept for that revision is dropped. Reconcile failures were logged by the error
/// policy.
fn settle(ctx: &controller::Context, result: Settled) {
    match result {
        Ok(_) => {}
        Err(ControllerError::ObjectNotFound(object)) => {
            let namespace = object.namespace.clone().unwrap_or_default();
            let revision = RevisionKey::new(namespace, object.name.clone());
            debug!(%revision, "PodAutoscaler not in the store (not yet seen, or deleted)");
            ctx.forget(&revision);
        }
        Err(ControllerError::ReconcilerFailed(error, _)) => {
            debug!(%error, "PodAutoscaler reconcile failed");
        }
        Err(error) => warn!(%error, "PodAutoscaler controller"),
    }
}

/// PodAutoscalers to reconcile, as the applier's queue.
type PaEvents =
    futures_util::stream::BoxStream<'static, Result<ObjectRef<PodAutoscaler>, watcher::Error>>;

/// The PodAutoscaler store and its changes as reconcile requests (kube's `Controller`
/// would do this, but its per-object trigger `reconcile_on` is an unstable feature, so
/// the same pieces — reflector, touched objects, `applier` — are assembled here).
fn pa_store(client: Client) -> (Store<PodAutoscaler>, PaEvents) {
    let (store, writer) = reflector::store();
    let api = Api::<PodAutoscaler>::all(client);
    let events = reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .touched_objects()
        .map_ok(|pa| ObjectRef::from_obj(&pa))
        .boxed();
    (store, events)
}

/// The wake channel as the controller's trigger stream.
fn wakes(
    woken: mpsc::UnboundedReceiver<RevisionKey>,
) -> impl Stream<Item = ObjectRef<PodAutoscaler>> + Send {
    futures_util::stream::unfold(woken, |mut woken| async move {
        let revision = woken.recv().await?;
        Some((
            ObjectRef::new(&revision.name).within(&revision.namespace),
            woken,
        ))
    })
}

/// A store of `K` kept by its own task; each change wakes the PA `revision_of` names in
/// the object's namespace.
fn spawn_store<K>(
    api: Api<K>,
    config: watcher::Config,
    deciders: &Arc<Deciders>,
    revision_of: fn(&K) -> Option<String>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> Store<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let deciders = deciders.clone();
    tasks.push(tokio::spawn(async move {
        let mut events = reflector(writer, watcher(api, config))
            .default_backoff()
            .touched_objects()
            .boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(object) => {
                    if let (Some(name), Some(namespace)) =
                        (revision_of(&object), object.meta().namespace.clone())
                    {
                        deciders.wake(RevisionKey::new(namespace, name));
                    }
                }
                Err(error) => warn!(%error, kind = %K::kind(&()), "watch failed; retrying"),
            }
        }
    }));
    store
}

/// Ticks every decider each `period` and forgets revisions whose PA is gone (deleted
/// while the PA watch was down, so no request for it reached [`settle`]).
async fn tick(ctx: Arc<controller::Context>, pas: Store<PodAutoscaler>, period: Duration) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let ready = pas.wait_until_ready();
    tokio::pin!(ready);
    let mut synced = false;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            result = &mut ready, if !synced => { synced = result.is_ok(); continue; }
        }
        if synced {
            for gone in ctx.retain(|k| {
                pas.get(&ObjectRef::new(&k.name).within(&k.namespace))
                    .is_some()
            }) {
                info!(revision = %gone, "PodAutoscaler gone; decider removed");
            }
        }
        ctx.deciders.tick();
    }
}

/// Scrapes every revision's pods each scrape interval.
async fn scrape_loop(
    deciders: Arc<Deciders>,
    slices: Store<EndpointSlice>,
    options: AutoscalerOptions,
) {
    let client = scrape::scrape_client();
    let mut interval = tokio::time::interval(options.scrape_interval);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for round in 0usize.. {
        interval.tick().await;
        let timeout = options.scrape_interval;
        scrape::scrape_round(
            &deciders,
            &slices,
            &client,
            options.pod_metrics_port,
            round,
            timeout,
        )
        .await;
    }
}

/// Watches `config-autoscaler` in `namespace` and publishes each accepted version.
async fn watch_config(client: Client, namespace: String, config: watch::Sender<AutoscalerConfig>) {
    let api = Api::<ConfigMap>::namespaced(client, &namespace);
    let selector = format!("metadata.name={}", AutoscalerConfig::NAME);
    let mut events = watcher(api, watcher::Config::default().fields(&selector))
        .default_backoff()
        .boxed();
    let mut seen = false;
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Init) => seen = false,
            Ok(Event::Apply(map) | Event::InitApply(map)) => {
                seen = true;
                apply_config(&config, map.data.as_ref());
            }
            Ok(Event::InitDone) if !seen => apply_config(&config, None),
            Ok(Event::InitDone) => {}
            Ok(Event::Delete(_)) => apply_config(&config, None),
            Err(error) => warn!(%error, "config-autoscaler watch failed; retrying"),
        }
    }
}

/// Publishes the config `data` describes (defaults when absent), or keeps the previous
/// one when a value breaks its rule.
fn apply_config(config: &watch::Sender<AutoscalerConfig>, data: Option<&BTreeMap<String, String>>) {
    let empty = BTreeMap::new();
    match AutoscalerConfig::from_map(data.unwrap_or(&empty)) {
        Ok(next) => {
            config.send_if_modified(|current| {
                let changed = *current != next;
                if changed {
                    info!(?next, "config-autoscaler updated");
                    *current = next;
                }
                changed
            });
        }
        Err(error) => warn!(
            key = %error.key,
            rule = %error.rule,
            %error,
            "config-autoscaler rejected; keeping the previous config"
        ),
    }
}
