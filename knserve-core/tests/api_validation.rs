//! Admission rules (§1.2, §1.3, §1.6) on metadata, traffic and updates: each one broken
//! alone, named by path and rule.

mod api_support;

use api_support::{Edit, assert_has, check_service_cases, container, errors, service};
use knserve_core::api::{
    Configuration, ConfigurationSpec, ObjectMeta, Revision, Route, RouteSpec, Service,
    TrafficTarget, ValidationConfig,
};
use knserve_core::config::DefaultsConfig;
#[test]
fn a_defaulted_sample_service_is_valid() {
    let config = ValidationConfig::default();
    assert_eq!(service().validate(&config), Ok(()));
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/traffic-split.yaml"
    ))
    .unwrap();
    let mut svc: Service = serde_yaml_ng::from_str(&text).unwrap();
    svc.set_defaults(&DefaultsConfig::default());
    assert_eq!(svc.validate(&config), Ok(()));
}

#[test]
fn metadata_rules_name_the_field() {
    let cases: [(&str, Edit, &str, &str); 7] = [
        (
            "name not DNS-1035",
            |s| s.metadata.name = Some("Hello".into()),
            "metadata.name",
            "DNS-1035",
        ),
        (
            "name too long",
            |s| s.metadata.name = Some("a".repeat(64)),
            "metadata.name",
            "at most 63",
        ),
        (
            "no name",
            |s| s.metadata.name = None,
            "metadata.name",
            "is required",
        ),
        (
            "bad generateName",
            |s| {
                s.metadata.name = None;
                s.metadata.generate_name = Some("9lives-".into());
            },
            "metadata.generateName",
            "DNS-1035",
        ),
        (
            "autoscaling annotation on the service (rule 6)",
            |s| {
                s.metadata
                    .annotations
                    .insert("autoscaling.knative.dev/min-scale".into(), "1".into());
            },
            "metadata.annotations.autoscaling.knative.dev/min-scale",
            "spec.template.metadata.annotations",
        ),
        (
            "rollout-duration not whole seconds (rule 8)",
            |s| {
                s.metadata
                    .annotations
                    .insert("serving.knative.dev/rollout-duration".into(), "1.5s".into());
            },
            "metadata.annotations.serving.knative.dev/rollout-duration",
            "whole number of seconds",
        ),
        (
            "bad generateName beside a good name (Knative checks generateName first)",
            |s| s.metadata.generate_name = Some("Hello-".into()),
            "metadata.generateName",
            "DNS-1035",
        ),
    ];
    check_service_cases(&cases, &ValidationConfig::default());
}

#[test]
fn duration_annotations_reject_negative_and_malformed_values() {
    let cases: [(&str, Edit, &str, &str); 2] = [
        (
            "negative rollout-duration",
            |s| {
                s.metadata
                    .annotations
                    .insert("serving.knative.dev/rollout-duration".into(), "-1s".into());
            },
            "metadata.annotations.serving.knative.dev/rollout-duration",
            "must not be negative",
        ),
        (
            "malformed progress-deadline",
            |s| {
                s.spec.template.metadata.annotations.insert(
                    "serving.knative.dev/progress-deadline".into(),
                    "soon".into(),
                );
            },
            "spec.template.metadata.annotations.serving.knative.dev/progress-deadline",
            "Go duration",
        ),
    ];
    check_service_cases(&cases, &ValidationConfig::default());
}

#[test]
fn autoscaling_annotations_on_the_template_are_checked_by_the_autoscaler_rules() {
    let mut svc = service();
    svc.spec
        .template
        .metadata
        .annotations
        .insert("autoscaling.knative.dev/min-scale".into(), "-3".into());
    let found = errors(svc.validate(&ValidationConfig::default()));
    assert!(
        found
            .iter()
            .any(|e| e.path
                == "spec.template.metadata.annotations.autoscaling.knative.dev/min-scale"),
        "autoscaler errors land under spec.template.metadata: {found:#?}"
    );
}

