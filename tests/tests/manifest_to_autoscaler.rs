//! A user's manifest, unchanged, through the model and into the autoscaler.

use std::time::Duration;

use knserve_core::Timestamp;
use knserve_core::api::{Resource, ValidationConfig, parse_yaml};
use knserve_core::autoscaler::metrics::Stat;
use knserve_core::autoscaler::{
    Autoscaler, DEFAULT_PROGRESS_DEADLINE, Kpa, Observed, PodAutoscaler, ScalingParams,
};

const SIMPLE_API: &str = include_str!("../../knserve-core/tests/data/simple-api.yaml");

fn simple_api_params() -> ScalingParams {
    let mut resources = parse_yaml(SIMPLE_API).expect("the seed manifest parses");
    let Some(Resource::Service(mut service)) = resources.pop() else {
        panic!("simple-api.yaml holds one Service");
    };
    let config = ValidationConfig::default();
    service.set_defaults(&config.defaults);
    service
        .validate(&config)
        .expect("and still valid once defaulted");
    let template = &service.spec.template;
    ScalingParams::for_revision(
        &template.metadata.annotations,
        template.spec.container_concurrency,
        &config.autoscaler,
        DEFAULT_PROGRESS_DEADLINE,
    )
    .expect("valid annotations")
}

#[test]
fn legacy_and_kebab_annotations_of_a_real_manifest_drive_the_kpa() {
    let p = simple_api_params();
    assert_eq!(
        (p.min_scale, p.max_scale),
        (1, 100),
        "minScale/maxScale in camelCase"
    );
    assert!(
        (p.target_value - 3.5).abs() < 1e-9,
        "target 5 × 70 %: {}",
        p.target_value
    );

    // 50 concurrent requests for ten seconds against one instance.
    let mut kpa = Kpa::new();
    let start = Timestamp::from_secs(1_000);
    kpa.upsert(start, "default/simple-api-00001", p.clone(), 1);
    for s in 0..10 {
        let stat = Stat {
            average_concurrent_requests: 50.0,
            ..Stat::default()
        };
        kpa.record(
            start + Duration::from_secs(s),
            &"default/simple-api-00001",
            &stat,
        );
    }
    let now = start + Duration::from_secs(10);
    let status = kpa
        .decide(now, &"default/simple-api-00001")
        .expect("known revision");
    assert_eq!(status.desired, Some(15), "ceil(50 / 3.5)");

    let mut pa = PodAutoscaler::new(start);
    let observed = Observed {
        ready: 1,
        reachable: true,
        activator_in_path: true,
    };
    let out = pa.reconcile(now, &p, status, observed);
    assert_eq!(out.scale, Some(15), "within [1, 100]");
}

#[test]
fn a_bad_annotation_in_a_manifest_is_reported_with_its_full_path() {
    let broken = SIMPLE_API.replace(
        r#"autoscaling.knative.dev/target: "5""#,
        r#"autoscaling.knative.dev/target: "-1""#,
    );
    assert_ne!(
        broken, SIMPLE_API,
        "the fixture carries the target annotation"
    );
    let Some(Resource::Service(mut service)) = parse_yaml(&broken).expect("parses").pop() else {
        panic!("one Service");
    };
    let config = ValidationConfig::default();
    service.set_defaults(&config.defaults);
    let errors = service.validate(&config).expect_err("target -1 is invalid");
    assert_eq!(
        errors.to_string(),
        r#"spec.template.metadata.annotations.autoscaling.knative.dev/target: must be at least 0.01, got "-1""#
    );
}
