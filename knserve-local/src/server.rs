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

use knserve_core::{net::ServeHandle, trace::Tracing};
use nix::{
    errno::Errno,
    fcntl::{Flock, FlockArg},
};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::{
    admin,
    config::ServerConfig,
    process::Ledger,
    runtime::{PersistError, Runtime, datapath},
    state::{ServerInfo, StateDir, write_private},
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
    /// Another server uses the state directory (it holds the directory's `lock`).
    #[error(
        "another knserve server{} is using {dir}; stop it or pass another --state-dir",
        .pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Busy {
        /// Its pid, as its `server.json` says.
        pid: Option<u32>,
        /// The directory.
        dir: String,
    },
    /// The state directory, or a file in it, could be written by someone else.
    #[error(
        "refusing the state directory: {path} {problem}; anyone who can write there can plant a token or a Service that runs a command (fix it with `chmod go-w` / `chown`, or pass another --state-dir)"
    )]
    Unsafe {
        /// The directory or file.
        path: String,
        /// `is owned by uid N, not M` or `is writable by its group or others (mode 0777)`.
        problem: String,
    },
    /// A saved Service cannot be trusted (unreadable, corrupt, or not where it
    /// belongs): the server does not start rather than drop it.
    #[error("restoring saved Services: {0}")]
    Restore(PersistError),
    /// `config-observability`'s tracing keys name an exporter knserve cannot build.
    #[error("{0}")]
    Tracing(knserve_core::trace::StartError),
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
    tracing: Tracing,
    state: Option<StateDir>,
    /// The state directory's lock, released when the server is dropped.
    _lock: Option<Flock<fs::File>>,
}

impl Server {
    /// Prepares the state directory (refusing one others can write to, or another
    /// server holds), stops app processes a crashed previous server left running,
    /// binds every listener, restores saved Services and starts serving.
    pub async fn start(options: ServeOptions) -> Result<Self, StartError> {
        let prepared = match &options.state {
            Some(dir) => {
                let prepared = prepare(dir)?;
                // Only with the lock held: the records are then no live server's.
                Ledger::new(dir.processes_dir()).reap().await;
                Some(prepared)
            }
            None => None,
        };
        let (token, lock) = prepared.map(|p| (p.token, p.lock)).unzip();
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
        if admin_listener.is_some() && !options.admin_listen.ip().is_loopback() {
            warn!(
                admin_listen = %options.admin_listen,
                "--admin-listen is not a loopback address: the admin API, which can run any command as a Service, is reachable from other hosts and guarded only by the token in the state directory"
            );
        }
        let tracing = Tracing::start(&options.config.observability.tracing, "knserve")
            .map_err(StartError::Tracing)?;
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        let (activator, stats) = datapath::Activator::start(
            &options.config.routing.network.cluster_domain,
            options.config.local.throttler(),
            tracing.clone(),
        )
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
        )
        .map_err(StartError::Restore)?;
        let ingress_address = ingress_listener.local_addr().unwrap_or(options.listen);
        let peers = activator.control.peers.clone();
        let ingress = datapath::ingress(ingress_listener, tables, hops, peers, &tracing).map_err(
            |source| StartError::Bind {
                address: ingress_address,
                source,
            },
        )?;
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
            tracing,
            state: options.state,
            _lock: lock,
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
        self.tracing.shutdown().await;
    }
}

/// The state directory, prepared and locked for this server.
#[derive(Debug)]
struct Prepared {
    token: String,
    /// Held while the server runs; the kernel releases it when the process ends.
    lock: Flock<fs::File>,
}

/// Creates the directory and the token if missing; refuses a directory someone else
/// can write to, and one another live server has locked.
fn prepare(dir: &StateDir) -> Result<Prepared, StartError> {
    let failed = |source| StartError::State {
        dir: dir.root().display().to_string(),
        source,
    };
    create_private_dir(dir.root()).map_err(failed)?;
    for path in [
        dir.root().to_path_buf(),
        dir.services_dir(),
        dir.processes_dir(),
        dir.token_file(),
    ] {
        check_private(&path)?;
    }
    let lock = lock(dir)?;
    let token = match dir.read_token() {
        Ok(token) if !token.is_empty() => token,
        _ => {
            let token = new_token().map_err(failed)?;
            write_private(&dir.token_file(), token.as_bytes()).map_err(failed)?;
            token
        }
    };
    Ok(Prepared { token, lock })
}

/// Takes the directory's lock. Whether another server runs is the lock's to say, not
/// `server.json`'s: a stale one may name a pid since given to another program.
fn lock(dir: &StateDir) -> Result<Flock<fs::File>, StartError> {
    let path = dir.lock_file();
    let failed = |source| StartError::State {
        dir: path.display().to_string(),
        source,
    };
    // Created, then held open read-only: no descriptor open for writing keeps the
    // directory's filesystem from being remounted read-only.
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(failed)?;
    let file = fs::File::open(&path).map_err(failed)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(lock),
        Err((_, Errno::EWOULDBLOCK)) => Err(StartError::Busy {
            pid: dir.read_server().ok().map(|info| info.pid),
            dir: dir.root().display().to_string(),
        }),
        Err((_, errno)) => Err(failed(errno.into())),
    }
}

/// Refuses `path` (if it exists) when another user owns it or its group or others
/// may write to it.
fn check_private(path: &std::path::Path) -> Result<(), StartError> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Ok(());
    };
    let me = nix::unistd::geteuid().as_raw();
    let problem = if meta.uid() != me {
        format!(
            "is owned by uid {}, not {me} (this server's user)",
            meta.uid()
        )
    } else if meta.mode() & 0o022 != 0 {
        format!(
            "is writable by its group or others (mode {:04o})",
            meta.mode() & 0o7777
        )
    } else {
        return Ok(());
    };
    Err(StartError::Unsafe {
        path: path.display().to_string(),
        problem,
    })
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

fn write_server_info(dir: &StateDir, info: &ServerInfo) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(info).map_err(io::Error::other)?;
    let temporary = dir.server_file().with_extension("json.tmp");
    write_private(&temporary, &json)?;
    fs::rename(temporary, dir.server_file())
}
