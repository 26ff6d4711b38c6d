//! The state directory `knserve serve` keeps, and every other subcommand reads.
//!
//! Layout:
//! - `admin-token`: the admin API's bearer token, created (mode 0600) at first start.
//! - `server.json`: a [`ServerInfo`] written once the server listens; removed at exit.
//! - `lock`: locked (`flock`) by the server using the directory, released when it
//!   exits however it exits; a second server refuses to start while it is held.
//! - `services/<namespace>/<name>.json`: each applied Service and the objects it owns,
//!   restored at the next start.
//! - `processes/<pid>.json`: each running app process, stopped at the next start if a
//!   crashed server left it behind.
//!
//! The server refuses a directory (or `services/`, `processes/`, `admin-token`) that
//! is owned by another user or writable by its group or others, as ssh refuses such
//! key files: whoever can write there can plant a token or a Service that runs a
//! command.
//!
//! The default directory is `$KNSERVE_STATE_DIR`, else `$XDG_STATE_HOME/knserve`, else
//! `$HOME/.local/state/knserve`.

use std::{
    env, fs, io,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

/// Where a running server can be reached; `server.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The server's process id.
    pub pid: u32,
    /// The admin API (and `/metrics`).
    pub admin: SocketAddr,
    /// The ingress listener.
    pub ingress: SocketAddr,
}

/// Why the state directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// No `server.json`: no server has started with this directory.
    #[error("no knserve server found in {dir} (start one with `knserve serve --state-dir {dir}`)")]
    NoServer {
        /// The directory looked in.
        dir: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file is not what the server writes.
    #[error("{path}: {message}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// A state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The directory at `root` (not created until the server starts).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The default directory (see the module docs).
    pub fn default_path() -> PathBuf {
        if let Some(dir) = env::var_os("KNSERVE_STATE_DIR").filter(|d| !d.is_empty()) {
            return dir.into();
        }
        if let Some(dir) = env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir).join("knserve");
        }
        match env::var_os("HOME").filter(|d| !d.is_empty()) {
            Some(home) => PathBuf::from(home).join(".local/state/knserve"),
            None => PathBuf::from(".knserve"),
        }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `admin-token`.
    pub fn token_file(&self) -> PathBuf {
        self.root.join("admin-token")
    }

    /// `server.json`.
    pub fn server_file(&self) -> PathBuf {
        self.root.join("server.json")
    }

    /// `services/`.
    pub fn services_dir(&self) -> PathBuf {
        self.root.join("services")
    }

    /// `processes/`: a record of each running app process (see
    /// [`Ledger`](crate::process::Ledger)).
    pub fn processes_dir(&self) -> PathBuf {
        self.root.join("processes")
    }

    /// `lock`: held (`flock`) by the running server for its lifetime.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// The token a client sends.
    pub fn read_token(&self) -> Result<String, StateError> {
        let path = self.token_file();
        match fs::read_to_string(&path) {
            Ok(token) => Ok(token.trim().to_owned()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(self.no_server()),
            Err(source) => Err(io_error(&path, source)),
        }
    }

    /// Where the server listens.
    pub fn read_server(&self) -> Result<ServerInfo, StateError> {
        let path = self.server_file();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(self.no_server()),
            Err(source) => return Err(io_error(&path, source)),
        };
        serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    fn no_server(&self) -> StateError {
        StateError::NoServer {
            dir: self.root.display().to_string(),
        }
    }
}

fn io_error(path: &Path, source: io::Error) -> StateError {
    StateError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `path` owner-only (mode 0600 from its creation; a file already there is
/// replaced, since an existing file keeps its mode) and syncs it.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}
