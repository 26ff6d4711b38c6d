//! `knserve serve --config FILE`: the server's configuration, in Knative's config-map
//! keys.
//!
//! The file is YAML in either of two shapes, and may mix them across documents:
//!
//! ```yaml
//! # A mapping from config-map name to its data…
//! config-autoscaler:
//!   stable-window: "6s"
//! config-domain:
//!   example.com: ""
//! ---
//! # …or the ConfigMaps themselves, as `kubectl get cm -o yaml` prints them.
//! apiVersion: v1
//! kind: ConfigMap
//! metadata: { name: config-features }
//! data: { tag-header-based-routing: enabled }
//! ```
//!
//! Maps: `config-autoscaler`, `config-defaults`, `config-deployment` (only
//! `progress-deadline`; see [`DeploymentConfig`]), `config-domain`, `config-features`,
//! `config-gc` (revision garbage collection, see [`GcConfig`]), `config-network`,
//! `config-observability` (its tracing keys, see [`ObservabilityConfig`] and
//! [`knserve_core::trace`]), and `knserve` for what only the local backend has (see
//! [`LocalConfig`]). Every value defaults to Knative's, with one deliberate
//! difference: with no `config-domain`, routes get the domain `example.com` (Knative's
//! historical default) rather than the cluster-local `svc.cluster.local`, since a
//! machine without a cluster has no cluster-local network to keep them on.

use std::{collections::BTreeMap, path::Path, time::Duration};

use knserve_core::{
    activator::throttler::ThrottlerConfig,
    api::{RoutingConfig, ValidationConfig},
    autoscaler::DEFAULT_PROGRESS_DEADLINE,
    config::{
        AutoscalerConfig, DefaultsConfig, DomainConfig, FeaturesConfig, GcConfig, InvalidConfig,
        NetworkConfig, ObservabilityConfig, Parser,
    },
};

/// The domain routes get when the file sets no `config-domain`.
pub const LOCAL_DEFAULT_DOMAIN: &str = "example.com";

/// Settings of the local backend alone: the `knserve` map.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalConfig {
    /// `restart-initial-backoff`: the first wait before restarting a crashed instance
    /// (doubling up to `restart-max-backoff`). Default 1 s.
    pub restart_initial_backoff: Duration,
    /// `restart-max-backoff`. Default 30 s.
    pub restart_max_backoff: Duration,
    /// `crash-loop-failures`: consecutive failed starts after which the revision is
    /// failed and requests waiting for it get 503 with the reason. Default 3.
    pub crash_loop_failures: u32,
    /// `activator-max-waiting-bytes`: request-body bytes the requests waiting in the
    /// activator for one revision may hold in total (declared by `Content-Length`, or
    /// read from a chunked body while waiting); a request past it gets 503. At least
    /// 1. Default 64 MiB.
    pub activator_max_waiting_bytes: u64,
    /// `activator-max-waiting`: requests that may wait in the activator for one
    /// revision's capacity; the next one gets 503 `pending request queue full`. At
    /// least 1. Default 10000, the queue depth of Knative's activator breaker.
    pub activator_max_waiting: u32,
}

impl LocalConfig {
    /// The map's name.
    pub const NAME: &'static str = "knserve";
    /// Its keys.
    pub const KEYS: &'static [&'static str] = &[
        "restart-initial-backoff",
        "restart-max-backoff",
        "crash-loop-failures",
        "activator-max-waiting-bytes",
        "activator-max-waiting",
    ];

    fn from_map(data: &BTreeMap<String, String>) -> Result<Self, InvalidConfig> {
        let defaults = Self::default();
        let p = Parser::new(Self::NAME, data);
        let config = Self {
            restart_initial_backoff: p
                .duration("restart-initial-backoff", defaults.restart_initial_backoff)?,
            restart_max_backoff: p.duration("restart-max-backoff", defaults.restart_max_backoff)?,
            crash_loop_failures: p.count("crash-loop-failures", defaults.crash_loop_failures)?,
            activator_max_waiting_bytes: max_waiting_bytes(
                &p,
                defaults.activator_max_waiting_bytes,
            )?,
            activator_max_waiting: p
                .count("activator-max-waiting", defaults.activator_max_waiting)?,
        };
        if config.crash_loop_failures == 0 {
            return Err(p.invalid("crash-loop-failures", "0", "must be at least 1"));
        }
        if config.activator_max_waiting == 0 {
            return Err(p.invalid("activator-max-waiting", "0", "must be at least 1"));
        }
        Ok(config)
    }

    /// The activator throttler's bounds these settings give.
    pub fn throttler(&self) -> ThrottlerConfig {
        ThrottlerConfig {
            max_waiting_bytes: self.activator_max_waiting_bytes,
            max_waiting: self.activator_max_waiting,
            ..ThrottlerConfig::default()
        }
    }
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            restart_initial_backoff: Duration::from_secs(1),
            restart_max_backoff: Duration::from_secs(30),
            crash_loop_failures: 3,
            activator_max_waiting_bytes: ThrottlerConfig::default().max_waiting_bytes,
            activator_max_waiting: ThrottlerConfig::default().max_waiting,
        }
    }
}

