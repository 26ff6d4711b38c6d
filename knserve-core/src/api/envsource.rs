//! Where a container's environment comes from: `env` (literal values, `$(VAR)`
//! expanded, or `valueFrom` a ConfigMap or Secret key) and `envFrom` (every key of a
//! ConfigMap or Secret), resolved as the kubelet resolves them when it creates the
//! container.
//!
//! - `envFrom` entries come first, in order, each key with the entry's `prefix`; a key
//!   that is not a valid variable name is skipped (the kubelet reports it in an event).
//!   Their values are taken literally.
//! - `env` entries follow, in order: a `value` is expanded against the variables before
//!   it ([`expansion`](super::expansion)); a `valueFrom` key is taken literally.
//! - A missing object or key fails the container with [`CONFIG_ERROR_REASON`] and the
//!   kubelet's message, unless the reference is `optional: true`, in which case it is
//!   skipped. `fieldRef` and `resourceFieldRef` have nothing to read outside a pod and
//!   leave the variable unset.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::container::Container;
use super::expansion::{self, EnvValue};
use super::meta::ObjectMeta;

/// The container state reason the kubelet reports when a referenced ConfigMap or
/// Secret (or one of their keys) is missing.
pub const CONFIG_ERROR_REASON: &str = "CreateContainerConfigError";

/// A `v1` ConfigMap, as applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMap {
    /// `v1`.
    pub api_version: String,
    /// `ConfigMap`.
    pub kind: String,
    /// Name and namespace.
    pub metadata: ObjectMeta,
    /// String values (the ones environment variables read).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Base64 values, kept but not read into variables (as on a node).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub binary_data: BTreeMap<String, String>,
    /// Whether the data may change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

/// A `v1` Secret, as applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Secret {
    /// `v1`.
    pub api_version: String,
    /// `Secret`.
    pub kind: String,
    /// Name and namespace.
    pub metadata: ObjectMeta,
    /// Base64-encoded values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Plain values, merged over `data` (a key in both takes this value).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub string_data: BTreeMap<String, String>,
    /// `Opaque` by default.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Whether the data may change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

impl ConfigMap {
    /// The kind.
    pub const KIND: &'static str = "ConfigMap";
}

impl Secret {
    /// The kind.
    pub const KIND: &'static str = "Secret";

    /// The values: `data` decoded from base64 (as text, invalid UTF-8 replaced), then
    /// `stringData` over them. Errors name the key that is not base64.
    pub fn values(&self) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        for (key, encoded) in &self.data {
            let bytes = super::decode::base64_std(encoded)
                .ok_or_else(|| format!("data.{key}: must be base64-encoded (RFC 4648)"))?;
            out.insert(key.clone(), String::from_utf8_lossy(&bytes).into_owned());
        }
        out.extend(self.string_data.clone());
        Ok(out)
    }
}

/// A `v1` object a container's environment can read.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvObject {
    /// A ConfigMap.
    ConfigMap(ConfigMap),
    /// A Secret.
    Secret(Secret),
}

impl EnvObject {
    /// `v1`.
    pub const API_VERSION: &'static str = "v1";

    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ConfigMap(_) => ConfigMap::KIND,
            Self::Secret(_) => Secret::KIND,
        }
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Self::ConfigMap(c) => &c.metadata,
            Self::Secret(s) => &s.metadata,
        }
    }

    /// Whether a document names a kind of this type (`apiVersion: v1`, `kind`
    /// ConfigMap or Secret).
    pub fn is_env_object(doc: &Value) -> bool {
        doc.get("apiVersion").and_then(Value::as_str) == Some(Self::API_VERSION)
            && matches!(
                doc.get("kind").and_then(Value::as_str),
                Some(ConfigMap::KIND | Secret::KIND)
            )
    }

    /// Decodes a document [`is_env_object`](Self::is_env_object) accepted; an unknown
    /// field or a Secret value that is not base64 is an error.
    pub fn from_json(doc: Value) -> Result<Self, String> {
        let object = if doc.get("kind").and_then(Value::as_str) == Some(Secret::KIND) {
            let secret: Secret = serde_json::from_value(doc).map_err(|e| e.to_string())?;
            secret.values()?;
            Self::Secret(secret)
        } else {
            Self::ConfigMap(serde_json::from_value(doc).map_err(|e| e.to_string())?)
        };
        if object.metadata().name().is_empty() {
            return Err("metadata.name: is required".to_owned());
        }
        Ok(object)
    }
}

/// The ConfigMaps' and Secrets' values, by `(namespace, name)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvStore {
    /// ConfigMap `data`.
    pub config_maps: BTreeMap<(String, String), BTreeMap<String, String>>,
    /// Secret values, decoded.
    pub secrets: BTreeMap<(String, String), BTreeMap<String, String>>,
}