#[test]
fn byo_revision_names_follow_the_parent() {
    let cases: [(&str, Edit, &str, &str); 2] = [
        (
            "template name without the parent prefix",
            |s| s.spec.template.metadata.name = Some("other-v1".into()),
            "spec.template.metadata.name",
            "must start with",
        ),
        (
            "template name with generateName",
            |s| {
                s.metadata.name = None;
                s.metadata.generate_name = Some("hello-".into());
                s.spec.template.metadata.name = Some("hello-v1".into());
            },
            "spec.template.metadata.name",
            "generateName",
        ),
    ];
    check_service_cases(&cases, &ValidationConfig::default());
}

#[test]
fn traffic_rules_name_the_target() {
    let target = |revision: &str, percent: i64| TrafficTarget {
        revision_name: Some(revision.into()),
        percent: Some(percent),
        latest_revision: Some(false),
        ..TrafficTarget::default()
    };
    let set = |s: &mut Service, traffic: Vec<TrafficTarget>| s.spec.traffic = traffic;
    let cases: [(&str, Edit, &str, &str); 8] = [
        (
            "percent above 100 (rule 1)",
            |s| s.spec.traffic[0].percent = Some(120),
            "spec.traffic[0].percent",
            "must be between 0 and 100, got 120",
        ),
        (
            "sum not 100 (rule 1)",
            |s| s.spec.traffic[0].percent = Some(90),
            "spec.traffic",
            "must sum to 100, got 90",
        ),
        (
            "configurationName in a Service (rule 2)",
            |s| s.spec.traffic[0].configuration_name = Some("hello".into()),
            "spec.traffic[0].configurationName",
            "must not be set in a Service",
        ),
        (
            "invalid revision name (rule 2)",
            |s| {
                s.spec.traffic = vec![TrafficTarget {
                    revision_name: Some("Bad_".into()),
                    percent: Some(100),
                    ..TrafficTarget::default()
                }]
            },
            "spec.traffic[0].revisionName",
            "valid Kubernetes name",
        ),
        (
            "latestRevision true with a revision (rule 3)",
            |s| {
                s.spec.traffic[0].revision_name = Some("hello-00001".into());
                s.spec.traffic[0].latest_revision = Some(true);
            },
            "spec.traffic[0].latestRevision",
            "must not be true when revisionName is set",
        ),
        (
            "latestRevision false without a revision (rule 3)",
            |s| s.spec.traffic[0].latest_revision = Some(false),
            "spec.traffic[0].latestRevision",
            "must not be false unless revisionName is set",
        ),
        (
            "tag not DNS-1035 (rule 4)",
            |s| s.spec.traffic[0].tag = Some("V1".into()),
            "spec.traffic.tag[0]",
            "DNS-1035",
        ),
        (
            "url in spec (rule 5)",
            |s| s.spec.traffic[0].url = Some("http://x".into()),
            "spec.traffic[0].url",
            "status only",
        ),
    ];
    check_service_cases(&cases, &ValidationConfig::default());
    let mut svc = service();
    set(&mut svc, vec![target("hello-a", 50), target("hello-b", 50)]);
    svc.spec.traffic[0].tag = Some("blue".into());
    svc.spec.traffic[1].tag = Some("blue".into());
    assert_has(
        &errors(svc.validate(&ValidationConfig::default())),
        "spec.traffic[1].tag",
        "must be unique",
        "duplicate tag (rule 4)",
    );
}

