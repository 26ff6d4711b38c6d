//! `config-network`: the routing keys knserve reads (host templates, scheme, rollout).

use std::time::Duration;

use super::{InvalidConfig, Lookup, Parser};
use crate::api::{TemplateValues, is_dns1123_label, is_dns1123_subdomain, render_template};

/// How a route answers plain HTTP (`http-protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpProtocol {
    /// `Enabled`: serve plain HTTP.
    Enabled,
    /// `Redirected`: redirect HTTP to HTTPS.
    Redirected,
}

/// The parts of `config-network` that shape routes, with Knative's defaults (`Default`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// `domain-template`: a Go template of a route's host, over `Name`, `Namespace`,
    /// `Domain`, `Annotations`, `Labels`.
    pub domain_template: String,
    /// `tag-template`: a Go template of the name a tag's host is built from, over `Tag`
    /// and `Name`.
    pub tag_template: String,
    /// `default-external-scheme`: `http` or `https`, the scheme of external URLs without TLS.
    pub default_external_scheme: String,
    /// `rollout-duration`: the default gradual-rollout duration, in whole seconds; 0 switches
    /// traffic at once.
    pub rollout_duration: Duration,
    /// `ingress-class`: the ingress implementation routes are programmed on.
    pub ingress_class: String,
    /// `http-protocol`: whether plain HTTP is served or redirected.
    pub http_protocol: HttpProtocol,
    /// `cluster-domain`: the cluster's DNS suffix. Not a Knative key: Knative reads it from
    /// the pod's `/etc/resolv.conf`; knserve takes it here so that tests and the local
    /// backend can set it.
    pub cluster_domain: String,
}

/// Knative's default domain template.
pub const DEFAULT_DOMAIN_TEMPLATE: &str = "{{.Name}}.{{.Namespace}}.{{.Domain}}";
/// Knative's default tag template.
pub const DEFAULT_TAG_TEMPLATE: &str = "{{.Tag}}-{{.Name}}";

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            domain_template: DEFAULT_DOMAIN_TEMPLATE.to_owned(),
            tag_template: DEFAULT_TAG_TEMPLATE.to_owned(),
            default_external_scheme: "http".to_owned(),
            rollout_duration: Duration::ZERO,
            ingress_class: "istio.ingress.networking.knative.dev".to_owned(),
            http_protocol: HttpProtocol::Enabled,
            cluster_domain: "cluster.local".to_owned(),
        }
    }
}

impl NetworkConfig {
    /// The config map's name.
    pub const NAME: &'static str = "config-network";

    /// Every key this struct reads (the map has more, for the ingress and TLS).
    pub const KEYS: &'static [&'static str] = &[
        "domain-template",
        "tag-template",
        "default-external-scheme",
        "rollout-duration",
        "ingress-class",
        "http-protocol",
        "cluster-domain",
    ];

    /// Parses the map, starting from Knative's defaults, and validates the result.
    pub fn from_map(data: &(impl Lookup + ?Sized)) -> Result<Self, InvalidConfig> {
        let p = Parser::new(Self::NAME, data);
        let d = Self::default();
        let rollout = match p.raw("rollout-duration") {
            None => d.rollout_duration,
            Some(raw) => raw.parse::<u64>().map(Duration::from_secs).map_err(|_| {
                p.invalid(
                    "rollout-duration",
                    raw,
                    "must be a whole, non-negative number of seconds",
                )
            })?,
        };
        let http_protocol = match p.raw("http-protocol") {
            None => d.http_protocol,
            Some(raw) if raw.eq_ignore_ascii_case("enabled") => HttpProtocol::Enabled,
            Some(raw) if raw.eq_ignore_ascii_case("redirected") => HttpProtocol::Redirected,
            Some(raw) => {
                return Err(p.invalid("http-protocol", raw, "must be Enabled or Redirected"));
            }
        };
        let config = Self {
            domain_template: p.string("domain-template", DEFAULT_DOMAIN_TEMPLATE),
            tag_template: p.string("tag-template", DEFAULT_TAG_TEMPLATE),
            default_external_scheme: p
                .string("default-external-scheme", &d.default_external_scheme)
                .to_ascii_lowercase(),
            rollout_duration: rollout,
            ingress_class: p.string("ingress-class", &d.ingress_class),
            http_protocol,
            cluster_domain: p.string("cluster-domain", &d.cluster_domain),
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks that the templates render valid names from sample values, that the scheme
    /// is `http` or `https` and that the cluster domain is a DNS subdomain.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_domain_template(&self.domain_template).map_err(|rule| {
            InvalidConfig::new(Self::NAME, "domain-template", &self.domain_template, rule)
        })?;
        check_tag_template(&self.tag_template).map_err(|rule| {
            InvalidConfig::new(Self::NAME, "tag-template", &self.tag_template, rule)
        })?;
        if !matches!(self.default_external_scheme.as_str(), "http" | "https") {
            return Err(InvalidConfig::new(
                Self::NAME,
                "default-external-scheme",
                &self.default_external_scheme,
                "must be http or https",
            ));
        }
        if self.ingress_class.is_empty() {
            return Err(InvalidConfig::new(
                Self::NAME,
                "ingress-class",
                "",
                "must not be empty",
            ));
        }
        if !is_dns1123_subdomain(&self.cluster_domain) {
            return Err(InvalidConfig::new(
                Self::NAME,
                "cluster-domain",
                &self.cluster_domain,
                "must be a DNS subdomain such as cluster.local",
            ));
        }
        Ok(())
    }
}

/// Knative renders the domain template with sample values and requires a host name
/// that keeps routes apart, so `Name` and `Namespace` must both appear.
fn check_domain_template(template: &str) -> Result<(), String> {
    let empty = Default::default();
    let values = TemplateValues {
        name: Some("sample-name"),
        namespace: Some("sample-namespace"),
        domain: Some("example.com"),
        annotations: Some(&empty),
        labels: Some(&empty),
        tag: None,
    };
    let host = render_template(template, &values).map_err(|e| e.to_string())?;
    if !is_dns1123_subdomain(&host) {
        return Err(format!("must render a valid host name, rendered {host:?}"));
    }
    if !host.contains("sample-name") || !host.contains("sample-namespace") {
        return Err("must use both {{.Name}} and {{.Namespace}}".to_owned());
    }
    Ok(())
}

fn check_tag_template(template: &str) -> Result<(), String> {
    let values = TemplateValues {
        name: Some("sample-name"),
        tag: Some("sample-tag"),
        ..TemplateValues::default()
    };
    let name = render_template(template, &values).map_err(|e| e.to_string())?;
    if !is_dns1123_label(&name) {
        return Err(format!("must render a DNS-1123 label, rendered {name:?}"));
    }
    if !name.contains("sample-name") || !name.contains("sample-tag") {
        return Err("must use both {{.Tag}} and {{.Name}}".to_owned());
    }
    Ok(())
}
