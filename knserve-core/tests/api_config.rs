//! `config-defaults`, `config-domain`, `config-features`, `config-network`: Knative's
//! defaults, and a rejected bad value for every key.

use std::collections::HashMap;
use std::time::Duration;

use knserve_core::InvalidConfig;
use knserve_core::config::{
    DefaultsConfig, DomainConfig, FeaturesConfig, Flag, HttpProtocol, NetworkConfig,
};

fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn assert_rejects(
    result: Result<impl std::fmt::Debug, InvalidConfig>,
    map: &str,
    key: &str,
    rule: &str,
) {
    let err = result.expect_err("a bad value is rejected");
    assert_eq!(
        (err.map, err.key.as_str()),
        (map, key),
        "the error names the key: {err}"
    );
    assert!(err.rule.contains(rule), "{key}: rule {rule:?} in {err}");
}

#[test]
fn an_empty_config_defaults_map_is_knatives_defaults() {
    let config = DefaultsConfig::from_map(&map(&[])).unwrap();
    assert_eq!(config, DefaultsConfig::default());
    assert_eq!(config.revision_timeout_seconds, 300);
    assert_eq!(config.max_revision_timeout_seconds, 600);
    assert_eq!(config.revision_response_start_timeout_seconds, 300);
    assert_eq!(config.container_concurrency_max_limit, 1000);
    assert!(config.allow_container_concurrency_zero);
    assert_eq!(config.container_name_template, "user-container");
}

#[test]
fn config_defaults_reads_every_key() {
    let config = DefaultsConfig::from_map(&map(&[
        ("revision-timeout-seconds", "100"),
        ("max-revision-timeout-seconds", "200"),
        ("revision-response-start-timeout-seconds", "50"),
        ("revision-idle-timeout-seconds", "40"),
        ("container-concurrency", "10"),
        ("container-concurrency-max-limit", "20"),
        ("allow-container-concurrency-zero", "false"),
        ("container-name-template", "{{.Name}}"),
        ("init-container-name-template", "init-{{.Name}}"),
        ("enable-service-links", "default"),
        ("revision-cpu-request", "100m"),
        ("revision-cpu-limit", "1"),
        ("revision-memory-request", "64Mi"),
        ("revision-memory-limit", "1.5Gi"),
        ("revision-ephemeral-storage-request", "1e3"),
        ("revision-ephemeral-storage-limit", "2G"),
    ]))
    .unwrap();
    assert_eq!(config.revision_timeout_seconds, 100);
    assert_eq!(config.revision_idle_timeout_seconds, 40);
    assert_eq!(config.enable_service_links, None);
    assert_eq!(config.revision_memory_limit.as_deref(), Some("1.5Gi"));
    assert_eq!(DefaultsConfig::KEYS.len(), 16);
}

#[test]
fn config_defaults_rejects_a_bad_value_for_every_key() {
    let cases = [
        ("revision-timeout-seconds", "abc", "whole number"),
        (
            "revision-timeout-seconds",
            "601",
            "at most max-revision-timeout-seconds",
        ),
        ("max-revision-timeout-seconds", "1.5", "whole number"),
        (
            "revision-response-start-timeout-seconds",
            "301",
            "at most revision-timeout-seconds",
        ),
        (
            "revision-idle-timeout-seconds",
            "301",
            "at most revision-timeout-seconds",
        ),
        (
            "container-concurrency",
            "1001",
            "between 0 and container-concurrency-max-limit",
        ),
        ("container-concurrency-max-limit", "0", "at least 1"),
        ("allow-container-concurrency-zero", "yes", "Go boolean"),
        ("container-name-template", "{{.Tag}}", "not available"),
        (
            "init-container-name-template",
            "init-{{.Domain}}",
            "not available",
        ),
        ("revision-cpu-request", "lots", "quantity"),
        ("revision-cpu-limit", "1x", "quantity"),
        ("revision-memory-request", "64 Mi", "quantity"),
        ("revision-memory-limit", "..", "quantity"),
        ("revision-ephemeral-storage-request", "3e", "quantity"),
        ("revision-ephemeral-storage-limit", "1Qi", "quantity"),
        ("revision-cpu-request", "", "quantity"),
        ("revision-cpu-limit", " 1", "quantity"),
    ];
    for (key, value, rule) in cases {
        assert_rejects(
            DefaultsConfig::from_map(&map(&[(key, value)])),
            "config-defaults",
            key,
            rule,
        );
    }
}

#[test]
fn config_defaults_accepts_what_knative_does_not_bound() {
    for (key, value) in [
        ("revision-timeout-seconds", "0"),
        ("revision-timeout-seconds", "-5"),
        ("revision-idle-timeout-seconds", "-1"),
        ("revision-response-start-timeout-seconds", "-1"),
        ("init-container-name-template", "Init_{{.Name}}"),
        ("revision-ephemeral-storage-request", "e3"),
        ("revision-memory-limit", "."),
    ] {
        assert!(
            DefaultsConfig::from_map(&map(&[(key, value)])).is_ok(),
            "Knative accepts {key}={value:?}"
        );
    }
}

#[test]
fn an_explicit_zero_response_start_timeout_stays_zero() {
    let config =
        DefaultsConfig::from_map(&map(&[("revision-response-start-timeout-seconds", "0")]))
            .unwrap();
    assert_eq!(config.revision_response_start_timeout_seconds, 0);
    let config = DefaultsConfig::from_map(&map(&[("revision-timeout-seconds", "100")])).unwrap();
    assert_eq!(
        config.revision_response_start_timeout_seconds, 100,
        "unset, it follows revision-timeout-seconds"
    );
}

