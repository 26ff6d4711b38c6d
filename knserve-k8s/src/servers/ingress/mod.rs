//! The knserve ingress (spec §6.2, §6.5): routes client requests by Host to the
//! revisions' public Services, as the KIngress objects of its class say.
//!
//! ```text
//! client ──► ingress ──► EndpointSlice addresses of <revision> (pods' or activators' :8012)
//! ```
//!
//! Two listeners, as Knative's ingresses have two gateways: the external one (the
//! `knserve-ingress` Service, the KIngress's `publicLoadBalancer`) serves `ExternalIP`
//! rules only; the internal one (`knserve-ingress-internal`, the
//! `privateLoadBalancer`, which a Route's placeholder Service points at) serves every
//! rule, so `ClusterLocal` hosts answer inside the cluster and 404 outside it.
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
mod hash;
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
use tracing::{debug, info, warn};

pub use self::endpoints::SERVICE_NAME_LABEL;
pub use self::hash::{ingress_hash, spec_json};
pub use self::service::{Draws, IngressLayer, IngressRouter, Refusal};
pub use self::state::{IngressEvent, IngressState, Snapshot, StatusWrite};
pub use self::status::{is_current, is_gone, status_for};
pub use self::table::{
    Backend, BackendRef, ClassFilter, Decision, INGRESS_CLASS, INGRESS_CLASS_ANNOTATION,
    IngressTable, Listener, NoRoute, PortRef, Programmed, ServiceKey, TableError,
};
use crate::crd::Ingress;

/// Idle upstream connections kept per address.
const IDLE_PER_HOST: usize = 100;

/// How the ingress runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressOptions {
    /// Where the external listener listens (default `0.0.0.0:8080`).
    pub listen: SocketAddr,
    /// Where the internal listener listens (default `0.0.0.0:8081`).
    pub listen_internal: SocketAddr,
    /// Which KIngress objects it programs.
    pub class: ClassFilter,
    /// The namespace its Service lives in (`SYSTEM_NAMESPACE`, default
    /// `knative-serving`).
    pub system_namespace: String,
    /// The external listener's Service, reported as the public load balancer (default
    /// `knserve-ingress`).
    pub service_name: String,
    /// The internal listener's Service, reported as the private load balancer
    /// (default `knserve-ingress-internal`).
    pub internal_service_name: String,
    /// The cluster's DNS domain (default `cluster.local`).
    pub cluster_domain: String,
}

impl Default for IngressOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            listen_internal: SocketAddr::from(([0, 0, 0, 0], 8081)),
            class: ClassFilter::default(),
            system_namespace: "knative-serving".to_owned(),
            service_name: "knserve-ingress".to_owned(),
            internal_service_name: "knserve-ingress-internal".to_owned(),
            cluster_domain: "cluster.local".to_owned(),
        }
    }
}

impl IngressOptions {
    /// The two load balancers' `domainInternal`s:
    /// `<service>.<system namespace>.svc.<cluster domain>` of each Service.
    pub fn balancers(&self) -> Balancers {
        let domain = |service: &str| {
            format!(
                "{service}.{}.svc.{}",
                self.system_namespace, self.cluster_domain
            )
        };
        Balancers {
            public: domain(&self.service_name),
            private: domain(&self.internal_service_name),
        }
    }
}

/// Where a KIngress's status says its traffic enters: the in-cluster names of the
/// external and internal listeners' Services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balancers {
    /// `publicLoadBalancer`'s `domainInternal`.
    pub public: String,
    /// `privateLoadBalancer`'s `domainInternal`.
    pub private: String,
}

/// A running ingress: the router on its listener and the state that feeds it.
#[derive(Debug)]
pub struct IngressServer {
    state: Arc<Mutex<IngressState>>,
    external: ServeHandle,
    internal: ServeHandle,
}

impl IngressServer {
    /// Serves on `external` and `internal` with an empty state; nothing watches the
    /// cluster until events are [`apply`](Self::apply)ed.
    pub fn start(
        external: TcpListener,
        internal: TcpListener,
        options: &IngressOptions,
    ) -> std::io::Result<Self> {
        Self::start_traced(external, internal, options, &Tracing::disabled())
    }

    /// [`start`](Self::start) with each request traced by `tracing` (see
    /// [`knserve_core::trace`]): an `ingress` span per request, with the address it was
    /// forwarded to.
    pub fn start_traced(
        external: TcpListener,
        internal: TcpListener,
        options: &IngressOptions,
        tracing: &Tracing,
    ) -> std::io::Result<Self> {
        let state = IngressState::new(options.class.clone(), options.balancers());
        let serve = |socket, listener| {
            let stack = tracing.hop(
                Hop::Ingress,
                Vec::new(),
                IngressLayer::new(state.subscribe(), listener),
                ProtocolForward::new(IDLE_PER_HOST, false),
            );
            net::serve(socket, stack)
        };
        let external = serve(external, Listener::External)?;
        let internal = serve(internal, Listener::Internal)?;
        Ok(Self {
            state: Arc::new(Mutex::new(state)),
            external,
            internal,
        })
    }

    /// Where the external listener listens.
    pub fn address(&self) -> SocketAddr {
        self.external.local_addr()
    }

    /// Where the internal listener listens.
    pub fn internal_address(&self) -> SocketAddr {
        self.internal.local_addr()
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
        tokio::join!(self.external.shutdown(), self.internal.shutdown());
    }
}

/// Runs the ingress: serves on `options.listen` and `options.listen_internal`, watches KIngress objects (all
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
    let external = TcpListener::bind(options.listen).await?;
    let internal = TcpListener::bind(options.listen_internal).await?;
    let tracing =
        super::tracing_from_cluster(&client, &options.system_namespace, "knserve-ingress").await;
    let server = IngressServer::start_traced(external, internal, &options, &tracing)?;
    info!(
        external = %server.address(),
        internal = %server.internal_address(),
        class = %options.class.class,
        "ingress listening"
    );
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
