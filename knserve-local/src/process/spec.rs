//! What to run, and how a program name becomes a path.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::Ledger;

/// One process to supervise: a revision's first container's `command` + `args`, `env`
/// and `workingDir`, with `PORT` among `env`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessSpec {
    /// The program: a bare name looked up in `PATH` then `search_path`, or a path
    /// (anything with a `/`), relative to `working_dir` when that is set.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Variables set on top of the server's own environment (these win).
    pub env: Vec<(String, String)>,
    /// The working directory; the server's when `None`.
    pub working_dir: Option<PathBuf>,
    /// Directories searched after `PATH` for a bare program name.
    pub search_path: Vec<PathBuf>,
    /// A name for logs, e.g. `default/hello-00001-3`.
    pub name: String,
    /// Where the running process is recorded, so a server restarted after a crash can
    /// stop it ([`Ledger::reap`]); `None`: not recorded.
    pub ledger: Option<Ledger>,
}

/// Why a process could not be started. Shown in
/// [`ProcessStatus::SpawnFailed`](super::ProcessStatus::SpawnFailed).
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// A bare program name was found in none of the directories.
    #[error("{program}: not found in PATH{}", searched(.dirs))]
    NotFound {
        /// The program as given.
        program: String,
        /// The `search_path` directories also searched.
        dirs: Vec<PathBuf>,
    },
    /// `working_dir` is not a directory.
    #[error("working directory {} does not exist", .dir.display())]
    WorkingDir {
        /// The configured `working_dir`.
        dir: PathBuf,
    },
    /// The operating system refused to start it (not executable, bad working dir, ...).
    #[error("{}: {cause}", .path.display())]
    Spawn {
        /// The resolved path.
        path: PathBuf,
        /// The error from the spawn.
        cause: std::io::Error,
    },
}

fn searched(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return String::new();
    }
    let dirs: Vec<_> = dirs.iter().map(|d| d.display().to_string()).collect();
    format!(" or {}", dirs.join(", "))
}

impl SpawnError {
    /// Whether the system refused the spawn for want of descriptors, memory or
    /// processes (`EMFILE`, `ENFILE`, `ENOMEM`, `EAGAIN`): transient, retried without
    /// counting towards a crash loop.
    pub fn is_resource_exhaustion(&self) -> bool {
        matches!(self, Self::Spawn { cause, .. } if knserve_core::net::pressure::is_resource_exhaustion(cause))
    }
}

impl ProcessSpec {
    /// The path to execute. A bare name is looked up in `PATH` — `spec.env`'s `PATH`
    /// if it sets one, since that is the child's environment, else the server's —
    /// then in `search_path`; the first executable regular file wins.
    pub fn resolve(&self) -> Result<PathBuf, SpawnError> {
        if self.program.contains('/') {
            let path = Path::new(&self.program);
            return Ok(match &self.working_dir {
                Some(dir) if path.is_relative() => dir.join(path),
                _ => path.to_path_buf(),
            });
        }
        let path_var = self.env_path();
        let dirs = std::env::split_paths(&path_var).chain(self.search_path.iter().cloned());
        // An empty `PATH` entry would mean the server's cwd, which nobody intends here.
        dirs.filter(|dir| !dir.as_os_str().is_empty())
            .map(|dir| dir.join(&self.program))
            .find(|candidate| is_executable(candidate))
            .ok_or_else(|| SpawnError::NotFound {
                program: self.program.clone(),
                dirs: self.search_path.clone(),
            })
    }

    fn env_path(&self) -> OsString {
        let own = self.env.iter().rev().find(|(key, _)| key == "PATH");
        match own {
            Some((_, value)) => value.into(),
            None => std::env::var_os("PATH").unwrap_or_default(),
        }
    }
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
