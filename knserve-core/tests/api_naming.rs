//! Revision names (§1.3), hosts and URLs (§1.7).

use std::collections::BTreeMap;

use knserve_core::api::{
    ObjectMeta, RevisionTemplateSpec, RoutingConfig, TemplateError, check_byo_name,
    check_byo_name_changed, child_name, keys, revision_name, template_revision_name,
};
use knserve_core::config::{DomainConfig, NetworkConfig};

fn example_com() -> RoutingConfig {
    RoutingConfig {
        domain: DomainConfig::from_map([("example.com", "")]).unwrap(),
        ..RoutingConfig::default()
    }
}

#[test]
fn the_first_revision_of_hello_is_hello_00001() {
    assert_eq!(revision_name("hello", 1), "hello-00001");
    assert_eq!(revision_name("hello", 123_456), "hello-123456");
}

#[test]
fn long_configuration_names_are_cut_to_63_with_an_md5() {
    let parent = "a-very-long-configuration-name-that-goes-on-and-on-and-on-forever";
    let name = revision_name(parent, 2);
    assert_eq!(name.len(), 63);
    assert!(name.starts_with("a-very-long-configura"), "{name}");
    assert!(name.ends_with("-00002"), "{name}");
    let hash = &name[63 - 6 - 32..63 - 6];
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{hash}");
    assert_eq!(revision_name(parent, 2), name, "names are deterministic");
    assert_ne!(revision_name(&format!("{parent}x"), 2), name);
}

#[test]
fn child_name_matches_kmeta_for_a_known_input() {
    // md5("a" * 64) = 014842d480b571495a4a0363793f7367
    let name = child_name(&"a".repeat(64), "-suffix");
    assert_eq!(
        name,
        format!("{}014842d480b571495a4a0363793f7367-suffix", "a".repeat(24))
    );
}

#[test]
fn a_byo_template_name_is_used_as_the_revision_name() {
    let mut template = RevisionTemplateSpec::default();
    assert_eq!(template_revision_name("hello", 3, &template), "hello-00003");
    template.metadata.name = Some("hello-v3".into());
    assert_eq!(template_revision_name("hello", 3, &template), "hello-v3");
}

#[test]
fn a_byo_name_must_start_with_the_parent_and_be_a_label() {
    let parent = ObjectMeta::named("hello", "default");
    assert_eq!(check_byo_name("hello-v2", "", &parent), None);
    let error = check_byo_name("other-v2", "", &parent).expect("wrong prefix");
    assert_eq!(error.path, "metadata.name");
    assert!(error.message.contains("must start with"), "{error}");
    let error = check_byo_name("hello_V2", "", &parent).expect("not a label");
    assert!(error.message.contains("DNS-1035"), "{error}");
}

#[test]
fn a_byo_name_is_refused_only_while_the_parent_has_just_a_generate_name() {
    let generated = ObjectMeta {
        generate_name: Some("hello-".into()),
        ..ObjectMeta::default()
    };
    let error = check_byo_name("hello-v2", "", &generated).expect("parent has no name yet");
    assert!(error.message.contains("generateName"), "{error}");
    let named = ObjectMeta {
        name: Some("hello".into()),
        generate_name: Some("hello-".into()),
        ..ObjectMeta::default()
    };
    assert_eq!(
        check_byo_name("hello-v2", "", &named),
        None,
        "Knative allows a BYO name once the parent has a name, even with generateName"
    );
}

#[test]
fn a_template_generate_name_must_be_a_dns1035_prefix() {
    let parent = ObjectMeta::named("hello", "default");
    assert_eq!(check_byo_name("", "hello-", &parent), None);
    assert_eq!(
        check_byo_name("", "1-", &parent),
        None,
        "Kubernetes masks the trailing dash and the character before it"
    );
    let error = check_byo_name("", "Hello-", &parent).expect("uppercase");
    assert_eq!(error.path, "metadata.generateName");
}

#[test]
fn a_template_change_without_a_name_change_is_rejected() {
    let mut old = RevisionTemplateSpec::default();
    old.metadata.name = Some("hello-v1".into());
    let mut new = old.clone();
    assert!(
        check_byo_name_changed(&old, &new).is_none(),
        "no change is fine"
    );
    new.spec.timeout_seconds = Some(10);
    let err = check_byo_name_changed(&old, &new).expect("rejected");
    assert_eq!(err.path, "metadata.name");
    assert!(
        err.message
            .contains("must change when the template changes")
    );
    new.metadata.name = Some("hello-v2".into());
    assert!(
        check_byo_name_changed(&old, &new).is_none(),
        "renamed is fine"
    );
}

