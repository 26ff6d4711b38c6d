//! `config-network`: the routing keys knserve reads (host templates, scheme, rollout).

use std::time::Duration;

use super::{InvalidConfig, Lookup, Parser};
use crate::api::{TemplateValues, is_dns1123_subdomain, render_template};

/// How a route answers plain HTTP (`http-protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpProtocol {
    /// `Enabled`: serve plain HTTP.
    Enabled,
    /// `Redirected`: redirect HTTP to HTTPS.
    Redirected,
    /// `Disabled`: no plain HTTP, only HTTPS.
    Disabled,
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

    /// Parses the map as Knative's `network.NewConfigFromMap` reads these keys: the
    /// legacy camelCase spellings (`domainTemplate`, `tagTemplate`, `rolloutDuration`,
    /// `defaultExternalScheme`, `ingress.class`, `httpProtocol`) are read and the
    /// kebab-case ones win; strings are trimmed; the other keys Knative parses are
    /// checked too (booleans, the TLS modes) though knserve does not use them.
    pub fn from_map(data: &(impl Lookup + ?Sized)) -> Result<Self, InvalidConfig> {
        let p = Parser::new(Self::NAME, data);
        let d = Self::default();
        let string =
            |legacy: &str, key: &str, default: &str| p.string(key, &p.string(legacy, default));
        let mut rollout = p.int("rolloutDuration", 0, 64)?;
        for key in [
            "autocreateClusterDomainClaims",
            "autocreate-cluster-domain-claims",
        ] {
            p.boolean(key, false)?;
        }
        rollout = p.int("rollout-duration", rollout, 64)?;
        for key in ["enable-mesh-pod-addressability", "internal-encryption"] {
            p.boolean(key, false)?;
        }
        if rollout < 0 {
            return Err(p.invalid(
                "rollout-duration",
                rollout.to_string(),
                "must not be negative",
            ));
        }
        let mut config = Self {
            domain_template: string("domainTemplate", "domain-template", DEFAULT_DOMAIN_TEMPLATE),
            tag_template: string("tagTemplate", "tag-template", DEFAULT_TAG_TEMPLATE),
            default_external_scheme: string(
                "defaultExternalScheme",
                "default-external-scheme",
                &d.default_external_scheme,
            ),
            rollout_duration: Duration::from_secs(rollout.unsigned_abs()),
            ingress_class: string("ingress.class", "ingress-class", &d.ingress_class),
            http_protocol: HttpProtocol::Enabled,
            cluster_domain: p.string("cluster-domain", &d.cluster_domain),
        };
        config.validate()?;
        config.http_protocol = http_protocol(&p)?;
        label_selector(&p, "namespace-wildcard-cert-selector")?;
        for key in ["system-internal-tls", "cluster-local-domain-tls"] {
            if let Some(v) = p.value(key) {
                if !["", "enabled", "disabled"]
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(v))
                {
                    return Err(p.invalid(key, v, "must be Enabled or Disabled"));
                }
            }
        }
        Ok(config)
    }

    /// Checks what Knative checks: the domain template renders a URL host without a
    /// path or query, the tag template renders; and knserve's own `cluster-domain` is a
    /// DNS subdomain.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        check_domain_template(&self.domain_template).map_err(|rule| {
            InvalidConfig::new(Self::NAME, "domain-template", &self.domain_template, rule)
        })?;
        check_tag_template(&self.tag_template).map_err(|rule| {
            InvalidConfig::new(Self::NAME, "tag-template", &self.tag_template, rule)
        })?;
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

/// `http-protocol` (or the legacy `httpProtocol`), as written: empty or `enabled`,
/// `redirected`, `disabled`, any case.
fn http_protocol<L: Lookup + ?Sized>(p: &Parser<'_, L>) -> Result<HttpProtocol, InvalidConfig> {
    let (key, value) = match (p.value("http-protocol"), p.value("httpProtocol")) {
        (Some(v), _) => ("http-protocol", v),
        (None, Some(v)) => ("httpProtocol", v),
        (None, None) => return Ok(HttpProtocol::Enabled),
    };
    match value.to_ascii_lowercase().as_str() {
        "" | "enabled" => Ok(HttpProtocol::Enabled),
        "redirected" => Ok(HttpProtocol::Redirected),
        "disabled" => Ok(HttpProtocol::Disabled),
        _ => Err(p.invalid(key, value, "must be Enabled, Redirected or Disabled")),
    }
}

/// Knative renders the template with `foo`, `bar` and `baz.com` and parses
/// `https://<result>` as a URL: it needs a host and no path or query.
fn check_domain_template(template: &str) -> Result<(), String> {
    let empty = Default::default();
    let values = TemplateValues {
        name: Some("foo"),
        namespace: Some("bar"),
        domain: Some("baz.com"),
        annotations: Some(&empty),
        labels: Some(&empty),
        tag: None,
    };
    let rendered = render_template(template, &values).map_err(|e| e.to_string())?;
    let end = rendered.find(['/', '?', '#']).unwrap_or(rendered.len());
    let (authority, rest) = rendered.split_at(end);
    let rest = rest.split('#').next().unwrap_or("");
    if !matches!(rest, "" | "/") {
        return Err(format!(
            "must not render a path or query, rendered {rendered:?}"
        ));
    }
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || host_port.starts_with('[') => (h, p),
        _ => (host_port, ""),
    };
    // Go's url.Parse allows in a host what `shouldEscape` does not escape there, and
    // any non-ASCII byte.
    let host_ok = host.bytes().all(|b| {
        !b.is_ascii() || b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=[]<>\"%:".contains(&b)
    });
    if host.is_empty() || !host_ok || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("must render a URL host, rendered {rendered:?}"));
    }
    Ok(())
}

/// Knative only requires that the tag template renders with `foo` and `v2`.
fn check_tag_template(template: &str) -> Result<(), String> {
    let values = TemplateValues {
        name: Some("foo"),
        tag: Some("v2"),
        ..TemplateValues::default()
    };
    render_template(template, &values)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Knative reads `key` as a YAML `LabelSelector` (`matchLabels`, `matchExpressions`);
/// knserve does not use it, but a value Knative cannot read is refused as Knative does.
fn label_selector<L: Lookup + ?Sized>(p: &Parser<'_, L>, key: &str) -> Result<(), InvalidConfig> {
    let Some(raw) = p.value(key).filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    match crate::api::decode::yaml_to_json(raw) {
        Err(e) => Err(p.invalid(key, raw, format!("must be a YAML label selector: {e}"))),
        Ok(Some(json)) if !(json.value.is_object() || json.value.is_null()) => Err(p.invalid(
            key,
            raw,
            "must be a YAML label selector (a mapping with matchLabels or matchExpressions)",
        )),
        Ok(_) => Ok(()),
    }
}
