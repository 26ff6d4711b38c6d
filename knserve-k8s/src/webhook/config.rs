//! The cluster settings reviews read, from Knative's ConfigMaps in the system namespace.
//!
//! Choice: a value that breaks its rule keeps the previous settings of that map (and is
//! logged with the key and rule); a deleted map falls back to Knative's defaults.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio::sync::watch;
use tracing::{debug, warn};

use knserve_core::api::ValidationConfig;
use knserve_core::config::{AutoscalerConfig, DefaultsConfig, FeaturesConfig, InvalidConfig};

/// The ConfigMaps the webhook reads.
pub const CONFIG_MAPS: [&str; 3] = [
    AutoscalerConfig::NAME,
    DefaultsConfig::NAME,
    FeaturesConfig::NAME,
];

/// `current` with ConfigMap `name`'s `data` applied (`None`: the map was deleted, its
/// defaults apply). `Ok(None)` when the webhook does not read `name`; `Err` names the
/// key and rule of a bad value, and the caller keeps `current`.
pub fn apply_config_map(
    current: &ValidationConfig,
    name: &str,
    data: Option<&BTreeMap<String, String>>,
) -> Result<Option<ValidationConfig>, InvalidConfig> {
    let empty = BTreeMap::new();
    let data = data.unwrap_or(&empty);
    let mut next = current.clone();
    match name {
        AutoscalerConfig::NAME => next.autoscaler = AutoscalerConfig::from_map(data)?,
        DefaultsConfig::NAME => next.defaults = DefaultsConfig::from_map(data)?,
        FeaturesConfig::NAME => next.features = FeaturesConfig::from_map(data)?,
        _ => return Ok(None),
    }
    Ok(Some(next))
}

/// Applies one map to the shared settings; a bad value is logged and ignored.
pub fn update(
    sender: &watch::Sender<ValidationConfig>,
    name: &str,
    data: Option<&BTreeMap<String, String>>,
) {
    sender.send_if_modified(|config| match apply_config_map(config, name, data) {
        Ok(Some(next)) if next != *config => {
            debug!(map = name, "webhook settings changed");
            *config = next;
            true
        }
        Ok(_) => false,
        Err(invalid) => {
            warn!(
                map = invalid.map,
                key = %invalid.key,
                value = %invalid.value,
                rule = %invalid.rule,
                "invalid config map value; keeping the previous settings"
            );
            false
        }
    });
}

/// Reads the maps once, for settings in force before the watch has delivered them.
pub async fn load_config(client: &Client, namespace: &str) -> ValidationConfig {
    let (sender, _receiver) = watch::channel(ValidationConfig::default());
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    for name in CONFIG_MAPS {
        match api.get_opt(name).await {
            Ok(map) => update(&sender, name, map.and_then(|m| m.data).as_ref()),
            Err(error) => warn!(map = name, %error, "reading config map failed"),
        }
    }
    sender.borrow().clone()
}

/// Watches the system namespace's ConfigMaps forever, publishing settings to `sender`.
pub async fn watch_config(
    client: Client,
    namespace: String,
    sender: watch::Sender<ValidationConfig>,
) {
    let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
    let mut events = watcher(api).default_backoff().boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Apply(map) | Event::InitApply(map)) => {
                update(&sender, &name_of(&map), map.data.as_ref());
            }
            Ok(Event::Delete(map)) => update(&sender, &name_of(&map), None),
            Ok(Event::Init | Event::InitDone) => {}
            Err(error) => warn!(%error, "config map watch failed"),
        }
    }
}

fn watcher(
    api: Api<ConfigMap>,
) -> impl futures_util::Stream<Item = watcher::Result<Event<ConfigMap>>> {
    watcher::watcher(api, watcher::Config::default())
}

fn name_of(map: &ConfigMap) -> String {
    map.metadata.name.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_valid_map_replaces_its_part_of_the_settings() {
        let (sender, receiver) = watch::channel(ValidationConfig::default());
        update(
            &sender,
            DefaultsConfig::NAME,
            Some(&data(&[("revision-timeout-seconds", "120")])),
        );
        let expected = DefaultsConfig::from_map(&data(&[("revision-timeout-seconds", "120")]))
            .expect("a valid map");
        assert_eq!(
            receiver.borrow().defaults,
            expected,
            "config-defaults is read"
        );
        assert_ne!(
            expected,
            DefaultsConfig::default(),
            "the test changes something"
        );
    }

    #[test]
    fn a_bad_value_keeps_the_previous_settings() {
        let (sender, receiver) = watch::channel(ValidationConfig::default());
        let good = data(&[("revision-timeout-seconds", "120")]);
        update(&sender, DefaultsConfig::NAME, Some(&good));
        let before = receiver.borrow().clone();
        let bad = data(&[("revision-timeout-seconds", "soon")]);
        assert!(
            apply_config_map(&before, DefaultsConfig::NAME, Some(&bad)).is_err(),
            "the bad value breaks a rule"
        );
        update(&sender, DefaultsConfig::NAME, Some(&bad));
        assert_eq!(*receiver.borrow(), before, "a bad value changes nothing");
    }

    #[test]
    fn a_deleted_map_restores_defaults_and_other_maps_are_ignored() {
        let (sender, receiver) = watch::channel(ValidationConfig::default());
        update(
            &sender,
            DefaultsConfig::NAME,
            Some(&data(&[("revision-timeout-seconds", "120")])),
        );
        update(&sender, DefaultsConfig::NAME, None);
        assert_eq!(
            *receiver.borrow(),
            ValidationConfig::default(),
            "deletion restores defaults"
        );
        let unrelated = apply_config_map(&ValidationConfig::default(), "config-network", None);
        assert_eq!(
            unrelated,
            Ok(None),
            "maps the webhook does not read are skipped"
        );
    }
}
