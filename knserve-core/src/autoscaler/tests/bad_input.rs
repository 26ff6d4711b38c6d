//! Every annotation and `config-autoscaler` key rejects bad values, naming the key.

use std::collections::HashMap;

use super::annotations;
use crate::autoscaler::annotations::{ALL, METRIC_AGGREGATION_ALGORITHM, unknown_annotations};
use crate::autoscaler::validate_annotations;
use crate::config::AutoscalerConfig;

/// (annotation, bad value, words the rule must contain)
const BAD_ANNOTATIONS: &[(&str, &str, &str)] = &[
    (
        "class",
        "foo.knative.dev",
        "must be kpa.autoscaling.knative.dev or hpa.autoscaling.knative.dev",
    ),
    ("metric", "cpu", "must be concurrency or rps"),
    ("target", "-1", "must be at least 0.01"),
    ("target", "abc", "must be a number"),
    (
        "target-utilization-percentage",
        "0.5",
        "must be between 1 and 100",
    ),
    (
        "targetUtilizationPercentage",
        "101",
        "must be between 1 and 100",
    ),
    ("window", "5s", "must be between 6s and 1h"),
    ("window", "61m", "must be between 6s and 1h"),
    ("window", "10.5s", "whole number of seconds"),
    ("window", "ten", "Go duration"),
    ("panic-window-percentage", "0", "must be between 1 and 100"),
    ("panicWindowPercentage", "x", "must be a number"),
    (
        "panic-threshold-percentage",
        "100",
        "must be between 110 and 1000",
    ),
    (
        "panicThresholdPercentage",
        "1001",
        "must be between 110 and 1000",
    ),
    ("min-scale", "-1", "must be between 0 and 2147483647"),
    ("minScale", "1.5", "must be a whole number"),
    ("max-scale", "-2", "must be between 0 and 2147483647"),
    ("maxScale", "3000000000", "must be between 0 and 2147483647"),
    ("initial-scale", "-1", "must be at least 0"),
    ("initialScale", "0", "allow-zero-initial-scale"),
    ("activation-scale", "1", "must be at least 2"),
    ("scale-down-delay", "-1s", "must be between 0s and 1h"),
    ("scaleDownDelay", "2h", "must be between 0s and 1h"),
    ("scale-down-delay", "1.5s", "whole number of seconds"),
    (
        "scale-to-zero-pod-retention-period",
        "61m",
        "must be between 0s and 1h",
    ),
    ("scaleToZeroPodRetentionPeriod", "soon", "Go duration"),
    ("target-burst-capacity", "-2", "or -1"),
    ("targetBurstCapacity", "lots", "must be a number"),
];

#[test]
fn every_annotation_rejects_a_bad_value_with_its_key_and_rule() {
    let config = AutoscalerConfig::default();
    for (key, value, rule) in BAD_ANNOTATIONS {
        let errors = validate_annotations(&annotations(&[(key, value)]), &config);
        let path = format!("annotations.autoscaling.knative.dev/{key}");
        assert_eq!(
            errors.len(),
            1,
            "{key}={value:?} gives one error: {errors:?}"
        );
        let text = errors[0].to_string();
        assert!(
            text.starts_with(&format!("{path}: ")),
            "{text:?} names {path}"
        );
        assert!(text.contains(rule), "{text:?} states the rule {rule:?}");
        assert!(
            text.contains(&format!("got {value:?}")),
            "{text:?} quotes the value"
        );
    }
    // The algorithm is judged only under an explicit KPA class (its own test below).
    for key in ALL
        .iter()
        .filter(|k| k.canonical != METRIC_AGGREGATION_ALGORITHM.canonical)
    {
        let short = key.canonical.trim_start_matches("autoscaling.knative.dev/");
        assert!(
            BAD_ANNOTATIONS.iter().any(|(k, _, _)| *k == short),
            "{short} has a bad-input case"
        );
    }
}

