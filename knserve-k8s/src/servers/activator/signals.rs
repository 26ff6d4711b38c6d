//! SIGTERM/SIGINT handling shared by the activator, the ingress and the autoscaler.

use std::{future::Future, pin::Pin};

use tokio::{
    signal::unix::{Signal, SignalKind, signal},
    sync::oneshot,
};
use tracing::{info, warn};

/// A future that completes when the server should shut down.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// SIGTERM and SIGINT, both handled from creation on.
#[derive(Debug)]
struct Signals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// The next SIGTERM or SIGINT.
    async fn recv(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

/// Runs `work`, handing it a [`Shutdown`] that completes on the first SIGTERM or
/// SIGINT; `work` then stops (draining as it must) and its result is returned. A second
/// signal ends the run at once with an error, as Knative's signal handler exits on a
/// second signal.
///
/// The handlers are installed before `work` starts and replace the default action for
/// the whole process, so tests embed a server with its `run_until` form instead.
///
/// # Errors
/// When the handlers cannot be installed, when `work` fails, or on a second signal.
pub async fn until_signal<W, F>(work: W) -> anyhow::Result<()>
where
    W: FnOnce(Shutdown) -> F,
    F: Future<Output = anyhow::Result<()>>,
{
    let mut signals = Signals::install()?;
    let (signalled, first) = oneshot::channel::<()>();
    let shutdown: Shutdown = Box::pin(async move {
        let _ = first.await;
    });
    let watch = async move {
        signals.recv().await;
        info!("shutdown signal received");
        let _ = signalled.send(());
        signals.recv().await;
        warn!("second shutdown signal: exiting without finishing the shutdown");
    };
    tokio::select! {
        result = work(shutdown) => result,
        () = watch => anyhow::bail!("a second signal interrupted the shutdown"),
    }
}
