//! `knserve-k8s`: every server of the Kubernetes backend in one binary (one container
//! image): `controller`, `autoscaler`, `activator`, `ingress`, `webhook` and `queue`
//! (the sidecar), plus `crds`, which prints the CustomResourceDefinitions.
//!
//! The servers find the API server the way kubectl does (in-cluster service account, or
//! `KUBECONFIG`). `SYSTEM_NAMESPACE` (default `knative-serving`) names where the
//! ConfigMaps and the activator live.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use knserve_k8s::servers::{activator, autoscaler, ingress};
use tracing_subscriber::EnvFilter;

/// Knative Serving on Kubernetes, in Rust.
#[derive(Debug, Parser)]
#[command(name = "knserve-k8s", version)]
struct Cli {
    #[command(subcommand)]
    server: Server,
}

#[derive(Debug, Subcommand)]
enum Server {
    /// Reconciles Services, Configurations, Revisions, Routes and ServerlessServices.
    Controller,
    /// Decides each revision's scale and reconciles PodAutoscalers of class KPA.
    Autoscaler {
        /// Where activators POST their stats.
        #[arg(long, default_value = "0.0.0.0:8080")]
        stats_listen: std::net::SocketAddr,
        /// Where `/metrics` and `/healthz` are served.
        #[arg(long, default_value = "0.0.0.0:9090")]
        metrics_listen: std::net::SocketAddr,
    },
    /// Holds requests for revisions at zero and load-balances the ones in Proxy mode.
    Activator {
        /// Where requests arrive.
        #[arg(long, default_value = "0.0.0.0:8012")]
        listen: std::net::SocketAddr,
        /// Where to POST stats (default: the autoscaler Service in the system namespace).
        #[arg(long)]
        stats_url: Option<String>,
    },
    /// Routes requests by Host from networking Ingress objects.
    Ingress {
        /// Where requests from outside the cluster arrive (the `knserve-ingress`
        /// Service): `ExternalIP` rules only.
        #[arg(long, default_value = "0.0.0.0:8080")]
        listen: std::net::SocketAddr,
        /// Where requests from inside the cluster arrive (the
        /// `knserve-ingress-internal` Service): every rule, `ClusterLocal` ones too.
        #[arg(long, default_value = "0.0.0.0:8081")]
        listen_internal: std::net::SocketAddr,
    },
    /// Defaults and validates serving.knative.dev objects at admission (HTTPS :8443).
    Webhook,
    /// The queue-proxy sidecar (configured by Knative's environment contract).
    Queue,
    /// Prints the CustomResourceDefinitions as YAML.
    Crds,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Server::Crds = cli.server {
        return match knserve_k8s::crd::all_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&e),
    };
    match runtime.block_on(run(cli.server)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("knserve-k8s: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(server: Server) -> anyhow::Result<()> {
    let system_namespace = std::env::var("SYSTEM_NAMESPACE")
        .unwrap_or_else(|_| knserve_k8s::controller::DEFAULT_SYSTEM_NAMESPACE.to_owned());
    match server {
        Server::Queue => {
            let env = knserve_k8s::queue::QueueEnv::from_process()?;
            knserve_k8s::queue::run_until_signal(env)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
        }
        Server::Controller => {
            let client = kube::Client::try_default().await?;
            let options = knserve_k8s::controller::ControllerOptions { system_namespace };
            knserve_k8s::controller::run(client, options).await
        }
        Server::Autoscaler {
            stats_listen,
            metrics_listen,
        } => {
            let client = kube::Client::try_default().await?;
            let options = autoscaler::AutoscalerOptions {
                stats_listen,
                metrics_listen,
                system_namespace,
                ..Default::default()
            };
            autoscaler::run(client, options).await
        }
        Server::Activator { listen, stats_url } => {
            let client = kube::Client::try_default().await?;
            let defaults = activator::ActivatorOptions::default();
            let options = activator::ActivatorOptions {
                listen,
                pod_name: std::env::var("POD_NAME").unwrap_or(defaults.pod_name),
                pod_ip: std::env::var("POD_IP").ok().and_then(|ip| ip.parse().ok()),
                stats_url: stats_url.unwrap_or_else(|| {
                    activator::stats_url(&system_namespace, &defaults.cluster_domain)
                }),
                cluster_domain: defaults.cluster_domain,
                system_namespace,
            };
            activator::run(client, options).await
        }
        Server::Ingress {
            listen,
            listen_internal,
        } => {
            let client = kube::Client::try_default().await?;
            let options = ingress::IngressOptions {
                listen,
                listen_internal,
                system_namespace,
                ..Default::default()
            };
            ingress::run(client, options).await
        }
        Server::Webhook => {
            let client = kube::Client::try_default().await?;
            let options = knserve_k8s::webhook::WebhookOptions::new(system_namespace);
            knserve_k8s::webhook::run(client, options).await
        }
        Server::Crds => Ok(()),
    }
}

fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("knserve-k8s: {error}");
    ExitCode::FAILURE
}