/// Why a container cannot be created: the kubelet's message for a missing object or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MissingEnvSource {
    /// A ConfigMap or Secret that does not exist.
    #[error("{kind} {name:?} not found")]
    Object {
        /// `configmap` or `secret`, as the kubelet writes it.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A key the object does not have.
    #[error("couldn't find key {key} in {kind} {namespace}/{name}")]
    Key {
        /// The key.
        key: String,
        /// `ConfigMap` or `Secret`.
        kind: &'static str,
        /// The namespace.
        namespace: String,
        /// The object's name.
        name: String,
    },
}

/// What a reference reads: a ConfigMap or a Secret.
#[derive(Clone, Copy)]
enum Source {
    ConfigMap,
    Secret,
}

impl Source {
    fn object_word(self) -> &'static str {
        match self {
            Self::ConfigMap => "configmap",
            Self::Secret => "secret",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Self::ConfigMap => ConfigMap::KIND,
            Self::Secret => Secret::KIND,
        }
    }
}

impl EnvStore {
    fn object(
        &self,
        source: Source,
        namespace: &str,
        name: &str,
    ) -> Option<&BTreeMap<String, String>> {
        let key = (namespace.to_owned(), name.to_owned());
        match source {
            Source::ConfigMap => self.config_maps.get(&key),
            Source::Secret => self.secrets.get(&key),
        }
    }

    /// `container`'s environment in `namespace` (see the module doc), without the
    /// variables the platform adds.
    pub fn resolve(
        &self,
        namespace: &str,
        container: &Container,
    ) -> Result<Vec<(String, String)>, MissingEnvSource> {
        let mut defined = Vec::new();
        for entry in &container.env_from {
            defined.extend(self.env_from(namespace, entry)?);
        }
        let mut declared = Vec::new();
        for var in &container.env {
            let value = match (&var.value, &var.value_from) {
                (Some(value), _) if !value.is_empty() => EnvValue::Expand(value.clone()),
                (_, Some(from)) => match self.value_from(namespace, from)? {
                    Some(value) => EnvValue::Keep(value),
                    None => continue,
                },
                _ => EnvValue::Keep(String::new()),
            };
            declared.push((var.name.clone(), value));
        }
        Ok(expansion::expand_env(defined, declared))
    }

    fn env_from(
        &self,
        namespace: &str,
        entry: &Value,
    ) -> Result<Vec<(String, String)>, MissingEnvSource> {
        let prefix = entry.get("prefix").and_then(Value::as_str).unwrap_or("");
        let (source, reference) = match (entry.get("configMapRef"), entry.get("secretRef")) {
            (Some(r), _) => (Source::ConfigMap, r),
            (None, Some(r)) => (Source::Secret, r),
            (None, None) => return Ok(Vec::new()),
        };
        let Some(values) = self.lookup(source, namespace, reference)? else {
            return Ok(Vec::new());
        };
        Ok(values
            .iter()
            .map(|(key, value)| (format!("{prefix}{key}"), value))
            .filter(|(name, _)| is_env_var_name(name))
            .map(|(name, value)| (name, value.clone()))
            .collect())
    }

    /// A `valueFrom`'s value; `None` when an optional reference is missing or the
    /// source is not one a local process can read.
    fn value_from(
        &self,
        namespace: &str,
        from: &Value,
    ) -> Result<Option<String>, MissingEnvSource> {
        let (source, reference) = match (from.get("configMapKeyRef"), from.get("secretKeyRef")) {
            (Some(r), _) => (Source::ConfigMap, r),
            (None, Some(r)) => (Source::Secret, r),
            (None, None) => return Ok(None),
        };
        let Some(values) = self.lookup(source, namespace, reference)? else {
            return Ok(None);
        };
        let key = reference.get("key").and_then(Value::as_str).unwrap_or("");
        match values.get(key) {
            Some(value) => Ok(Some(value.clone())),
            None if is_optional(reference) => Ok(None),
            None => Err(MissingEnvSource::Key {
                key: key.to_owned(),
                kind: source.kind(),
                namespace: namespace.to_owned(),
                name: name_of(reference).to_owned(),
            }),
        }
    }

    /// The object a reference names; `None` when it is missing and optional.
    fn lookup(
        &self,
        source: Source,
        namespace: &str,
        reference: &Value,
    ) -> Result<Option<&BTreeMap<String, String>>, MissingEnvSource> {
        let name = name_of(reference);
        match self.object(source, namespace, name) {
            Some(values) => Ok(Some(values)),
            None if is_optional(reference) => Ok(None),
            None => Err(MissingEnvSource::Object {
                kind: source.object_word(),
                name: name.to_owned(),
            }),
        }
    }
}