#[test]
fn the_issue_example_message_reads_as_documented() {
    let errors = validate_annotations(
        &annotations(&[("target", "-1")]),
        &AutoscalerConfig::default(),
    );
    assert_eq!(
        errors[0].to_string(),
        r#"annotations.autoscaling.knative.dev/target: must be at least 0.01, got "-1""#
    );
}

#[test]
fn related_annotations_are_checked_together_and_all_errors_reported() {
    let config = AutoscalerConfig {
        max_scale_limit: 10,
        ..AutoscalerConfig::default()
    };
    let errors = validate_annotations(
        &annotations(&[
            ("min-scale", "5"),
            ("max-scale", "3"),
            ("activation-scale", "4"),
            ("target", "0"),
        ]),
        &config,
    );
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for key in ["max-scale", "min-scale"] {
        assert!(
            text.iter().any(|e| e.starts_with(&format!(
                "annotations.autoscaling.knative.dev/{key}: max-scale (3) must not be less than min-scale (5)"
            ))),
            "Knative names both keys: {text:?}"
        );
    }
    assert!(
        text.iter()
            .any(|e| e.contains("activation-scale: must be at least min-scale (5)")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|e| e.contains("target: must be at least 0.01")),
        "{text:?}"
    );
    let errors = validate_annotations(&annotations(&[("max-scale", "0")]), &config);
    assert!(
        errors[0]
            .to_string()
            .contains("must not be 0 (unlimited) when max-scale-limit is 10"),
        "{errors:?}"
    );
    let errors = validate_annotations(
        &annotations(&[("max-scale", "4"), ("activation-scale", "5")]),
        &config,
    );
    assert!(
        errors[0]
            .to_string()
            .contains("must be at most max-scale (4)"),
        "{errors:?}"
    );
}

#[test]
fn the_seed_manifest_annotations_are_valid_in_both_spellings() {
    let ok = annotations(&[
        ("minScale", "1"),
        ("maxScale", "100"),
        ("target", "5"),
        ("metric", "concurrency"),
        ("target-utilization-percentage", "70"),
    ]);
    assert_eq!(
        validate_annotations(&ok, &AutoscalerConfig::default()),
        vec![]
    );
}

#[test]
fn other_classes_choose_their_own_metrics() {
    let config = AutoscalerConfig::default();
    let hpa = annotations(&[
        ("class", "hpa.autoscaling.knative.dev"),
        ("metric", "memory"),
    ]);
    assert_eq!(validate_annotations(&hpa, &config), vec![]);
    let foreign = annotations(&[
        ("class", "example.com/custom"),
        ("metric", "queue-depth"),
        ("metric-aggregation-algorithm", "x"),
    ]);
    assert_eq!(validate_annotations(&foreign, &config), vec![]);
    let empty = annotations(&[("class", "hpa.autoscaling.knative.dev"), ("metric", "")]);
    assert!(
        validate_annotations(&empty, &config)[0]
            .to_string()
            .contains("must not be empty")
    );
}

#[test]
fn unknown_keys_in_the_group_are_warned_about() {
    let warnings = unknown_annotations(&annotations(&[("minscale", "1"), ("min-scale", "1")]));
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0]
            .to_string()
            .starts_with("annotations.autoscaling.knative.dev/minscale:")
    );
}

