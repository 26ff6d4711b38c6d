//! The knserve ingress (spec §6.2, §6.5): routes client requests by Host to the
//! revisions' public Services, as the KIngress objects of its class say.
//!
//! ```text
//! client ──► ingress ──► EndpointSlice addresses of <revision> (pods' or activators' :8012)
//! ```
//!
//! - [`IngressTable`]: the pure rules — host and path to weighted splits.
//! - [`IngressState`]: watched KIngress, EndpointSlice and Service objects, applied one
//!   [`IngressEvent`] at a time and published as a [`Snapshot`]; it also says which
//!   KIngress statuses to write.
//! - [`IngressRouter`] / [`IngressLayer`]: the request path over a snapshot.
//! - [`IngressServer`]: the router on a listener with its state (tests feed events
//!   to it directly); [`run`]: the same fed by kube watchers, writing statuses, until
//!   SIGTERM/SIGINT ([`run_until`] without the signal handlers).
//!
//! The ingress does not watch SKS modes: whether a revision is served by its pods or
//! by the activators is only which addresses its public Service's slices list.

pub(crate) mod endpoints;
pub(crate) mod mirror;
mod service;
mod state;
mod status;
mod table;

use std::{
    future::Future,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use futures_util::{StreamExt, TryStreamExt, stream::BoxStream};
use k8s_openapi::api::{core::v1::Service, discovery::v1::EndpointSlice};
use knserve_core::net::{self, ProtocolForward, ServeHandle};
use knserve_core::trace::{Hop, Tracing};
use kube::{
    Api,
    runtime::{WatchStreamExt, watcher},
};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tracing::{debug, info, warn};

pub use self::endpoints::SERVICE_NAME_LABEL;
pub use self::service::{Draws, IngressLayer, IngressRouter, Refusal};
pub use self::state::{IngressEvent, IngressState, Snapshot, StatusWrite};
pub use self::status::{is_current, is_gone, status_for};
pub use self::table::{
    Backend, BackendRef, ClassFilter, Decision, INGRESS_CLASS, INGRESS_CLASS_ANNOTATION,
    IngressTable, NoRoute, PortRef, Programmed, ServiceKey, TableError,
};
use crate::crd::Ingress;

/// Idle upstream connections kept per address.
const IDLE_PER_HOST: usize = 100;

/// How the ingress runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressOptions {
    /// Where it listens (default `0.0.0.0:8080`).
    pub listen: SocketAddr,
    /// Which KIngress objects it programs.
    pub class: ClassFilter,
    /// The namespace its Service lives in (`SYSTEM_NAMESPACE`, default
    /// `knative-serving`).
    pub system_namespace: String,
    /// Its Service's name, reported as the load balancer (default `knserve-ingress`).
    pub service_name: String,
    /// The cluster's DNS domain (default `cluster.local`).
    pub cluster_domain: String,
}

impl Default for IngressOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            class: ClassFilter::default(),
            system_namespace: "knative-serving".to_owned(),
            service_name: "knserve-ingress".to_owned(),
            cluster_domain: "cluster.local".to_owned(),
        }
    }
}

impl IngressOptions {
    /// `<service>.<system namespace>.svc.<cluster domain>`: the load balancer's
    /// `domainInternal`.
    pub fn domain_internal(&self) -> String {
        format!(
            "{}.{}.svc.{}",
            self.service_name, self.system_namespace, self.cluster_domain
        )
    }
}

/// A running ingress: the router on its listener and the state that feeds it.
#[derive(Debug)]
pub struct IngressServer {
    state: Arc<Mutex<IngressState>>,
    server: ServeHandle,
}

impl IngressServer {
    /// Serves on `listener` with an empty state; nothing watches the cluster until
    /// events are [`apply`](Self::apply)ed.
    pub fn start(listener: TcpListener, options: &IngressOptions) -> std::io::Result<Self> {
        Self::start_traced(listener, options, &Tracing::disabled())
    }

