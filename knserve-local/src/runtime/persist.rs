//! Applied Services on disk, so a restarted server serves what it served before.
//!
//! Each Service's objects — the Service as applied, its Configuration, Revisions and
//! Route — are one JSON file, `services/<namespace>/<name>.json`. A write is durable
//! before it is acknowledged: the new text goes to `<name>.json.tmp`, which is
//! fsynced, renamed over the old file, and the directory fsynced, so a crash or a full
//! disk leaves either the old file or the new one, never half of one. An apply of many
//! Services writes every temporary file first ([`stage`]) and renames them only once
//! all are written ([`commit`]), so a full disk applies none of them.
//!
//! Paths are built only from names that are DNS-1123 labels (namespaces) and
//! subdomains (names), which cannot hold `/` or be `..`.
//!
//! Reading is strict: a file that cannot be read or parsed, or whose Service is not the
//! one its path names, stops the server from starting ([`load`]), since skipping it
//! would silently drop a Service that was acknowledged. Statuses are recomputed after
//! a restart; revision names and generations carry on.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use knserve_core::{
    api::{is_dns1123_label, is_dns1123_subdomain},
    reconcile::ServiceSet,
};

use crate::state::StateDir;

/// The extension of a write in progress; such a file was never acknowledged.
const TEMPORARY: &str = "json.tmp";

/// Why a Service's file could not be written, removed or read.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// Writing, renaming or syncing failed (e.g. `No space left on device`).
    #[error("writing {}: {cause}", .path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        cause: io::Error,
    },
    /// Removing a deleted Service's file failed.
    #[error("removing {}: {cause}", .path.display())]
    Remove {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        cause: io::Error,
    },
    /// A saved file or directory could not be read.
    #[error("reading {}: {cause}", .path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        cause: io::Error,
    },
    /// A saved file is not a Service the server wrote there.
    #[error(
        "{}: {problem}; move the file out of the state directory to start without this Service",
        .path.display()
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A namespace or name would not be a plain file name.
    #[error("{field} {value:?} cannot name a file: it must be a {rule}")]
    UnsafeName {
        /// `metadata.namespace` or `metadata.name`.
        field: &'static str,
        /// The value.
        value: String,
        /// The rule it breaks.
        rule: &'static str,
    },
}

/// A Service's new file, written and synced under its temporary name.
#[derive(Debug)]
pub(super) struct Staged {
    temporary: PathBuf,
    file: PathBuf,
}

/// `services/<namespace>/<name>.json`, from checked names only.
fn path(dir: &StateDir, namespace: &str, name: &str) -> Result<PathBuf, PersistError> {
    if !is_dns1123_label(namespace) {
        return Err(PersistError::UnsafeName {
            field: "metadata.namespace",
            value: namespace.to_owned(),
            rule: "DNS-1123 label",
        });
    }
    if !is_dns1123_subdomain(name) {
        return Err(PersistError::UnsafeName {
            field: "metadata.name",
            value: name.to_owned(),
            rule: "DNS-1123 subdomain",
        });
    }
    Ok(dir
        .services_dir()
        .join(namespace)
        .join(format!("{name}.json")))
}

/// Writes `set` to its temporary file and syncs it; nothing is visible until
/// [`commit`]. On error nothing is left behind.
pub(super) fn stage(dir: &StateDir, set: &ServiceSet) -> Result<Staged, PersistError> {
    let meta = &set.service.metadata;
    let file = path(dir, meta.namespace(), meta.name())?;
    let temporary = file.with_extension(TEMPORARY);
    let json = serde_json::to_vec_pretty(set).map_err(|e| PersistError::Write {
        path: file.clone(),
        cause: io::Error::other(e),
    })?;
    let written = create_dirs(dir, &file).and_then(|()| write_synced(&temporary, &json));
    if let Err(cause) = written {
        let _ = fs::remove_file(&temporary);
        return Err(PersistError::Write { path: file, cause });
    }
    Ok(Staged { temporary, file })
}

/// Renames every staged file over its old one and syncs the directories.
pub(super) fn commit(staged: Vec<Staged>) -> Result<(), PersistError> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for Staged { temporary, file } in &staged {
        fs::rename(temporary, file).map_err(|cause| PersistError::Write {
            path: file.clone(),
            cause,
        })?;
        if let Some(parent) = file.parent().filter(|p| !dirs.iter().any(|d| d == p)) {
            dirs.push(parent.to_path_buf());
        }
    }
    dirs.iter().try_for_each(|d| sync_dir(d))
}

/// Removes staged files that will not be committed.
pub(super) fn discard(staged: Vec<Staged>) {
    for Staged { temporary, .. } in staged {
        let _ = fs::remove_file(temporary);
    }
}

/// Removes a deleted Service's file and syncs its directory.
pub(super) fn remove(dir: &StateDir, namespace: &str, name: &str) -> Result<(), PersistError> {
    let file = path(dir, namespace, name)?;
    match fs::remove_file(&file) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(cause) => return Err(PersistError::Remove { path: file, cause }),
    }
    file.parent().map_or(Ok(()), sync_dir)
}

/// Every saved Service. Any file that cannot be trusted is an error naming it; a
/// temporary file (a write that was never acknowledged) is removed.
pub(super) fn load(dir: &StateDir) -> Result<Vec<ServiceSet>, PersistError> {
    let mut sets = Vec::new();
    let root = dir.services_dir();
    let namespaces = match fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(sets),
        Err(cause) => return Err(PersistError::Read { path: root, cause }),
    };
    for namespace in namespaces {
        let namespace = namespace.map_err(|cause| PersistError::Read {
            path: root.clone(),
            cause,
        })?;
        load_namespace(&namespace.path(), &mut sets)?;
    }
    Ok(sets)
}

