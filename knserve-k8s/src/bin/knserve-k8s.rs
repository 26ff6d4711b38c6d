//! `knserve-k8s`: every server of the Kubernetes backend in one binary (one container
//! image): `controller`, `autoscaler`, `activator`, `ingress`, `webhook` and `queue`
//! (the sidecar), plus `crds`, which prints the CustomResourceDefinitions.
//!
//! The servers find the API server the way kubectl does (in-cluster service account, or
//! `KUBECONFIG`). `SYSTEM_NAMESPACE` (default `knative-serving`) names where the
//! ConfigMaps and the activator live.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
        Server::Crds => Ok(()),
    }
}

fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("knserve-k8s: {error}");
    ExitCode::FAILURE
}
