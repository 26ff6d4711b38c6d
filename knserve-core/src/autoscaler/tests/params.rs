//! §2.4: resolving the decider parameters.

use std::time::Duration;

use super::params_with;
use crate::autoscaler::Metric;

#[test]
fn resolves_the_worked_examples_of_section_2_4() {
    type Case = (u32, &'static [(&'static str, &'static str)], f64, f64);
    let cases: [Case; 5] = [
        (0, &[], 100.0, 70.0),
        (10, &[], 10.0, 7.0),
        (10, &[("target", "50")], 10.0, 7.0),
        (
            0,
            &[("target", "5"), ("target-utilization-percentage", "80")],
            5.0,
            4.0,
        ),
        (0, &[("metric", "rps")], 200.0, 140.0),
    ];
    for (cc, pairs, total, target) in cases {
        let p = params_with(cc, pairs);
        assert_eq!(p.total_value, total, "total for CC={cc} {pairs:?}");
        assert!(
            (p.target_value - target).abs() < 1e-9,
            "target for CC={cc} {pairs:?}: {}",
            p.target_value
        );
    }
}

#[test]
fn target_never_goes_below_a_hundredth() {
    let p = params_with(
        0,
        &[("target", "0.01"), ("target-utilization-percentage", "1")],
    );
    assert_eq!(p.target_value, 0.01, "targetValue = max(0.01, total × tu)");
}

#[test]
fn legacy_camel_case_keys_are_read_and_canonical_keys_win() {
    let p = params_with(
        0,
        &[("minScale", "1"), ("maxScale", "100"), ("target", "5")],
    );
    assert_eq!((p.min_scale, p.max_scale), (1, 100));
    let p = params_with(0, &[("minScale", "1"), ("min-scale", "3")]);
    assert_eq!(
        p.min_scale, 3,
        "the canonical spelling wins over the legacy alias"
    );
}

#[test]
fn panic_window_is_a_rounded_share_of_the_stable_window_of_at_least_a_second() {
    assert_eq!(params_with(0, &[]).panic_window, Duration::from_secs(6));
    assert_eq!(
        params_with(0, &[("window", "6s"), ("panic-window-percentage", "1")]).panic_window,
        Duration::from_secs(1)
    );
    assert_eq!(
        params_with(0, &[("window", "15s"), ("panic-window-percentage", "10")]).panic_window,
        Duration::from_secs(2)
    );
}

#[test]
fn defaults_follow_config_autoscaler() {
    let p = params_with(0, &[]);
    assert_eq!(p.metric, Metric::Concurrency);
    assert_eq!(p.panic_threshold, 2.0);
    assert_eq!(p.stable_window, Duration::from_secs(60));
    assert_eq!(p.target_burst_capacity, 211.0);
    assert_eq!(p.initial_scale, 1);
    assert_eq!(
        p.activation_timeout,
        Duration::from_secs(630),
        "progress deadline 600s + 30s"
    );
}