fn load_namespace(dir: &Path, sets: &mut Vec<ServiceSet>) -> Result<(), PersistError> {
    let namespace = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if !dir.is_dir() || !is_dns1123_label(namespace) {
        return Err(corrupt(dir, "not a namespace directory the server writes"));
    }
    let read = |cause| PersistError::Read {
        path: dir.to_path_buf(),
        cause,
    };
    for file in fs::read_dir(dir).map_err(read)? {
        let path = file.map_err(read)?.path();
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if file_name.ends_with(&format!(".{TEMPORARY}")) {
            tracing::debug!(file = %path.display(), "removing an unfinished write");
            let _ = fs::remove_file(&path);
            continue;
        }
        let Some(name) = file_name.strip_suffix(".json") else {
            return Err(corrupt(&path, "not a Service file (<name>.json)"));
        };
        let set = read_set(&path)?;
        let meta = &set.service.metadata;
        if meta.namespace() != namespace || meta.name() != name {
            let problem = format!(
                "holds Service {}/{}, not {namespace}/{name}",
                meta.namespace(),
                meta.name()
            );
            return Err(corrupt(&path, &problem));
        }
        sets.push(set);
    }
    Ok(())
}

fn read_set(path: &Path) -> Result<ServiceSet, PersistError> {
    let bytes = fs::read(path).map_err(|cause| PersistError::Read {
        path: path.to_path_buf(),
        cause,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| corrupt(path, &format!("not valid JSON: {e}")))
}

fn corrupt(path: &Path, problem: &str) -> PersistError {
    PersistError::Corrupt {
        path: path.to_path_buf(),
        problem: problem.to_owned(),
    }
}

/// Creates the file's directory (and `services/`) if missing, syncing each parent a
/// directory was added to, so the new entry survives a crash too.
fn create_dirs(dir: &StateDir, file: &Path) -> io::Result<()> {
    let services = dir.services_dir();
    let Some(namespace) = file.parent() else {
        return Ok(());
    };
    for (child, parent) in [(services.as_path(), dir.root()), (namespace, &services)] {
        if !child.is_dir() {
            private_dir(child).or_else(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => Ok(()),
                _ => Err(e),
            })?;
            sync_dir_io(parent)?;
        }
    }
    Ok(())
}

/// Owner only: with a umask of 002 a plain `create_dir` would make a directory the
/// next start refuses as group-writable.
fn private_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().mode(0o700).create(path)
}

fn write_synced(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut file = fs::File::create(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

fn sync_dir(dir: &Path) -> Result<(), PersistError> {
    sync_dir_io(dir).map_err(|cause| PersistError::Write {
        path: dir.to_path_buf(),
        cause,
    })
}

fn sync_dir_io(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Now, as RFC 3339 UTC with seconds (`2026-11-22T03:04:05Z`), as Kubernetes writes
/// timestamps.
pub(super) fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_316_645), "2026-11-22T03:04:05Z");
    }

    fn service_set(name: &str) -> ServiceSet {
        use knserve_core::{
            api::{Resource, ValidationConfig, parse_yaml},
            reconcile::{ApplyContext, apply},
        };
        let yaml = format!(
            "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  template:\n    spec:\n      containers:\n      - image: example.com/app:1\n        command: [app]\n"
        );
        let Some(Resource::Service(service)) = parse_yaml(&yaml).unwrap().pop() else {
            panic!("one Service");
        };
        let config = ValidationConfig::default();
        let ctx = ApplyContext {
            config: &config,
            now: "2026-12-05T00:00:00Z",
            name_taken: &|_, _| false,
        };
        apply(None, service, &ctx).expect("a valid Service").set
    }

    #[test]
    fn a_staged_write_is_invisible_until_committed_and_a_discarded_one_leaves_nothing() {
        let root = std::env::temp_dir().join(format!("knserve-persist-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        // The server makes the state directory before anything is saved.
        fs::create_dir(&root).unwrap();
        let dir = StateDir::new(&root);
        let file = root.join("services/default/hello.json");

        let staged = stage(&dir, &service_set("hello")).unwrap();
        assert!(!file.exists(), "nothing is visible before commit");
        discard(vec![staged]);
        assert_eq!(
            load(&dir).unwrap().len(),
            0,
            "a discarded write leaves nothing"
        );
        assert_eq!(fs::read_dir(file.parent().unwrap()).unwrap().count(), 0);

        commit(vec![stage(&dir, &service_set("hello")).unwrap()]).unwrap();
        fs::write(file.with_extension(TEMPORARY), b"{half").unwrap();
        let loaded = load(&dir).unwrap();
        assert_eq!(loaded.len(), 1, "a committed write is loaded");
        assert_eq!(loaded[0].service.metadata.name(), "hello");
        assert!(
            !file.with_extension(TEMPORARY).exists(),
            "an unfinished write is removed at load, never read"
        );
        remove(&dir, "default", "hello").unwrap();
        assert_eq!(load(&dir).unwrap().len(), 0, "a removed Service is gone");
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn names_that_are_not_plain_file_names_never_become_paths() {
        let dir = StateDir::new("/state");
        for (namespace, name) in [
            ("../../x", "a"),
            ("a/b", "c"),
            ("default", "../x"),
            ("", "a"),
        ] {
            let error = path(&dir, namespace, name).expect_err("an unsafe name is refused");
            assert!(
                matches!(error, PersistError::UnsafeName { .. }),
                "{namespace}/{name}: {error}"
            );
        }
        assert_eq!(
            path(&dir, "default", "hello").unwrap(),
            Path::new("/state/services/default/hello.json")
        );
    }
}