#[test]
fn a_route_needs_exactly_one_of_revision_and_configuration_and_a_full_split() {
    let route = |traffic: Vec<TrafficTarget>| {
        Route::new(
            ObjectMeta::named("hello", "default"),
            RouteSpec {
                traffic,
                ..RouteSpec::default()
            },
        )
    };
    let both = TrafficTarget {
        revision_name: Some("hello-00001".into()),
        configuration_name: Some("hello".into()),
        percent: Some(100),
        ..TrafficTarget::default()
    };
    let found = errors(route(vec![both]).validate());
    assert_has(
        &found,
        "spec.traffic[0].revisionName",
        "got both",
        "both names",
    );
    let neither = TrafficTarget {
        percent: Some(100),
        ..TrafficTarget::default()
    };
    assert_has(
        &errors(route(vec![neither]).validate()),
        "spec.traffic[0].revisionName",
        "got neither",
        "no name",
    );
    assert_has(
        &errors(route(vec![]).validate()),
        "spec.traffic",
        "must sum to 100, got 0",
        "empty route traffic",
    );
    let mut annotated = route(vec![TrafficTarget {
        configuration_name: Some("hello".into()),
        percent: Some(100),
        ..TrafficTarget::default()
    }]);
    assert_eq!(annotated.validate(), Ok(()));
    annotated
        .metadata
        .annotations
        .insert("autoscaling.knative.dev/target".into(), "5".into());
    assert_has(
        &errors(annotated.validate()),
        "metadata.annotations.autoscaling.knative.dev/target",
        "spec.template",
        "route rule 6",
    );
}

#[test]
fn all_problems_are_reported_together() {
    let mut svc = service();
    svc.metadata.name = Some("Bad".into());
    container(&mut svc).image.clear();
    svc.spec.traffic[0].percent = Some(50);
    let found = errors(svc.validate(&ValidationConfig::default()));
    let paths: Vec<&str> = found.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "metadata.name",
            "spec.template.spec.containers[0].image",
            "spec.traffic"
        ]
    );
}

#[test]
fn a_revision_spec_is_immutable_but_its_metadata_is_not() {
    let svc = service();
    let config = ValidationConfig::default();
    let old = Revision::new(
        ObjectMeta::named("hello-00001", "default"),
        svc.spec.template.spec.clone(),
    );
    let mut relabeled = old.clone();
    relabeled.metadata.labels.insert("x".into(), "y".into());
    assert_eq!(relabeled.validate_update(&old, &config), Ok(()));
    let mut changed = old.clone();
    changed.spec.timeout_seconds = Some(10);
    changed.spec.containers[0].image = "other".into();
    let found = errors(changed.validate_update(&old, &config));
    let paths: Vec<&str> = found.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["spec"],
        "Knative reports a changed spec once, at spec"
    );
    assert!(found[0].message.contains("is immutable"));
    assert!(
        found[0].message.contains("containers, timeoutSeconds"),
        "the message names the changed fields: {}",
        found[0]
    );
}

#[test]
fn a_configuration_update_must_rename_a_byo_revision_when_the_template_changes() {
    let config = ValidationConfig::default();
    let mut old = Configuration::new(
        ObjectMeta::named("hello", "default"),
        ConfigurationSpec::default(),
    );
    old.spec.template = service().spec.template;
    old.spec.template.metadata.name = Some("hello-v1".into());
    assert_eq!(old.validate(&config), Ok(()));
    let mut new = old.clone();
    new.spec.template.spec.timeout_seconds = Some(30);
    assert_has(
        &errors(new.validate_update(&old, &config)),
        "spec.template.metadata.name",
        "must change when the template changes",
        "configuration",
    );
    let mut svc_old = service();
    svc_old.spec.template.metadata.name = Some("hello-v1".into());
    let mut svc_new = svc_old.clone();
    container(&mut svc_new).image = "example.com/hello:2".into();
    assert_has(
        &errors(svc_new.validate_update(&svc_old, &config)),
        "spec.template.metadata.name",
        "must change",
        "service",
    );
}

#[test]
fn a_revision_carries_its_own_autoscaling_annotations() {
    let config = ValidationConfig::default();
    let mut revision = Revision::new(
        ObjectMeta::named("hello-00001", "default"),
        service().spec.template.spec,
    );
    revision
        .metadata
        .annotations
        .insert("autoscaling.knative.dev/min-scale".into(), "2".into());
    assert_eq!(revision.validate(&config), Ok(()), "allowed on a revision");
    revision.metadata.name = Some("hello_00001".into());
    assert_has(
        &errors(revision.validate(&config)),
        "metadata.name",
        "DNS-1035",
        "revision name",
    );
}
