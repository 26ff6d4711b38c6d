//! The controller: one kube-runtime reconciler per kind, each a thin shell that reads
//! what it needs, calls the pure functions of [`crate::desired`], and writes the result
//! (children by server-side apply, statuses by a status-subresource patch).
//!
//! - [`service`]: Service → Configuration + Route.
//! - [`configuration`]: Configuration → Revision, `routingState` labels, revision
//!   garbage collection (`config-gc`).
//! - [`route`]: Route → Ingress, traffic resolution and URLs.
//! - [`revision`]: Revision → Deployment + PodAutoscaler, revision status; images by
//!   tag resolved to digests first ([`digest`]).
//! - [`sks`]: ServerlessService → private and public Services and the public
//!   EndpointSlice.
//! - [`hpa`]: PodAutoscaler of class `hpa.autoscaling.knative.dev` →
//!   HorizontalPodAutoscaler.
//!
//! PodAutoscalers of class `kpa.autoscaling.knative.dev` are reconciled by the
//! autoscaler server ([`crate::servers::autoscaler`]), as in Knative.
//!
//! Errors back off per object (5 s, doubling to 5 min); every object is also revisited
//! every 5 minutes.
//!
//! Run it with [`run`]; tests start it in-process against a real API server.

mod config;
pub mod configuration;
pub mod digest;
mod gc;
pub mod hpa;
mod kube_io;
pub mod revision;
pub mod route;

pub mod service;
pub mod sks;

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::sync::watch;

pub use self::config::{ClusterConfig, DEPLOYMENT_CONFIG, watch_config};

/// Knative's system namespace.
pub const DEFAULT_SYSTEM_NAMESPACE: &str = "knative-serving";

/// The field manager of every write the controller makes.
pub const FIELD_MANAGER: &str = "knserve-controller";

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// Where the ConfigMaps and the activator live.
    pub system_namespace: String,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        Self {
            system_namespace: DEFAULT_SYSTEM_NAMESPACE.to_owned(),
        }
    }
}

/// What every reconciler shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The current settings.
    pub config: watch::Receiver<Arc<ClusterConfig>>,
    /// The options the controller was started with.
    pub options: ControllerOptions,
    /// Consecutive failures per object, for the back-off.
    failures: std::sync::Mutex<std::collections::HashMap<String, u32>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// The settings now.
    pub fn config(&self) -> Arc<ClusterConfig> {
        self.config.borrow().clone()
    }
}

/// A reconcile that failed; it is retried with back-off.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// An object could not be converted or built.
    #[error("{0}")]
    Build(String),
}

/// Runs every reconciler until one stops (they only stop on a shutdown signal).
///
/// # Errors
/// Never today: reconcile errors are retried, not returned.
pub async fn run(client: Client, options: ControllerOptions) -> anyhow::Result<()> {
    let config = watch_config(client.clone(), &options.system_namespace);
    let ctx = Arc::new(Context {
        client,
        config,
        options,
        failures: Default::default(),
    });
    tokio::join!(
        service::run(ctx.clone()),
        configuration::run(ctx.clone()),
        revision::run(ctx.clone()),
        route::run(ctx.clone()),
        sks::run(ctx.clone()),
        hpa::run(ctx.clone()),
    );
    Ok(())
}

/// How long to wait before revisiting an object that reconciled fine.
pub(crate) const RESYNC: Duration = Duration::from_secs(300);

/// The current time as Knative writes it (RFC 3339, UTC, whole seconds).
pub fn now() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    k8s_openapi::jiff::Timestamp::from_second(now.as_second())
        .map(|t| t.to_string())
        .unwrap_or_else(|_| now.to_string())
}
