//! The `knserve` binary: `knserve serve` runs the server; every other subcommand is a
//! client of its admin API, found through the same state directory.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use knserve_local::{
    cli::{self, ClientCommand},
    config::ServerConfig,
    server::{ServeOptions, Server},
    state::StateDir,
};
use tracing_subscriber::EnvFilter;

/// Knative Serving on one machine: scale-to-zero HTTP services from Knative YAML.
#[derive(Debug, Parser)]
#[command(name = "knserve", version)]
struct Cli {
    /// The server's state directory: applied Services, admin token, server address.
    /// Default: $KNSERVE_STATE_DIR, else $XDG_STATE_HOME/knserve, else
    /// ~/.local/state/knserve.
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: ingress, activator, autoscaler and the services' instances.
    Serve(ServeArgs),
    #[command(flatten)]
    Client(ClientCommand),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The ingress listener.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// The admin API listener (port 0: any free port, written to the state directory).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    admin_listen: SocketAddr,
    /// Configuration in Knative's config-map keys (config-autoscaler, config-defaults,
    /// config-domain, config-features, config-network, knserve).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Services to apply once the server is up (as `knserve apply -f` would), printing
    /// how to call each once it is ready.
    #[arg(long, value_name = "FILE")]
    apply: Vec<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match knserve_core::net::server_runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let state = StateDir::new(cli.state_dir.unwrap_or_else(StateDir::default_path));
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args, state).await,
            Command::Client(command) => cli::run(command, &state).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs, state: StateDir) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("KNSERVE_LOG").unwrap_or_else(|_| {
            EnvFilter::new("knserve=info,knserve_local=info,knserve_core=warn")
        }))
        .with_writer(std::io::stderr)
        .init();
    let config = match &args.config {
        Some(path) => ServerConfig::load(path)?,
        None => ServerConfig::default(),
    };
    let options = ServeOptions {
        listen: args.listen,
        admin_listen: args.admin_listen,
        state: Some(state.clone()),
        config,
        ..ServeOptions::default()
    };
    let server = Server::start(options).await?;
    println!(
        "knserve serving on http://{} (admin API on {}, state in {})",
        server.ingress_address(),
        server
            .admin_address()
            .map_or_else(String::new, |a| a.to_string()),
        state.root().display()
    );
    let mut code = ExitCode::SUCCESS;
    for file in &args.apply {
        let apply = ClientCommand::Apply {
            file: file.clone(),
            wait_timeout: Duration::from_secs(600),
            no_wait: false,
        };
        if cli::run(apply, &state).await.context("applying")? != ExitCode::SUCCESS {
            code = ExitCode::FAILURE;
        }
    }
    wait_for_signal().await;
    eprintln!("knserve: stopping");
    server.shutdown().await;
    Ok(code)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