    /// [`start`](Self::start) with each request traced by `tracing` (see
    /// [`knserve_core::trace`]): an `ingress` span per request, with the address it was
    /// forwarded to.
    pub fn start_traced(
        listener: TcpListener,
        options: &IngressOptions,
        tracing: &Tracing,
    ) -> std::io::Result<Self> {
        let state = IngressState::new(options.class.clone(), options.domain_internal());
        let stack = ServiceBuilder::new()
            .option_layer(tracing.layer(Hop::Ingress, Vec::new()))
            .layer(IngressLayer::new(state.subscribe()))
            .option_layer(tracing.forward_layer())
            .service(ProtocolForward::new(IDLE_PER_HOST, false));
        let server = net::serve(listener, stack)?;
        Ok(Self {
            state: Arc::new(Mutex::new(state)),
            server,
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Applies a watch event (what the watchers of [`run`] do); returns the statuses
    /// to write.
    pub fn apply(&self, event: IngressEvent) -> Vec<StatusWrite> {
        self.lock().apply(event)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IngressState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops accepting and finishes the requests in flight.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// Runs the ingress: serves on `options.listen`, watches KIngress objects (all
/// namespaces), EndpointSlices and Services, and writes each programmed KIngress's
/// status, until SIGTERM or SIGINT; then stops accepting, finishes the requests in
/// flight and returns.
///
/// # Errors
/// On a failure to bind or to install the signal handlers, when a watch stream ends,
/// or on a second signal while requests are finishing.
pub async fn run(client: kube::Client, options: IngressOptions) -> anyhow::Result<()> {
    crate::servers::activator::until_signal(|shutdown| run_until(client, options, shutdown)).await
}

/// [`run`] without signal handling: serves until `shutdown` completes, then stops
/// accepting, finishes the requests in flight and returns. Status writes still
/// retrying are abandoned (the next ingress to start writes them again).
///
/// # Errors
/// On a failure to bind, or when a watch stream ends.
pub async fn run_until(
    client: kube::Client,
    options: IngressOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(options.listen).await?;
    let tracing =
        super::tracing_from_cluster(&client, &options.system_namespace, "knserve-ingress").await;
    let server = IngressServer::start_traced(listener, &options, &tracing)?;
    info!(address = %server.address(), class = %options.class.class, "ingress listening");
    let mut events = watch_events(&client);
    tokio::pin!(shutdown);
    loop {
        let event = tokio::select! {
            () = &mut shutdown => break,
            event = events.next() => event,
        };
        match event {
            Some(Ok(event)) => {
                for write in server.apply(event) {
                    tokio::spawn(write_status(client.clone(), server.state.clone(), write));
                }
            }
            Some(Err(error)) => warn!(%error, "ingress watch failed; retrying"),
            None => anyhow::bail!("the ingress's watch streams ended"),
        }
    }
    info!("stopping: finishing the requests in flight");
    server.shutdown().await;
    tracing.shutdown().await;
    Ok(())
}

/// The three watches, merged, with kube's default back-off on errors.
fn watch_events(client: &kube::Client) -> BoxStream<'static, Result<IngressEvent, watcher::Error>> {
    let config = watcher::Config::default;
    let ingresses = watcher(Api::<Ingress>::all(client.clone()), config())
        .default_backoff()
        .map_ok(IngressEvent::Ingress);
    let slices = watcher(Api::<EndpointSlice>::all(client.clone()), config())
        .default_backoff()
        .map_ok(IngressEvent::EndpointSlice);
    let services = watcher(Api::<Service>::all(client.clone()), config())
        .default_backoff()
        .map_ok(IngressEvent::Service);
    futures_util::stream::select_all([ingresses.boxed(), slices.boxed(), services.boxed()]).boxed()
}

/// Writes one status, retrying with back-off; after the last failure the state
/// forgets it so a later event writes it again. A 404 means the KIngress is gone (its
/// deletion is on its way through the watch): the write is dropped, not retried.
async fn write_status(client: kube::Client, state: Arc<Mutex<IngressState>>, write: StatusWrite) {
    let mut delay = Duration::from_millis(200);
    for _ in 0..5 {
        match status::write(client.clone(), &write.namespace, &write.name, &write.status).await {
            Ok(()) => return,
            Err(error) if is_gone(&error) => {
                debug!(ingress = %write.name, namespace = %write.namespace, "KIngress gone; status write dropped");
                return;
            }
            Err(error) => {
                warn!(ingress = %write.name, namespace = %write.namespace, %error, "cannot write the ingress status");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
    state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .write_failed(&write);
}

#[cfg(test)]
mod tests;