fn max_waiting_bytes(
    p: &Parser<'_, BTreeMap<String, String>>,
    default: u64,
) -> Result<u64, InvalidConfig> {
    let key = "activator-max-waiting-bytes";
    let value = p.int(key, i64::try_from(default).unwrap_or(i64::MAX), 64)?;
    u64::try_from(value)
        .ok()
        .filter(|&bytes| bytes >= 1)
        .ok_or_else(|| p.invalid(key, p.raw(key).unwrap_or_default(), "must be at least 1"))
}

/// What the local backend reads of `config-deployment`. Its other keys (the
/// queue-proxy image and resources, digest resolution) are about Kubernetes objects
/// and are ignored here, as Knative ignores keys it does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentConfig {
    /// `progress-deadline`: how long a new revision may take to reach its initial
    /// scale before it is failed with `ProgressDeadlineExceeded`, unless its
    /// `serving.knative.dev/progress-deadline` annotation says otherwise. A positive
    /// whole number of seconds, as Knative requires. Default 600 s.
    pub progress_deadline: Duration,
}

impl DeploymentConfig {
    /// The map's name.
    pub const NAME: &'static str = "config-deployment";

    fn from_map(data: &BTreeMap<String, String>) -> Result<Self, InvalidConfig> {
        let p = Parser::new(Self::NAME, data);
        let key = "progress-deadline";
        let deadline = p.duration(key, DEFAULT_PROGRESS_DEADLINE)?;
        if deadline.is_zero() || deadline.subsec_nanos() != 0 {
            let raw = p.raw(key).unwrap_or_default();
            return Err(p.invalid(key, raw, "must be a positive whole number of seconds"));
        }
        Ok(Self {
            progress_deadline: deadline,
        })
    }
}

impl Default for DeploymentConfig {
    fn default() -> Self {
        Self {
            progress_deadline: DEFAULT_PROGRESS_DEADLINE,
        }
    }
}

/// Everything `knserve serve` is configured with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// What validation and defaulting of applied Services use.
    pub validation: ValidationConfig,
    /// Hosts and URLs.
    pub routing: RoutingConfig,
    /// The local backend's own settings.
    pub local: LocalConfig,
    /// What it reads of `config-deployment`.
    pub deployment: DeploymentConfig,
    /// When unreferenced revisions are deleted (`config-gc`).
    pub gc: GcConfig,
    /// Tracing (`config-observability`'s tracing keys).
    pub observability: ObservabilityConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self::from_maps(&BTreeMap::new()).expect("the defaults are valid")
    }
}

/// Why the configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not YAML of either accepted shape.
    #[error("{path}: {message}")]
    Shape {
        /// The file.
        path: String,
        /// What is wrong, naming the document or map.
        message: String,
    },
    /// A value breaks its key's rule.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: String,
        /// The key, value and rule.
        #[source]
        source: InvalidConfig,
    },
}

type Maps = BTreeMap<String, BTreeMap<String, String>>;

const MAP_NAMES: [&str; 9] = [
    AutoscalerConfig::NAME,
    DefaultsConfig::NAME,
    DeploymentConfig::NAME,
    DomainConfig::NAME,
    FeaturesConfig::NAME,
    GcConfig::NAME,
    NetworkConfig::NAME,
    ObservabilityConfig::NAME,
    LocalConfig::NAME,
];