fn name_of(reference: &Value) -> &str {
    reference.get("name").and_then(Value::as_str).unwrap_or("")
}

fn is_optional(reference: &Value) -> bool {
    reference.get("optional").and_then(Value::as_bool) == Some(true)
}

/// Kubernetes' rule for a variable name taken from `envFrom`: printable ASCII but `=`,
/// and not empty.
fn is_env_var_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'=')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::EnvVar;

    fn store() -> EnvStore {
        let mut store = EnvStore::default();
        let values = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let key = |name: &str| ("default".to_owned(), name.to_owned());
        store.config_maps.insert(
            key("settings"),
            values(&[("mode", "fast"), ("bad=key", "x"), ("ref", "$(mode)")]),
        );
        store
            .secrets
            .insert(key("creds"), values(&[("token", "s3cret")]));
        store
    }

    fn container(env: Value, env_from: Value) -> Container {
        Container {
            env: serde_json::from_value::<Vec<EnvVar>>(env).unwrap(),
            env_from: serde_json::from_value(env_from).unwrap(),
            ..Container::default()
        }
    }

    #[test]
    fn env_from_comes_first_with_its_prefix_and_env_values_read_keys_and_expand() {
        let c = container(
            serde_json::json!([
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
                {"name": "RAW", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "ref"}}},
                {"name": "URL", "value": "https://$(TOKEN)@$(CFG_mode)"},
            ]),
            serde_json::json!([{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}]),
        );
        let env = store().resolve("default", &c).unwrap();
        let expected: Vec<(String, String)> = [
            ("CFG_mode", "fast"),
            ("CFG_ref", "$(mode)"),
            ("TOKEN", "s3cret"),
            ("RAW", "$(mode)"),
            ("URL", "https://s3cret@fast"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(
            env, expected,
            "a key that is not a variable name is skipped; values from objects are not expanded"
        );
    }

    #[test]
    fn a_missing_object_or_key_names_it_as_the_kubelet_does() {
        let missing_map = container(
            serde_json::json!([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}]),
            serde_json::json!([]),
        );
        let err = store().resolve("default", &missing_map).unwrap_err();
        assert_eq!(err.to_string(), "configmap \"nope\" not found");
        let missing_key = container(
            serde_json::json!([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user"}}}]),
            serde_json::json!([]),
        );
        let err = store().resolve("default", &missing_key).unwrap_err();
        assert_eq!(
            err.to_string(),
            "couldn't find key user in Secret default/creds"
        );
        let missing_secret = container(
            serde_json::json!([]),
            serde_json::json!([{"secretRef": {"name": "gone"}}]),
        );
        let err = store().resolve("default", &missing_secret).unwrap_err();
        assert_eq!(err.to_string(), "secret \"gone\" not found");
    }

    #[test]
    fn optional_references_that_are_missing_are_skipped() {
        let c = container(
            serde_json::json!([
                {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": true}}},
                {"name": "B", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user", "optional": true}}},
                {"name": "C", "value": "$(A)$(B)"},
            ]),
            serde_json::json!([{"secretRef": {"name": "gone", "optional": true}}]),
        );
        let env = store().resolve("other-namespace", &c).unwrap();
        assert_eq!(env, vec![("C".to_owned(), "$(A)$(B)".to_owned())]);
    }

    #[test]
    fn secret_data_is_base64_and_string_data_wins() {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"a": "aGVsbG8=", "b": "d29ybGQ="},
            "stringData": {"b": "plain"},
        }))
        .unwrap();
        let values = secret.values().unwrap();
        assert_eq!(values["a"], "hello");
        assert_eq!(values["b"], "plain");
        for invalid in ["not base64!", "YQ"] {
            let bad = Secret {
                data: [("k".to_owned(), invalid.to_owned())].into(),
                ..secret.clone()
            };
            assert_eq!(
                bad.values().unwrap_err(),
                "data.k: must be base64-encoded (RFC 4648)",
                "{invalid:?} is refused, as the API server refuses it (padding included)"
            );
        }
    }

    #[test]
    fn only_v1_config_maps_and_secrets_are_env_objects_and_unknown_fields_are_refused() {
        let doc = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"}, "data": {"k": "v"}});
        assert!(EnvObject::is_env_object(&doc));
        let object = EnvObject::from_json(doc).unwrap();
        assert_eq!(object.kind(), "ConfigMap");
        let service =
            serde_json::json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service"});
        assert!(!EnvObject::is_env_object(&service));
        let typo = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "m"}, "dta": {}});
        let err = EnvObject::from_json(typo).unwrap_err();
        assert!(err.contains("unknown field `dta`"), "{err}");
    }
}
