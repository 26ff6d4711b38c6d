//! `knserve-queue`: a drop-in replacement for Knative's queue-proxy sidecar (spec §4).
//!
//! - [`QueueEnv`]: Knative's environment contract, read and checked.
//! - [`QueueProxy`]: the running sidecar — its listeners, layers and drain.

mod env;
mod server;

pub use self::env::{EnvError, QueueEnv};
pub use self::server::{Addresses, QueueProxy, StartError};

/// Runs the sidecar described by `env` until SIGTERM or SIGINT, then drains (§4.5).
///
/// Prints one machine-readable line with the bound addresses, so scripts and tests find
/// ports chosen by the OS.
///
/// # Errors
/// When a listener cannot be bound or the signal handlers cannot be installed.
pub async fn run_until_signal(env: QueueEnv) -> Result<(), Box<dyn std::error::Error>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let proxy = QueueProxy::start(&env).await?;
    let a = proxy.addresses();
    let user_metrics = a
        .user_metrics
        .map_or(String::from("off"), |addr| addr.to_string());
    println!(
        "knserve-queue serving={} admin={} metrics={} user-metrics={user_metrics}",
        a.serving, a.admin, a.metrics
    );
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    proxy.terminate().await;
    Ok(())
}