#[test]
fn tag_v1_of_hello_in_default_is_v1_hello_default_example_com() {
    let config = example_com();
    let route = ObjectMeta::named("hello", "default");
    assert_eq!(
        config.host(&route, None).unwrap(),
        "hello.default.example.com"
    );
    assert_eq!(
        config.host(&route, Some("v1")).unwrap(),
        "v1-hello.default.example.com"
    );
    assert_eq!(
        config.url(&route, Some("v1"), false).unwrap(),
        "http://v1-hello.default.example.com"
    );
    assert_eq!(
        config.url(&route, None, true).unwrap(),
        "https://hello.default.example.com",
        "a ready certificate makes the URL https"
    );
    assert_eq!(
        config.address_url(&route),
        "http://hello.default.svc.cluster.local"
    );
}

#[test]
fn with_no_domain_configured_every_route_is_cluster_local() {
    let config = RoutingConfig::default();
    let route = ObjectMeta::named("hello", "default");
    assert!(config.is_cluster_local(&route));
    assert_eq!(
        config.host(&route, None).unwrap(),
        "hello.default.svc.cluster.local"
    );
    assert_eq!(
        config.cluster_local_hosts("hello", "default"),
        [
            "hello.default",
            "hello.default.svc",
            "hello.default.svc.cluster.local"
        ]
    );
}

#[test]
fn the_visibility_label_forces_cluster_local_with_the_default_template_and_http() {
    let mut config = example_com();
    config.network.domain_template = "{{.Name}}-{{.Namespace}}.{{.Domain}}".into();
    config.network.default_external_scheme = "https".into();
    let mut route = ObjectMeta::named("hello", "default");
    route
        .labels
        .insert(keys::VISIBILITY_LABEL.into(), "cluster-local".into());
    assert_eq!(
        config.url(&route, None, true).unwrap(),
        "http://hello.default.svc.cluster.local"
    );
}

#[test]
fn custom_templates_use_annotations_and_the_scheme_default() {
    let mut config = example_com();
    config.network.domain_template =
        r#"{{.Name}}.{{index .Annotations "team"}}.{{.Namespace}}.{{.Domain}}"#.into();
    config.network.tag_template = "{{.Name}}-{{.Tag}}".into();
    config.network.default_external_scheme = "https".into();
    let mut route = ObjectMeta::named("hello", "default");
    route.annotations.insert("team".into(), "blue".into());
    assert_eq!(
        config.url(&route, Some("v1"), false).unwrap(),
        "https://hello-v1.blue.default.example.com"
    );
}

#[test]
fn an_unsupported_template_is_an_error_not_a_wrong_host() {
    let mut config = example_com();
    config.network.domain_template = "{{.Name | lower}}.{{.Domain}}".into();
    let err = config.host(&ObjectMeta::named("a", "b"), None).unwrap_err();
    assert!(matches!(err, TemplateError::Unsupported(_)), "{err}");
}

#[test]
fn the_most_specific_matching_domain_wins_and_ties_go_to_the_smallest() {
    let domains = DomainConfig::from_map([
        ("example.com", ""),
        ("prod.example.com", "selector:\n  env: prod\n"),
        ("b.example.com", "selector:\n  env: prod\n  team: x\n"),
        ("a.example.com", "selector:\n  env: prod\n  team: x\n"),
    ])
    .unwrap();
    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    };
    let cd = NetworkConfig::default().cluster_domain;
    assert_eq!(domains.domain_for(&labels(&[]), &cd), "example.com");
    assert_eq!(
        domains.domain_for(&labels(&[("env", "prod")]), &cd),
        "prod.example.com"
    );
    assert_eq!(
        domains.domain_for(&labels(&[("env", "prod"), ("team", "x")]), &cd),
        "a.example.com"
    );
    let only_selective =
        DomainConfig::from_map([("prod.example.com", "selector:\n  env: prod\n")]).unwrap();
    assert_eq!(
        only_selective.domain_for(&labels(&[]), &cd),
        "svc.cluster.local",
        "without a default entry, unmatched routes are cluster-local"
    );
}