/// (key, bad value, words the rule must contain)
const BAD_CONFIG: &[(&str, &str, &str)] = &[
    (
        "container-concurrency-target-percentage",
        "0",
        "greater than 0 and at most 100",
    ),
    (
        "container-concurrency-target-percentage",
        "120",
        "greater than 0 and at most 100",
    ),
    (
        "container-concurrency-target-default",
        "0.001",
        "at least 0.01",
    ),
    ("requests-per-second-target-default", "0", "at least 0.01"),
    ("target-burst-capacity", "-5", "or -1"),
    ("stable-window", "5s", "between 6s and 1h"),
    ("stable-window", "1m0.5s", "whole number of seconds"),
    (
        "panic-window-percentage",
        "0.5",
        "must be between 1 and 100",
    ),
    ("panic-window-percentage", "101", "and 100"),
    ("panic-threshold-percentage", "ten", "must be a number"),
    ("max-scale-up-rate", "1", "greater than 1"),
    ("max-scale-down-rate", "0.5", "greater than 1"),
    ("enable-scale-to-zero", "yes", "Go boolean"),
    ("scale-to-zero-grace-period", "0s", "greater than 0"),
    ("scale-to-zero-grace-period", "-1s", "greater than 0"),
    (
        "scale-to-zero-pod-retention-period",
        "-1m",
        "must not be negative",
    ),
    ("activator-capacity", "0.5", "at least 1"),
    ("initial-scale", "0", "allow-zero-initial-scale"),
    ("initial-scale", "-1", "at least 1"),
    ("allow-zero-initial-scale", "maybe", "Go boolean"),
    ("min-scale", "x", "whole number"),
    ("max-scale", "-3", "must be between 0 and max-scale-limit"),
    ("scale-down-delay", "1.5s", "whole number of seconds"),
    ("max-scale-limit", "2.5", "whole number"),
];

#[test]
fn every_config_key_rejects_a_bad_value_naming_the_key() {
    for (key, value, rule) in BAD_CONFIG {
        let data: HashMap<String, String> = [((*key).to_owned(), (*value).to_owned())].into();
        let err =
            AutoscalerConfig::from_map(&data).expect_err(&format!("{key}={value:?} is rejected"));
        assert_eq!(err.key, *key, "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("config-autoscaler: {key}: ")),
            "{text}"
        );
        assert!(text.contains(rule), "{text:?} states the rule {rule:?}");
    }
    // Knative reads pod-autoscaler-class as any string.
    for key in AutoscalerConfig::KEYS
        .iter()
        .filter(|k| **k != "pod-autoscaler-class")
    {
        assert!(
            BAD_CONFIG.iter().any(|(k, _, _)| k == key),
            "{key} has a bad-input case"
        );
    }
}

#[test]
fn cross_key_rules_name_the_key_that_breaks_them() {
    let data = [("min-scale", "5"), ("max-scale", "3")];
    assert_eq!(
        AutoscalerConfig::from_map(&data).unwrap_err().key,
        "min-scale"
    );
    let data = [("max-scale-limit", "10")];
    assert_eq!(
        AutoscalerConfig::from_map(&data).unwrap_err().key,
        "max-scale",
        "unlimited max-scale breaks a limit"
    );
    let data = [("max-scale-limit", "10"), ("max-scale", "20")];
    assert_eq!(
        AutoscalerConfig::from_map(&data).unwrap_err().key,
        "max-scale"
    );
}

#[test]
fn config_defaults_are_knatives_and_values_parse() {
    assert_eq!(
        AutoscalerConfig::from_map(&[] as &[(&str, &str)]),
        Ok(AutoscalerConfig::default())
    );
    let data = [
        ("container-concurrency-target-percentage", "0.8"),
        ("stable-window", "2m"),
        ("scale-to-zero-grace-period", "1m30s"),
        ("enable-scale-to-zero", "False"),
        ("initial-scale", "0"),
        ("allow-zero-initial-scale", "true"),
        ("max-scale", "7"),
        ("max-scale-limit", "10"),
    ];
    let c = AutoscalerConfig::from_map(&data).expect("valid");
    assert_eq!(
        c.container_concurrency_target_fraction, 0.8,
        "values in (0,1] are fractions"
    );
    assert_eq!(c.stable_window.as_secs(), 120);
    assert_eq!(c.scale_to_zero_grace_period.as_secs(), 90);
    assert!(!c.enable_scale_to_zero);
    assert_eq!(
        (c.initial_scale, c.max_scale, c.max_scale_limit),
        (0, 7, 10)
    );
}
