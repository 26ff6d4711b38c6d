//! The annotation and `config-autoscaler` rules where Knative's Go parsing decides:
//! values are not trimmed, numbers are `ParseFloat`, booleans `ParseBool`.

use super::annotations;
use crate::autoscaler::validate_annotations;
use crate::autoscaler::{AutoscalingAnnotations, ScalingParams};
use crate::config::AutoscalerConfig;

fn errors_for(pairs: &[(&str, &str)]) -> Vec<String> {
    validate_annotations(&annotations(pairs), &AutoscalerConfig::default())
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn go_float_spellings_are_numbers_and_nan_passes_every_bound() {
    for (key, value) in [
        ("target", "NaN"),
        ("target", "+Inf"),
        ("target", "0x1p3"),
        ("target", "1_000"),
        ("panic-window-percentage", "nan"),
        ("panic-threshold-percentage", "NaN"),
        ("target-utilization-percentage", "NaN"),
        ("target-burst-capacity", "Inf"),
        ("target-burst-capacity", "NaN"),
    ] {
        assert_eq!(
            errors_for(&[(key, value)]),
            Vec::<String>::new(),
            "{key}={value}"
        );
    }
    for (key, value) in [
        ("target-utilization-percentage", "Inf"),
        ("target-burst-capacity", "-Inf"),
        ("target", "1e400"),
        ("target", "+nan"),
    ] {
        assert_eq!(
            errors_for(&[(key, value)]).len(),
            1,
            "{key}={value} is refused"
        );
    }
}

#[test]
fn values_with_surrounding_spaces_are_refused_not_trimmed() {
    for (key, value) in [
        ("min-scale", " 1"),
        ("target", "10 "),
        ("window", " 60s"),
        ("initial-scale", "1 "),
        ("scale-down-delay", "1s "),
    ] {
        let errors = errors_for(&[(key, value)]);
        assert_eq!(errors.len(), 1, "{key}={value:?}: {errors:?}");
        assert!(errors[0].starts_with(&format!("annotations.autoscaling.knative.dev/{key}:")));
    }
}

#[test]
fn the_algorithm_is_judged_only_under_an_explicit_kpa_class() {
    assert_eq!(
        errors_for(&[("metric-aggregation-algorithm", "median")]),
        Vec::<String>::new(),
        "without the class annotation any value is accepted, and read as linear"
    );
    let kpa = [("class", "kpa.autoscaling.knative.dev")];
    let errors = errors_for(&[kpa[0], ("metric-aggregation-algorithm", "median")]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("must be linear or weighted-exponential"));
    for ok in ["", "linear", "weighted-exponential", "weightedExponential"] {
        assert_eq!(
            errors_for(&[kpa[0], ("metricAggregationAlgorithm", ok)]),
            Vec::<String>::new()
        );
    }
}

#[test]
fn initial_scale_is_any_go_int_and_min_scale_an_int32() {
    assert_eq!(
        errors_for(&[("initial-scale", "3000000000")]),
        Vec::<String>::new()
    );
    assert_eq!(errors_for(&[("initial-scale", "+2")]), Vec::<String>::new());
    assert_eq!(errors_for(&[("min-scale", "3000000000")]).len(), 1);
}

#[test]
fn an_invalid_activation_scale_is_one_error() {
    let errors = errors_for(&[("min-scale", "3"), ("activation-scale", "1")]);
    assert_eq!(
        errors.len(),
        1,
        "Knative reports the first broken rule: {errors:?}"
    );
    assert!(errors[0].contains("must be at least min-scale (3)"));
}

#[test]
fn a_panic_window_under_one_second_is_accepted_and_clamped() {
    for data in [
        vec![("stable-window", "6s")],
        vec![("panic-window-percentage", "1")],
        vec![("stable-window", "6s"), ("panic-window-percentage", "1")],
    ] {
        let config = AutoscalerConfig::from_map(data.as_slice()).expect("Knative v0.50 accepts it");
        let params = ScalingParams::resolve(
            &AutoscalingAnnotations::default(),
            0,
            &config,
            super::super::DEFAULT_PROGRESS_DEADLINE,
        );
        assert!(
            params.panic_window.as_secs() >= 1,
            "the autoscaler clamps the panic window to 1s: {data:?}"
        );
    }
}

#[test]
fn config_booleans_are_go_parse_bool() {
    for (value, want) in [
        ("1", true),
        ("t", true),
        ("TRUE", true),
        ("F", false),
        ("0", false),
    ] {
        let config = AutoscalerConfig::from_map(&[("enable-scale-to-zero", value)]).expect(value);
        assert_eq!(config.enable_scale_to_zero, want, "{value}");
    }
    for bad in ["yes", "tRuE", " true", "on"] {
        assert!(
            AutoscalerConfig::from_map(&[("enable-scale-to-zero", bad)]).is_err(),
            "{bad:?} is not a Go bool"
        );
    }
}

#[test]
fn config_values_knative_does_not_bound_are_accepted() {
    for data in [
        [("panic-threshold-percentage", "-10")],
        [("pod-autoscaler-class", "")],
        [("max-scale-up-rate", "NaN")],
        [("container-concurrency-target-percentage", "NaN")],
    ] {
        assert!(AutoscalerConfig::from_map(&data).is_ok(), "{data:?}");
    }
    assert!(
        AutoscalerConfig::from_map(&[("stable-window", " 60s")]).is_err(),
        "durations are not trimmed"
    );
}
