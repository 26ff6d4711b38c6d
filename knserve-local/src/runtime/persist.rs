//! Applied Services on disk, so a restarted server serves what it served before.
//!
//! Each Service's objects — the Service as applied, its Configuration, Revisions and
//! Route — are one JSON file, `services/<namespace>/<name>.json`, written whole to a
//! temporary file and renamed over the old one, so a crash never leaves half a file.
//! Statuses are recomputed after a restart; revision names and generations carry on.

use std::{fs, path::PathBuf};

use knserve_core::reconcile::ServiceSet;
use tracing::warn;

use crate::state::StateDir;

fn path(dir: &StateDir, namespace: &str, name: &str) -> PathBuf {
    dir.services_dir()
        .join(namespace)
        .join(format!("{name}.json"))
}

/// Writes `set`; a failure is logged (the Service keeps running).
pub(super) fn save(dir: &StateDir, set: &ServiceSet) {
    let meta = &set.service.metadata;
    let file = path(dir, meta.namespace(), meta.name());
    let result = (|| {
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent)?;
        }
        let json = serde_json::to_vec_pretty(set).map_err(std::io::Error::other)?;
        let temporary = file.with_extension("json.tmp");
        fs::write(&temporary, json)?;
        fs::rename(&temporary, &file)
    })();
    if let Err(e) = result {
        warn!(file = %file.display(), error = %e, "could not save the Service");
    }
}

/// Removes a deleted Service's file.
pub(super) fn remove(dir: &StateDir, namespace: &str, name: &str) {
    let file = path(dir, namespace, name);
    if let Err(e) = fs::remove_file(&file) {
        warn!(file = %file.display(), error = %e, "could not remove the Service's file");
    }
}

/// Every saved Service; unreadable files are reported and skipped.
pub(super) fn load(dir: &StateDir) -> Vec<ServiceSet> {
    let mut sets = Vec::new();
    let Ok(namespaces) = fs::read_dir(dir.services_dir()) else {
        return sets;
    };
    for namespace in namespaces.flatten() {
        let Ok(files) = fs::read_dir(namespace.path()) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let parsed = fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    serde_json::from_slice::<ServiceSet>(&bytes).map_err(|e| e.to_string())
                });
            match parsed {
                Ok(set) => sets.push(set),
                Err(error) => {
                    warn!(file = %path.display(), %error, "skipping an unreadable saved Service")
                }
            }
        }
    }
    sets
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
    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_316_645), "2026-11-22T03:04:05Z");
    }
}
