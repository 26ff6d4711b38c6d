//! Route hosts and URLs from `config-network` and `config-domain` (§1.7).

use std::collections::BTreeMap;

use super::keys::{VISIBILITY_CLUSTER_LOCAL, VISIBILITY_LABEL, VISIBILITY_LABEL_LEGACY};
use super::meta::ObjectMeta;
use super::template::{TemplateError, TemplateValues, render_template};
use crate::config::{DEFAULT_DOMAIN_TEMPLATE, DomainConfig, NetworkConfig};

/// Whether `labels` carry `networking.knative.dev/visibility: cluster-local` (or the
/// legacy `serving.knative.dev/visibility`).
pub fn is_visibility_cluster_local(labels: &BTreeMap<String, String>) -> bool {
    [VISIBILITY_LABEL, VISIBILITY_LABEL_LEGACY]
        .iter()
        .any(|k| labels.get(*k).map(String::as_str) == Some(VISIBILITY_CLUSTER_LOCAL))
}

/// The config maps that decide a route's hosts and URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingConfig {
    /// `config-network`: templates, scheme, cluster domain.
    pub network: NetworkConfig,
    /// `config-domain`: domains by label selector.
    pub domain: DomainConfig,
}

impl RoutingConfig {
    /// The domain of a route with `route`'s labels.
    pub fn domain(&self, route: &ObjectMeta) -> String {
        self.domain
            .domain_for(&route.labels, &self.network.cluster_domain)
    }

    /// Whether the route is reachable only inside the cluster: its domain is
    /// `svc.<cluster-domain>` (by label, or because no domain is configured).
    pub fn is_cluster_local(&self, route: &ObjectMeta) -> bool {
        DomainConfig::is_cluster_local_domain(&self.domain(route), &self.network.cluster_domain)
    }

    /// The name a traffic target is addressed by: the route's name, or for a tag the
    /// tag template's result (`v1-hello`).
    pub fn traffic_name(
        &self,
        route_name: &str,
        tag: Option<&str>,
    ) -> Result<String, TemplateError> {
        match tag.filter(|t| !t.is_empty()) {
            None => Ok(route_name.to_owned()),
            Some(tag) => render_template(
                &self.network.tag_template,
                &TemplateValues {
                    name: Some(route_name),
                    tag: Some(tag),
                    ..TemplateValues::default()
                },
            ),
        }
    }

    /// The host of the route (`tag` `None`) or of one of its tags
    /// (`v1-hello.default.example.com`). Cluster-local routes use the default template
    /// under `svc.<cluster-domain>`.
    pub fn host(&self, route: &ObjectMeta, tag: Option<&str>) -> Result<String, TemplateError> {
        let name = self.traffic_name(route.name(), tag)?;
        let domain = self.domain(route);
        let template = if self.is_cluster_local(route) {
            DEFAULT_DOMAIN_TEMPLATE
        } else {
            &self.network.domain_template
        };
        render_template(
            template,
            &TemplateValues {
                name: Some(&name),
                namespace: Some(route.namespace()),
                domain: Some(&domain),
                tag: None,
                annotations: Some(&route.annotations),
                labels: Some(&route.labels),
            },
        )
    }

    /// `status.url` (or a tag's `url`): `http` for cluster-local routes, else
    /// `https` when a certificate covering the host is ready, else
    /// `default-external-scheme`.
    pub fn url(
        &self,
        route: &ObjectMeta,
        tag: Option<&str>,
        certificate_ready: bool,
    ) -> Result<String, TemplateError> {
        let host = self.host(route, tag)?;
        let scheme = if self.is_cluster_local(route) {
            "http"
        } else if certificate_ready {
            "https"
        } else {
            &self.network.default_external_scheme
        };
        Ok(format!("{scheme}://{host}"))
    }

    /// `status.address.url`: `http://<route>.<namespace>.svc.<cluster-domain>`.
    pub fn address_url(&self, route: &ObjectMeta) -> String {
        format!(
            "http://{}.{}.svc.{}",
            route.name(),
            route.namespace(),
            self.network.cluster_domain
        )
    }

    /// The in-cluster names of `name` (a route or tag name) in `namespace`:
    /// `name.ns`, `name.ns.svc`, `name.ns.svc.<cluster-domain>`.
    pub fn cluster_local_hosts(&self, name: &str, namespace: &str) -> [String; 3] {
        [
            format!("{name}.{namespace}"),
            format!("{name}.{namespace}.svc"),
            format!("{name}.{namespace}.svc.{}", self.network.cluster_domain),
        ]
    }
}
