//! The cluster's settings, from Knative's ConfigMaps in the system namespace, kept
//! current by a watch.
//!
//! A ConfigMap that fails to parse keeps the previous settings and the error is logged
//! naming the map and key; a missing ConfigMap means Knative's defaults.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use knserve_core::api::{RoutingConfig, ValidationConfig};
use knserve_core::config::{
    AutoscalerConfig, DefaultsConfig, DomainConfig, FeaturesConfig, Flag, GcConfig, InvalidConfig,
    NetworkConfig, ObservabilityConfig,
};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio::sync::watch;

use crate::desired::ingress::IngressSettings;

/// Every setting the controller reads.
#[derive(Debug, Clone, Default)]
pub struct ClusterConfig {
    /// `config-autoscaler`, `config-defaults`, `config-features`.
    pub validation: ValidationConfig,
    /// `config-network`, `config-domain`.
    pub routing: RoutingConfig,
    /// `config-deployment`, as written (the revision reconciler reads its keys).
    pub deployment: BTreeMap<String, String>,
    /// `config-network`'s ingress settings (class, templates).
    pub ingress: IngressSettings,
    /// `config-gc`: when unreferenced revisions are deleted.
    pub gc: GcConfig,
    /// `config-observability`: the queue-proxies' tracing.
    pub observability: ObservabilityConfig,
}

impl ClusterConfig {
    /// The settings from the ConfigMaps' data, by map name; absent maps are defaults.
    ///
    /// # Errors
    /// The first bad value, naming its map and key.
    pub fn from_maps(
        maps: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<Self, InvalidConfig> {
        let empty = BTreeMap::new();
        let map = |name: &str| maps.get(name).unwrap_or(&empty);
        let autoscaler = AutoscalerConfig::from_map(map(AutoscalerConfig::NAME))?;
        autoscaler.validate()?;
        let defaults = DefaultsConfig::from_map(map(DefaultsConfig::NAME))?;
        defaults.validate()?;
        let features = FeaturesConfig::from_map(map(FeaturesConfig::NAME))?;
        let tag_header_routing = features.tag_header_based_routing == Flag::Enabled;
        let network = NetworkConfig::from_map(map(NetworkConfig::NAME))?;
        network.validate()?;
        let domain = DomainConfig::from_map(map(DomainConfig::NAME))?;
        Ok(Self {
            validation: ValidationConfig {
                autoscaler,
                defaults,
                features,
            },
            routing: RoutingConfig { network, domain },
            deployment: map(DEPLOYMENT_CONFIG).clone(),
            ingress: IngressSettings {
                tag_header_routing,
                ..IngressSettings::from_map(map(NetworkConfig::NAME))?
            },
            gc: GcConfig::from_map(map(GcConfig::NAME))?,
            observability: ObservabilityConfig::from_map(map(ObservabilityConfig::NAME))?,
        })
    }
}

/// Knative's `config-deployment` ConfigMap.
pub const DEPLOYMENT_CONFIG: &str = "config-deployment";

const WATCHED: [&str; 8] = [
    AutoscalerConfig::NAME,
    DefaultsConfig::NAME,
    FeaturesConfig::NAME,
    NetworkConfig::NAME,
    DomainConfig::NAME,
    DEPLOYMENT_CONFIG,
    GcConfig::NAME,
    ObservabilityConfig::NAME,
];

/// Watches the ConfigMaps of `namespace` and publishes each valid combination.
/// Returns at once with the defaults; the first list replaces them.
pub fn watch_config(client: Client, namespace: &str) -> watch::Receiver<Arc<ClusterConfig>> {
    let (tx, rx) = watch::channel(Arc::new(ClusterConfig::default()));
    let api: Api<ConfigMap> = Api::namespaced(client, namespace);
    tokio::spawn(async move {
        let mut maps: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut pending = maps.clone();
        let events = watcher::watcher(api, watcher::Config::default()).default_backoff();
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!(error = %e, "watching ConfigMaps");
                    continue;
                }
            };
            let publish = match event {
                Event::Init => {
                    pending.clear();
                    false
                }
                Event::InitApply(cm) => {
                    record(&mut pending, &cm);
                    false
                }
                Event::InitDone => {
                    maps = std::mem::take(&mut pending);
                    true
                }
                Event::Apply(cm) => record(&mut maps, &cm),
                Event::Delete(cm) => maps
                    .remove(cm.metadata.name.as_deref().unwrap_or(""))
                    .is_some(),
            };
            if publish {
                match ClusterConfig::from_maps(&maps) {
                    Ok(config) => {
                        let _ = tx.send(Arc::new(config));
                    }
                    Err(e) => tracing::error!(error = %e, "keeping the previous settings"),
                }
            }
        }
    });
    rx
}

fn record(maps: &mut BTreeMap<String, BTreeMap<String, String>>, cm: &ConfigMap) -> bool {
    let name = cm.metadata.name.clone().unwrap_or_default();
    if !WATCHED.contains(&name.as_str()) {
        return false;
    }
    maps.insert(name, cm.data.clone().unwrap_or_default());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_config_maps_give_knatives_defaults() {
        let config = ClusterConfig::from_maps(&BTreeMap::new()).unwrap();
        assert_eq!(config.validation.defaults.revision_timeout_seconds, 300);
        assert_eq!(config.gc, GcConfig::default());
    }

    #[test]
    fn config_gc_is_read() {
        let maps = BTreeMap::from([(
            "config-gc".to_owned(),
            BTreeMap::from([
                ("min-non-active-revisions".to_owned(), "1".to_owned()),
                ("max-non-active-revisions".to_owned(), "3".to_owned()),
            ]),
        )]);
        let config = ClusterConfig::from_maps(&maps).unwrap();
        assert_eq!(config.gc.max_non_active_revisions, Some(3));
        let mut maps = maps;
        maps.get_mut("config-gc")
            .unwrap()
            .remove("min-non-active-revisions");
        let error = ClusterConfig::from_maps(&maps).unwrap_err().to_string();
        assert!(
            error.contains("config-gc: min-non-active-revisions"),
            "the default min 20 exceeds max 3: {error}"
        );
    }

    #[test]
    fn a_bad_value_names_its_map_and_key() {
        let maps = BTreeMap::from([(
            "config-autoscaler".to_owned(),
            BTreeMap::from([(
                "container-concurrency-target-default".to_owned(),
                "lots".to_owned(),
            )]),
        )]);
        let error = ClusterConfig::from_maps(&maps).unwrap_err().to_string();
        assert!(error.contains("config-autoscaler"), "{error}");
        assert!(
            error.contains("container-concurrency-target-default"),
            "{error}"
        );
    }
}
