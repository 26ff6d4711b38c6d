//! `config-domain`: which domain a route's host is under (§1.7).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::InvalidConfig;
use crate::api::{is_dns1123_subdomain, is_visibility_cluster_local};

/// `config-domain`: each key is a domain, each value an optional label selector.
///
/// A route takes the domain whose selector matches its labels with the most labels
/// (ties: the lexicographically smallest domain); an entry without selector is the
/// default. With no default entry, the default is `svc.<cluster-domain>`, which makes
/// routes cluster-local. `Default` is that empty map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainConfig {
    /// Domain → the labels a route must carry to use it (empty: every route).
    pub domains: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Selector {
    #[serde(default)]
    selector: BTreeMap<String, String>,
}

impl DomainConfig {
    /// The config map's name.
    pub const NAME: &'static str = "config-domain";

    /// Keys are domains, so there is no fixed list; `_example` is ignored.
    pub const KEYS: &'static [&'static str] = &[];

    /// Parses every entry of the map (its keys are the domains, so it is read by
    /// iteration rather than through [`super::Lookup`]).
    pub fn from_map<K, V>(data: impl IntoIterator<Item = (K, V)>) -> Result<Self, InvalidConfig>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut domains = BTreeMap::new();
        for (key, value) in data {
            let (domain, raw) = (key.as_ref().trim(), value.as_ref());
            if domain.starts_with('_') {
                continue;
            }
            let invalid = |rule: String| InvalidConfig {
                map: Self::NAME,
                key: domain.to_owned(),
                value: raw.to_owned(),
                rule,
            };
            if !is_dns1123_subdomain(domain) {
                return Err(invalid(
                    "the key must be a domain name (a DNS-1123 subdomain)".to_owned(),
                ));
            }
            let selector = if raw.trim().is_empty() {
                BTreeMap::new()
            } else {
                serde_yaml_ng::from_str::<Option<Selector>>(raw)
                    .map_err(|e| invalid(format!("must be empty or `selector:` with labels: {e}")))?
                    .map(|s| s.selector)
                    .unwrap_or_default()
            };
            domains.insert(domain.to_owned(), selector);
        }
        Ok(Self { domains })
    }

    /// The domain for a route with `labels` in a cluster whose DNS suffix is
    /// `cluster_domain` (§1.7).
    pub fn domain_for(&self, labels: &BTreeMap<String, String>, cluster_domain: &str) -> String {
        let local = format!("svc.{cluster_domain}");
        if is_visibility_cluster_local(labels) {
            return local;
        }
        let mut best: Option<(&str, usize)> = None;
        let has_default = self.domains.values().any(BTreeMap::is_empty);
        let no_selector = BTreeMap::new();
        let implicit_default = (!has_default).then_some((local.as_str(), &no_selector));
        let entries = self
            .domains
            .iter()
            .map(|(d, s)| (d.as_str(), s))
            .chain(implicit_default);
        for (domain, selector) in entries {
            if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                continue;
            }
            let better = match best {
                None => true,
                Some((b, n)) => selector.len() > n || (selector.len() == n && domain < b),
            };
            if better {
                best = Some((domain, selector.len()));
            }
        }
        best.map_or(local.clone(), |(d, _)| d.to_owned())
    }

    /// Whether a route under `domain` is cluster-local (`svc.<cluster-domain>`).
    pub fn is_cluster_local_domain(domain: &str, cluster_domain: &str) -> bool {
        domain.strip_prefix("svc.") == Some(cluster_domain)
    }
}
