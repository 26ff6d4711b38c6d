//! The webhook process: certificates, settings, serving and registration together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kube::Client;
use tokio::sync::watch;
use tracing::{info, warn};

use super::certs::WebhookCerts;
use super::config::{load_config, watch_config};
use super::register::{ClientTarget, ensure_certs, register};
use super::server::{CertStore, start};

/// Where and as what the webhook runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookOptions {
    /// The namespace of the Secret, the ConfigMaps and the Service (`SYSTEM_NAMESPACE`,
    /// default `knative-serving`).
    pub system_namespace: String,
    /// The Service in front of the webhook, named in its certificate (`webhook`).
    pub service_name: String,
    /// The address to listen on (`0.0.0.0:8443`).
    pub listen: SocketAddr,
    /// How the API server reaches the webhook: the Service on 443 by default, or a URL
    /// for a webhook running outside the cluster.
    pub target: ClientTarget,
    /// How often the certificates are checked for renewal and the configurations
    /// re-applied (1 hour).
    pub refresh: Duration,
}

impl WebhookOptions {
    /// Defaults in `system_namespace`: Service `webhook` port 443, listening on 8443.
    pub fn new(system_namespace: impl Into<String>) -> Self {
        let system_namespace = system_namespace.into();
        Self {
            target: ClientTarget::Service {
                namespace: system_namespace.clone(),
                name: "webhook".to_owned(),
                port: 443,
            },
            system_namespace,
            service_name: "webhook".to_owned(),
            listen: SocketAddr::from(([0, 0, 0, 0], 8443)),
            refresh: Duration::from_secs(3600),
        }
    }

    /// Defaults in `$SYSTEM_NAMESPACE` (`knative-serving` when unset).
    pub fn from_env() -> Self {
        Self::new(std::env::var("SYSTEM_NAMESPACE").unwrap_or_else(|_| "knative-serving".into()))
    }

    /// Registered by URL at `https://127.0.0.1:<port>` and listening there, for a
    /// webhook run as a local process next to a kube-apiserver on loopback.
    #[must_use]
    pub fn on_loopback(mut self, port: u16) -> Self {
        self.listen = SocketAddr::from(([127, 0, 0, 1], port));
        self.target = ClientTarget::Url(format!("https://127.0.0.1:{port}"));
        self
    }
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self::new("knative-serving")
    }
}

/// Runs the webhook until an unrecoverable error: gets or makes its certificates,
/// reads and watches the settings, serves, registers the webhook configurations, then
/// every `refresh` renews the certificates when near expiry and re-registers.
pub async fn run(client: Client, opts: WebhookOptions) -> anyhow::Result<()> {
    let namespace = opts.system_namespace.clone();
    let certs = ensure_certs(&client, &namespace, &opts.service_name, SystemTime::now()).await?;
    let store = CertStore::new(&certs)?;
    let (sender, receiver) = watch::channel(load_config(&client, &namespace).await);
    let serving = start(opts.listen, Arc::clone(&store), receiver).await?;
    register(&client, &opts.target, &certs).await?;
    info!(addr = %serving.addr, namespace, "webhook serving");
    tokio::select! {
        () = watch_config(client.clone(), namespace, sender) => {
            anyhow::bail!("the config map watch ended")
        }
        () = keep_fresh(&client, &opts, &store, certs) => Ok(()),
    }
}

async fn keep_fresh(
    client: &Client,
    opts: &WebhookOptions,
    store: &CertStore,
    mut certs: WebhookCerts,
) {
    let mut ticks = tokio::time::interval(opts.refresh);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let now = SystemTime::now();
        match ensure_certs(client, &opts.system_namespace, &opts.service_name, now).await {
            Ok(fresh) if fresh != certs => match store.replace(&fresh) {
                Ok(()) => {
                    info!(not_after = fresh.not_after, "webhook certificates renewed");
                    certs = fresh;
                }
                Err(error) => warn!(%error, "renewed webhook certificates do not load"),
            },
            Ok(_) => {}
            Err(error) => warn!(%error, "checking the webhook certificates failed"),
        }
        if let Err(error) = register(client, &opts.target, &certs).await {
            warn!(%error, "re-applying the webhook configurations failed");
        }
    }
}
