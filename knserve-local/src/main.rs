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
use tracing::{info, warn};
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
    if let Some(open_files) = raise_open_files_limit() {
        let limit = connection_limit(open_files);
        knserve_core::net::pressure::set_connection_limit(limit);
        info!(
            open_files,
            connections = limit,
            "client connections capped below the open-files limit"
        );
    }
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
    eprintln!("knserve: stopping (send SIGTERM or SIGINT again to exit at once)");
    tokio::select! {
        () = server.shutdown() => Ok(code),
        () = wait_for_signal() => {
            // At once, without unwinding the runtime (whose drop would wait for its
            // blocking threads): the apps get SIGKILL from their parent-death signal,
            // and the next start reaps what the ledger still lists.
            warn!("second signal while draining: exiting at once");
            eprintln!("knserve: second signal while draining: exiting without waiting");
            std::process::exit(1);
        }
    }
}

/// Raises the soft limit of open files to the hard one, as most servers do: the common
/// soft default of 1024 is far below what a few thousand concurrent connections and
/// their instances need, while the hard limit is often much higher. Returns the soft
/// limit now in effect, if it could be read.
fn raise_open_files_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(error) => {
            warn!(%error, "could not read the open-files limit (RLIMIT_NOFILE)");
            return None;
        }
    };
    if soft >= hard {
        info!(
            soft,
            hard, "open-files limit (RLIMIT_NOFILE) already at the hard limit"
        );
        return Some(soft);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => {
            info!(
                from = soft,
                to = hard,
                hard,
                "raised the soft open-files limit (RLIMIT_NOFILE) to the hard limit"
            );
            Some(hard)
        }
        Err(error) => {
            warn!(%error, soft, hard, "could not raise the soft open-files limit (RLIMIT_NOFILE) to the hard limit");
            Some(soft)
        }
    }
}

/// How many client connections the servers accept together under an open-files limit
/// of `open_files`: a tenth of it (at least 64) stays free for instance starts,
/// connections to apps, probes and state files, so that a flood of clients cannot take
/// the descriptors their own requests need.
fn connection_limit(open_files: u64) -> usize {
    let reserve = (open_files / 10).max(64);
    usize::try_from(open_files.saturating_sub(reserve)).unwrap_or(usize::MAX)
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