impl ServerConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            ConfigError::Shape { message, .. } => ConfigError::Shape {
                path: shown.clone(),
                message,
            },
            ConfigError::Invalid { source, .. } => ConfigError::Invalid {
                path: shown.clone(),
                source,
            },
            other => other,
        })
    }

    /// Parses the file's text (see the module docs for its shapes).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let shape = |message: String| ConfigError::Shape {
            path: String::new(),
            message,
        };
        let mut maps = Maps::new();
        for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let value = serde_yaml_ng::Value::deserialize_from(document)
                .map_err(|e| shape(format!("document {}: {e}", index + 1)))?;
            collect_document(index + 1, value, &mut maps).map_err(shape)?;
        }
        Self::from_maps(&maps).map_err(|source| ConfigError::Invalid {
            path: String::new(),
            source,
        })
    }

    fn from_maps(maps: &Maps) -> Result<Self, InvalidConfig> {
        let empty = BTreeMap::new();
        let map = |name: &str| maps.get(name).unwrap_or(&empty);
        let autoscaler = AutoscalerConfig::from_map(map(AutoscalerConfig::NAME))?;
        autoscaler.validate()?;
        let defaults = DefaultsConfig::from_map(map(DefaultsConfig::NAME))?;
        defaults.validate()?;
        let features = FeaturesConfig::from_map(map(FeaturesConfig::NAME))?;
        let network = NetworkConfig::from_map(map(NetworkConfig::NAME))?;
        network.validate()?;
        let domain = match maps.get(DomainConfig::NAME) {
            Some(data) => DomainConfig::from_map(data)?,
            None => DomainConfig::from_map([(LOCAL_DEFAULT_DOMAIN, "")])?,
        };
        Ok(Self {
            validation: ValidationConfig {
                autoscaler,
                defaults,
                features,
            },
            routing: RoutingConfig { network, domain },
            local: LocalConfig::from_map(map(LocalConfig::NAME))?,
            deployment: DeploymentConfig::from_map(map(DeploymentConfig::NAME))?,
            gc: GcConfig::from_map(map(GcConfig::NAME))?,
            observability: ObservabilityConfig::from_map(map(ObservabilityConfig::NAME))?,
        })
    }
}

trait DeserializeFrom: Sized {
    fn deserialize_from(de: serde_yaml_ng::Deserializer<'_>) -> Result<Self, serde_yaml_ng::Error>;
}

impl DeserializeFrom for serde_yaml_ng::Value {
    fn deserialize_from(de: serde_yaml_ng::Deserializer<'_>) -> Result<Self, serde_yaml_ng::Error> {
        serde::Deserialize::deserialize(de)
    }
}

/// Adds one document's maps: a ConfigMap, or a mapping of map names to data.
fn collect_document(
    index: usize,
    value: serde_yaml_ng::Value,
    maps: &mut Maps,
) -> Result<(), String> {
    use serde_yaml_ng::Value;
    let Value::Mapping(mapping) = value else {
        return match value {
            Value::Null => Ok(()),
            _ => Err(format!("document {index}: must be a mapping")),
        };
    };
    if mapping.get("kind").and_then(Value::as_str) == Some("ConfigMap") {
        let name = mapping
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("document {index}: a ConfigMap needs metadata.name"))?;
        let data = mapping.get("data").cloned().unwrap_or(Value::Null);
        return add_map(maps, name, data, &format!("document {index} ({name}).data"));
    }
    for (name, data) in mapping {
        let name = name
            .as_str()
            .ok_or_else(|| format!("document {index}: keys must be config-map names"))?;
        add_map(maps, name, data, &format!("document {index}: {name}"))?;
    }
    Ok(())
}

fn add_map(
    maps: &mut Maps,
    name: &str,
    data: serde_yaml_ng::Value,
    at: &str,
) -> Result<(), String> {
    use serde_yaml_ng::Value;
    if !MAP_NAMES.contains(&name) {
        return Err(format!(
            "{at}: unknown config map `{name}`; expected one of {}",
            MAP_NAMES.join(", ")
        ));
    }
    let entries = match data {
        Value::Null => return Ok(()),
        Value::Mapping(entries) => entries,
        _ => return Err(format!("{at}: must be a mapping of keys to values")),
    };
    let map = maps.entry(name.to_owned()).or_default();
    for (key, value) in entries {
        let key = scalar(&key).ok_or_else(|| format!("{at}: keys must be strings"))?;
        let value = match value {
            Value::Null => String::new(),
            other => scalar(&other)
                .ok_or_else(|| format!("{at}.{key}: must be a string, number or boolean"))?,
        };
        map.insert(key, value);
    }
    Ok(())
}

