//! A whole local knserve in one process: the ingress router, the activator, the
//! orchestrator and autoscaler, and (with a state directory) the admin API.
//!
//! This is what `knserve serve` runs, and what a program embedding knserve starts:
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! use knserve_local::server::{ServeOptions, Server};
//! let server = Server::start(ServeOptions::default()).await?;
//! println!("ingress on {}", server.ingress_address());
//! server.runtime().apply_yaml(&std::fs::read_to_string("service.yaml")?, false)?;
//! # server.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::{
    fs,
    io::{self, Read},
    net::SocketAddr,
    path::PathBuf,
    time::Duration,
};

use knserve_core::net::ServeHandle;
use tokio::net::TcpListener;
use tracing::info;

use crate::{
    admin,
    config::ServerConfig,
    runtime::{Runtime, datapath},
    state::{ServerInfo, StateDir},
};

/// The longest a process gets between SIGTERM and SIGKILL when the server stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How to start a [`Server`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The ingress listener. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// The admin API listener. Default `127.0.0.1:0` (any free port; clients find it in
    /// the state directory).
    pub admin_listen: SocketAddr,
    /// Where applied Services, the admin token and `server.json` live. `None` (the
    /// library default): nothing is kept and no admin API is served.
    pub state: Option<StateDir>,
    /// Configuration.
    pub config: ServerConfig,
    /// Where a bare command name is looked for after `PATH`. Default: the directory of
    /// the running executable, so programs built beside `knserve` are found.
    pub search_path: Vec<PathBuf>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(PathBuf::from));
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            state: None,
            config: ServerConfig::default(),
            search_path: exe_dir.into_iter().collect(),
        }
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error("binding {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Another server uses the state directory.
    #[error(
        "another knserve server (pid {pid}) is using {dir}; stop it or pass another --state-dir"
    )]
    Busy {
        /// Its pid.
        pid: u32,
        /// The directory.
        dir: String,
    },
    /// The state directory could not be prepared.
    #[error("state directory {dir}: {source}")]
    State {
        /// The directory.
        dir: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    runtime: Runtime,
    ingress: ServeHandle,
    admin: Option<ServeHandle>,
    activator: datapath::Activator,
    state: Option<StateDir>,
}

impl Server {
    /// Binds every listener, restores saved Services and starts serving.
    pub async fn start(options: ServeOptions) -> Result<Self, StartError> {
        let token = match &options.state {
            Some(dir) => Some(prepare(dir)?),
            None => None,
        };
        let bind = |address: SocketAddr| async move {
            TcpListener::bind(address)
                .await
                .map_err(|source| StartError::Bind { address, source })
        };
        let ingress_listener = bind(options.listen).await?;
        let admin_listener = match token {
            Some(_) => Some(bind(options.admin_listen).await?),
            None => None,
        };
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        let (activator, stats) =
            datapath::Activator::start(&options.config.routing.network.cluster_domain)
                .await
                .map_err(|source| StartError::Bind {
                    address: local,
                    source,
                })?;
        let (runtime, tables, hops) = Runtime::start(
            options.config,
            options.state.clone(),
            options.search_path,
            &activator,
            stats,
        );
        let ingress_address = ingress_listener.local_addr().unwrap_or(options.listen);
        let peers = activator.control.peers.clone();
        let ingress =
            datapath::ingress(ingress_listener, tables, hops, peers).map_err(|source| {
                StartError::Bind {
                    address: ingress_address,
                    source,
                }
            })?;
        let admin = match (admin_listener, token) {
            (Some(listener), Some(token)) => Some(
                admin::server::serve(listener, runtime.clone(), token).map_err(|source| {
                    StartError::Bind {
                        address: options.admin_listen,
                        source,
                    }
                })?,
            ),
            _ => None,
        };
        let server = Self {
            runtime,
            ingress,
            admin,
            activator,
            state: options.state,
        };
        if let (Some(dir), Some(admin)) = (&server.state, &server.admin) {
            let info = ServerInfo {
                pid: std::process::id(),
                admin: admin.local_addr(),
                ingress: server.ingress.local_addr(),
            };
            write_server_info(dir, &info).map_err(|source| StartError::State {
                dir: dir.root().display().to_string(),
                source,
            })?;
        }
        info!(ingress = %server.ingress_address(), admin = ?server.admin_address(), activator = %server.activator.address(), "knserve serving");
        Ok(server)
    }

    /// The orchestrator: apply, delete and inspect Services.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Where the ingress listens.
    pub fn ingress_address(&self) -> SocketAddr {
        self.ingress.local_addr()
    }

    /// Where the admin API listens, if it is served.
    pub fn admin_address(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(ServeHandle::local_addr)
    }

    /// Stops taking requests, stops every instance, and removes `server.json`.
    pub async fn shutdown(self) {
        if let Some(dir) = &self.state {
            let _ = fs::remove_file(dir.server_file());
        }
        self.ingress.shutdown().await;
        self.runtime.shutdown(SHUTDOWN_GRACE).await;
        self.activator.shutdown().await;
        if let Some(admin) = self.admin {
            admin.abort();
        }
    }
}

/// Creates the directory and the token if missing; refuses a directory another live
/// server uses. Returns the token.
fn prepare(dir: &StateDir) -> Result<String, StartError> {
    let failed = |source| StartError::State {
        dir: dir.root().display().to_string(),
        source,
    };
    if let Ok(info) = dir.read_server()
        && info.pid != std::process::id()
        && alive(info.pid)
    {
        return Err(StartError::Busy {
            pid: info.pid,
            dir: dir.root().display().to_string(),
        });
    }
    create_private_dir(dir.root()).map_err(failed)?;
    match dir.read_token() {
        Ok(token) if !token.is_empty() => Ok(token),
        _ => {
            let token = new_token().map_err(failed)?;
            write_private(&dir.token_file(), token.as_bytes()).map_err(failed)?;
            Ok(token)
        }
    }
}

fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

fn new_token() -> io::Result<String> {
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn create_private_dir(path: &std::path::Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

fn write_private(path: &std::path::Path, contents: &[u8]) -> io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)
}

fn write_server_info(dir: &StateDir, info: &ServerInfo) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(info).map_err(io::Error::other)?;
    let temporary = dir.server_file().with_extension("json.tmp");
    write_private(&temporary, &json)?;
    fs::rename(temporary, dir.server_file())
}
