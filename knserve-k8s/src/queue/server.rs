//! Starting and stopping the sidecar's listeners.

use std::{io, net::SocketAddr};

use knserve_core::net::{self, Forward, ServeHandle};
use tokio::net::TcpListener;
use tracing::info;

use super::QueueEnv;

/// Idle connections kept to the app when `containerConcurrency` is 0 (spec §7).
const UNLIMITED_IDLE_CONNECTIONS: usize = 1000;

/// The addresses a running sidecar listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    /// The main proxy port (`QUEUE_SERVING_PORT`).
    pub serving: SocketAddr,
}

/// A running sidecar: its servers and the handles that stop them.
#[derive(Debug)]
pub struct QueueProxy {
    addresses: Addresses,
    serving: ServeHandle,
}

impl QueueProxy {
    /// Binds every listener of `env` and starts serving.
    pub async fn start(env: &QueueEnv) -> io::Result<Self> {
        let app = SocketAddr::from(([127, 0, 0, 1], env.user_port));
        let idle = match env.container_concurrency {
            0 => UNLIMITED_IDLE_CONNECTIONS,
            cc => cc as usize,
        };
        let forward = Forward::new(idle, false).to(app);
        let serving = bind(env, env.serving_port).await?;
        let serving = net::serve(serving, forward)?;
        let addresses = Addresses {
            serving: serving.local_addr(),
        };
        info!(serving = %addresses.serving, %app, "queue-proxy started");
        Ok(Self { addresses, serving })
    }

    /// Where the servers listen.
    pub fn addresses(&self) -> Addresses {
        self.addresses
    }

    /// Stops the servers, letting every admitted request finish.
    pub async fn stop(self) {
        self.serving.shutdown().await;
    }
}

async fn bind(env: &QueueEnv, port: u16) -> io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::new(env.bind, port))
        .await
        .map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("binding {}:{port}: {error}", env.bind),
            )
        })
}