#[test]
fn enable_service_links_other_than_true_or_false_is_the_kubernetes_default() {
    for (value, want) in [
        ("TRUE", Some(true)),
        ("false", Some(false)),
        ("default", None),
        ("sometimes", None),
    ] {
        let config = DefaultsConfig::from_map(&map(&[("enable-service-links", value)])).unwrap();
        assert_eq!(config.enable_service_links, want, "{value}");
    }
}

#[test]
fn config_features_defaults_match_knative() {
    let config = FeaturesConfig::from_map(&map(&[])).unwrap();
    assert_eq!(config.multi_container, Flag::Enabled);
    assert_eq!(config.tag_header_based_routing, Flag::Disabled);
    assert_eq!(config.podspec_volumes_emptydir, Flag::Enabled);
    assert_eq!(config.podspec_affinity, Flag::Disabled);
    assert_eq!(config.podspec_dry_run, Flag::Allowed);
    let config =
        FeaturesConfig::from_map(&map(&[("kubernetes.podspec-affinity", "Enabled")])).unwrap();
    assert_eq!(
        config.podspec_affinity,
        Flag::Enabled,
        "values are case-insensitive"
    );
}

#[test]
fn config_features_rejects_a_bad_value_for_every_key() {
    for key in FeaturesConfig::KEYS {
        assert_rejects(
            FeaturesConfig::from_map(&map(&[(key, "on")])),
            "config-features",
            key,
            "must be enabled, disabled",
        );
    }
}

#[test]
fn config_domain_reads_defaults_and_selectors_and_skips_the_example() {
    let config = DomainConfig::from_map([
        ("example.com", ""),
        ("internal.example.com", "selector:\n  app: secret\n"),
        ("_example", "anything: [goes"),
    ])
    .unwrap();
    assert_eq!(config.domains.len(), 2);
    assert_eq!(config.domains["internal.example.com"]["app"], "secret");
    assert_eq!(DomainConfig::default().domains.len(), 0);
}

#[test]
fn config_domain_rejects_bad_domains_and_selectors() {
    assert_rejects(
        DomainConfig::from_map([("Not A Domain", "")]),
        "config-domain",
        "Not A Domain",
        "domain name",
    );
    assert_rejects(
        DomainConfig::from_map([("example.com", "selector: [a, b]")]),
        "config-domain",
        "example.com",
        "selector",
    );
    assert_rejects(
        DomainConfig::from_map([("example.com", "labels:\n  app: x\n")]),
        "config-domain",
        "example.com",
        "selector",
    );
}

#[test]
fn an_empty_config_network_map_is_knatives_defaults() {
    let config = NetworkConfig::from_map(&map(&[])).unwrap();
    assert_eq!(config, NetworkConfig::default());
    assert_eq!(
        config.domain_template,
        "{{.Name}}.{{.Namespace}}.{{.Domain}}"
    );
    assert_eq!(config.tag_template, "{{.Tag}}-{{.Name}}");
    assert_eq!(config.default_external_scheme, "http");
    assert_eq!(config.rollout_duration, Duration::ZERO);
    assert_eq!(config.cluster_domain, "cluster.local");
    let config = NetworkConfig::from_map(&map(&[
        ("rollout-duration", "120"),
        ("http-protocol", "Redirected"),
        ("default-external-scheme", "HTTPS"),
    ]))
    .unwrap();
    assert_eq!(config.rollout_duration, Duration::from_secs(120));
    assert_eq!(config.http_protocol, HttpProtocol::Redirected);
    assert_eq!(
        config.default_external_scheme, "HTTPS",
        "Knative keeps the scheme as written"
    );
    let legacy = NetworkConfig::from_map(&map(&[
        ("domainTemplate", "{{.Name}}.{{.Domain}}"),
        ("rolloutDuration", "30"),
        ("http-protocol", "disabled"),
    ]))
    .unwrap();
    assert_eq!(legacy.domain_template, "{{.Name}}.{{.Domain}}");
    assert_eq!(legacy.rollout_duration, Duration::from_secs(30));
    assert_eq!(legacy.http_protocol, HttpProtocol::Disabled);
}

#[test]
fn config_network_accepts_what_knative_accepts() {
    for (key, value) in [
        ("domain-template", "{{.Name}}.{{.Domain}}"),
        ("domain-template", "{{.Name}}_{{.Namespace}}.{{.Domain}}"),
        ("tag-template", "{{.Tag}}"),
        ("default-external-scheme", "ftp"),
        ("ingress-class", ""),
        ("http-protocol", ""),
        ("mesh-compatibility-mode", "sometimes"),
    ] {
        assert!(
            NetworkConfig::from_map(&map(&[(key, value)])).is_ok(),
            "Knative accepts {key}={value:?}"
        );
    }
}

#[test]
fn config_network_rejects_a_bad_value_for_every_key() {
    let cases = [
        (
            "domain-template",
            "{{.Name}}.{{.Namespace}}.{{.Domain}}/path",
            "path or query",
        ),
        (
            "domain-template",
            "{{.Name}} {{.Namespace}}.{{.Domain}}",
            "URL host",
        ),
        (
            "domain-template",
            "{{.Tag}}.{{.Namespace}}",
            "not available",
        ),
        ("tag-template", "{{.Namespace}}-{{.Tag}}", "not available"),
        ("rollout-duration", "-5", "must not be negative"),
        ("rollout-duration", "2m", "whole number"),
        (
            "http-protocol",
            "Sometimes",
            "Enabled, Redirected or Disabled",
        ),
        ("autocreate-cluster-domain-claims", "yes", "Go boolean"),
        ("cluster-domain", "Cluster Local", "DNS subdomain"),
    ];
    for (key, value, rule) in cases {
        assert_rejects(
            NetworkConfig::from_map(&map(&[(key, value)])),
            "config-network",
            key,
            rule,
        );
    }
}