fn scalar(value: &serde_yaml_ng::Value) -> Option<String> {
    use serde_yaml_ng::Value;
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_knatives_defaults_and_the_example_com_domain() {
        let config = ServerConfig::parse("").unwrap();
        assert_eq!(config.validation.autoscaler, AutoscalerConfig::default());
        assert_eq!(
            config.routing.domain.domains.keys().collect::<Vec<_>>(),
            ["example.com"],
            "local routes are public on example.com by default"
        );
        assert_eq!(config.local, LocalConfig::default());
        assert_eq!(
            config.gc,
            GcConfig::default(),
            "Knative's config-gc defaults"
        );
        assert_eq!(
            config.deployment.progress_deadline,
            Duration::from_secs(600),
            "Knative's default progress deadline"
        );
    }

    #[test]
    fn config_gc_is_read_and_checked() {
        let config = ServerConfig::parse(
            "config-gc:\n  retain-since-create-time: 1s\n  max-non-active-revisions: disabled\n",
        )
        .unwrap();
        assert_eq!(
            config.gc.retain_since_create_time,
            Some(Duration::from_secs(1))
        );
        assert_eq!(config.gc.max_non_active_revisions, None);
        let error = ServerConfig::parse("config-gc:\n  min-non-active-revisions: \"-1\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("config-gc: min-non-active-revisions"),
            "refused naming the map and key: {error}"
        );
    }

    #[test]
    fn config_deployment_sets_the_progress_deadline_in_whole_seconds() {
        let config = ServerConfig::parse(
            "config-deployment:\n  progress-deadline: 90s\n  queue-sidecar-image: ignored\n",
        )
        .unwrap();
        assert_eq!(config.deployment.progress_deadline, Duration::from_secs(90));
        for bad in ["0s", "1500ms", "-1s", "soon"] {
            let error =
                ServerConfig::parse(&format!("config-deployment:\n  progress-deadline: {bad}\n"))
                    .unwrap_err()
                    .to_string();
            assert!(
                error.contains("config-deployment") && error.contains("progress-deadline"),
                "{bad} is refused naming the map and key: {error}"
            );
        }
    }

    #[test]
    fn activator_max_waiting_bytes_bounds_the_throttler_and_must_be_positive() {
        assert_eq!(
            ServerConfig::default().local.throttler(),
            ThrottlerConfig::default(),
            "the default is the throttler's"
        );
        let config =
            ServerConfig::parse("knserve:\n  activator-max-waiting-bytes: 4096\n").unwrap();
        assert_eq!(config.local.throttler().max_waiting_bytes, 4096);
        let config = ServerConfig::parse("knserve:\n  activator-max-waiting: 20\n").unwrap();
        assert_eq!(config.local.throttler().max_waiting, 20);
        assert_eq!(
            ServerConfig::default().local.throttler().max_waiting,
            10_000
        );
        for bad in ["0", "-1", "x"] {
            let error =
                ServerConfig::parse(&format!("knserve:\n  activator-max-waiting: \"{bad}\"\n"))
                    .unwrap_err()
                    .to_string();
            assert!(
                error.contains("knserve") && error.contains("activator-max-waiting"),
                "{bad} is refused naming the map and key: {error}"
            );
        }
        for bad in ["0", "-1", "4k"] {
            let error = ServerConfig::parse(&format!(
                "knserve:\n  activator-max-waiting-bytes: \"{bad}\"\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(
                error.contains("knserve") && error.contains("activator-max-waiting-bytes"),
                "{bad} is refused naming the map and key: {error}"
            );
        }
    }

    #[test]
    fn both_shapes_are_read_and_numbers_become_strings() {
        let text = "config-autoscaler:\n  stable-window: 6s\n  panic-window-percentage: 50\n  container-concurrency-target-default: 50\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: config-domain}\ndata:\n  knserve.test: \"\"\n";
        let config = ServerConfig::parse(text).unwrap();
        assert_eq!(
            config.validation.autoscaler.stable_window,
            Duration::from_secs(6)
        );
        assert_eq!(
            config
                .validation
                .autoscaler
                .container_concurrency_target_default,
            50.0
        );
        assert_eq!(
            config.routing.domain.domains.keys().collect::<Vec<_>>(),
            ["knserve.test"]
        );
    }

    #[test]
    fn a_bad_value_names_its_map_and_key() {
        let error = ServerConfig::parse("config-autoscaler:\n  stable-window: 2s\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("config-autoscaler") && error.contains("stable-window"),
            "{error}"
        );
        let error = ServerConfig::parse("config-autoscalr: {}\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("unknown config map `config-autoscalr`"),
            "{error}"
        );
        let error = ServerConfig::parse("knserve:\n  crash-loop-failures: 0\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("crash-loop-failures"), "{error}");
    }
}
