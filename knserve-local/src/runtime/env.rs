//! ConfigMaps and Secrets applied to the server, which revisions' `env[].valueFrom`
//! and `envFrom` read when an instance is created.
//!
//! They are kept in one file, `env-objects.json`, written as the Services' files are
//! (temporary file, fsync, rename, directory fsync) and with mode 0600 since it holds
//! Secrets. The admin API never lists them, so `get` and `describe` cannot print a
//! Secret.

use std::{collections::BTreeMap, fs, io};

use knserve_core::api::{EnvObject, EnvStore, is_dns1123_label, is_dns1123_subdomain};
use serde_json::Value;

use super::persist::PersistError;
use crate::{
    admin::Applied,
    state::{StateDir, write_private},
};

const FILE: &str = "env-objects.json";
const TEMPORARY: &str = "env-objects.json.tmp";

/// `(kind, namespace, name)`.
type Key = (&'static str, String, String);

/// Every applied ConfigMap and Secret, and the values a container's environment reads.
#[derive(Debug, Clone, Default)]
pub(super) struct EnvObjects {
    objects: BTreeMap<Key, EnvObject>,
    store: EnvStore,
}

impl EnvObjects {
    /// The values, by namespace and name.
    pub fn store(&self) -> &EnvStore {
        &self.store
    }

    /// These objects with `incoming` applied over them (namespace defaulted to
    /// `default`), and what happened to each; errors name the document and the rule.
    pub fn with(
        &self,
        incoming: Vec<EnvObject>,
        dry_run: bool,
    ) -> Result<(Self, Vec<Applied>), Vec<String>> {
        let mut next = self.clone();
        let mut results = Vec::new();
        let mut errors = Vec::new();
        for mut object in incoming {
            let meta = match &mut object {
                EnvObject::ConfigMap(c) => &mut c.metadata,
                EnvObject::Secret(s) => &mut s.metadata,
            };
            if meta.namespace.is_none() {
                meta.namespace = Some("default".to_owned());
            }
            let (namespace, name) = (meta.namespace().to_owned(), meta.name().to_owned());
            let label = format!("{} {namespace}/{name}", object.kind());
            if !is_dns1123_label(&namespace) {
                errors.push(format!(
                    "{label}: metadata.namespace: must be a DNS-1123 label"
                ));
            }
            if !is_dns1123_subdomain(&name) {
                errors.push(format!(
                    "{label}: metadata.name: must be a DNS-1123 subdomain"
                ));
            }
            let key = (object.kind(), namespace.clone(), name.clone());
            let action = match next.objects.get(&key) {
                _ if dry_run => "valid",
                None => "created",
                Some(old) if *old == object => "unchanged",
                Some(_) => "configured",
            };
            results.push(Applied {
                kind: object.kind().to_owned(),
                namespace,
                name,
                action: action.to_owned(),
                warnings: Vec::new(),
            });
            next.objects.insert(key, object);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        next.rebuild();
        Ok((next, results))
    }

    fn rebuild(&mut self) {
        let mut store = EnvStore::default();
        for ((_, namespace, name), object) in &self.objects {
            let key = (namespace.clone(), name.clone());
            match object {
                EnvObject::ConfigMap(c) => {
                    store.config_maps.insert(key, c.data.clone());
                }
                EnvObject::Secret(s) => {
                    // Checked when decoded: every value is base64.
                    store.secrets.insert(key, s.values().unwrap_or_default());
                }
            }
        }
        self.store = store;
    }

    /// Writes every object to the state directory, owner-only; durable on return.
    pub fn save(&self, dir: &StateDir) -> Result<(), PersistError> {
        let items: Vec<Value> = self
            .objects
            .values()
            .map(|object| match object {
                EnvObject::ConfigMap(c) => serde_json::to_value(c),
                EnvObject::Secret(s) => serde_json::to_value(s),
            })
            .collect::<Result<_, _>>()
            .map_err(|e| write_error(dir, io::Error::other(e)))?;
        let json = serde_json::to_vec_pretty(&serde_json::json!({ "items": items }))
            .map_err(|e| write_error(dir, io::Error::other(e)))?;
        let temporary = dir.root().join(TEMPORARY);
        let written = write_private(&temporary, &json)
            .and_then(|()| fs::rename(&temporary, dir.root().join(FILE)))
            .and_then(|()| fs::File::open(dir.root())?.sync_all());
        written.map_err(|cause| {
            let _ = fs::remove_file(&temporary);
            write_error(dir, cause)
        })
    }

    /// The saved objects; none if nothing was ever saved. A file that cannot be read
    /// or decoded is an error naming it.
    pub fn load(dir: &StateDir) -> Result<Self, PersistError> {
        let path = dir.root().join(FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(cause) => return Err(PersistError::Read { path, cause }),
        };
        let corrupt = |problem: String| PersistError::Corrupt {
            path: path.clone(),
            problem,
        };
        let doc: Value =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("not valid JSON: {e}")))?;
        let items = doc["items"].as_array().cloned().unwrap_or_default();
        let objects = items
            .into_iter()
            .map(EnvObject::from_json)
            .collect::<Result<Vec<_>, _>>()
            .map_err(corrupt)?;
        let (loaded, _) = Self::default()
            .with(objects, false)
            .map_err(|e| corrupt(e.join("; ")))?;
        Ok(loaded)
    }
}

fn write_error(dir: &StateDir, cause: io::Error) -> PersistError {
    PersistError::Write {
        path: dir.root().join(FILE),
        cause,
    }
}
