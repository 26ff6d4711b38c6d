//! §2.6 weighted-exponential averaging.

use super::*;
use crate::autoscaler::metrics::weighted::{smoothing_coefficient, weighted_sum};
use crate::autoscaler::metrics::{Algorithm, WindowAverager};

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-9
}

#[test]
fn the_spec_golden_weights_10_10_5_5_to_5_544_with_coefficient_0_6() {
    // Oldest first [10, 10, 5, 5]; the sum walks newest first.
    let sum = weighted_sum([5.0, 5.0, 10.0, 10.0].into_iter(), 0.6, 0);
    assert!(
        close(sum, 5.544),
        "5·0.6 + 5·0.24 + 10·0.096 + 10·0.0384 = 5.544, got {sum}"
    );
    let reversed = weighted_sum([10.0, 10.0, 5.0, 5.0].into_iter(), 0.6, 0);
    assert!(
        close(reversed, 9.072),
        "newer buckets weigh more: reversed gives 9.072, got {reversed}"
    );
}

#[test]
fn the_coefficient_makes_the_window_carry_0_9999_of_the_weight_but_not_below_0_2() {
    let cases = [
        (1, 0.9999, "one bucket carries all of the 0.9999"),
        (4, 0.9, "1 − 0.0001^(1/4) = 0.9"),
        (10, 1.0 - 0.0001_f64.powf(0.1), "1 − 0.0001^(1/10) ≈ 0.6019"),
        (
            41,
            1.0 - 0.0001_f64.powf(1.0 / 41.0),
            "41 buckets is still above the floor",
        ),
        (42, 0.2, "from 42 buckets on the floor 0.2 applies"),
        (60, 0.2, "the default stable window uses the floor"),
        (
            6,
            1.0 - 0.0001_f64.powf(1.0 / 6.0),
            "the default panic window",
        ),
    ];
    for (buckets, alpha, rule) in cases {
        let actual = smoothing_coefficient(buckets);
        assert!(
            close(actual, alpha),
            "{rule}: expected {alpha}, got {actual}"
        );
    }
}

/// A 4-bucket window (α = 0.9) with oldest-first [10, 10, 5, 5] at seconds 0..=3.
fn golden_window() -> WindowAverager {
    let mut w = WindowAverager::new(secs(4), Algorithm::WeightedExponential);
    for (second, value) in [10.0, 10.0, 5.0, 5.0].into_iter().enumerate() {
        w.record(at(second as u64), value);
    }
    w
}

#[test]
fn the_averager_weights_its_buckets_newest_first() {
    let avg = golden_window().average(at(3));
    let expected = 5.0 * 0.9 + 5.0 * 0.09 + 10.0 * 0.009 + 10.0 * 0.0009;
    assert!(
        close(avg, expected),
        "α(1−α)^i from the newest bucket: {expected}, got {avg}"
    );
}

#[test]
fn k_seconds_past_last_write_start_k_steps_down_with_k_fewer_buckets() {
    let w = golden_window();
    let cases = [
        (4, 5.0 * 0.09 + 5.0 * 0.009 + 10.0 * 0.0009, "k = 1"),
        (5, 5.0 * 0.009 + 5.0 * 0.0009, "k = 2"),
        (7, 0.0, "k = window: no buckets left"),
        (8, 0.0, "more than a window: empty"),
    ];
    for (now, expected, rule) in cases {
        let avg = w.average(at(now));
        assert!(
            close(avg, expected),
            "{rule}: expected {expected}, got {avg}"
        );
    }
}

#[test]
fn weights_are_not_renormalized_for_a_partly_written_window() {
    let mut w = WindowAverager::new(secs(4), Algorithm::WeightedExponential);
    w.record(at(0), 10.0);
    let avg = w.average(at(0));
    assert!(
        close(avg, 9.0),
        "one bucket of 10 weighs α = 0.9, so the window reads 9, got {avg}"
    );
}

#[test]
fn switching_algorithm_keeps_the_buckets() {
    let mut w = golden_window();
    w.set_algorithm(Algorithm::Linear);
    assert_eq!(
        w.average(at(3)),
        7.5,
        "the same ring averaged linearly: 30 / 4"
    );
}

#[test]
fn resize_recomputes_the_coefficient_for_the_new_bucket_count() {
    let mut w = golden_window();
    w.resize(secs(60));
    let avg = w.average(at(3));
    let expected = 5.0 * 0.2 + 5.0 * 0.16 + 10.0 * 0.128 + 10.0 * 0.1024;
    assert!(
        close(avg, expected),
        "60 buckets use α = 0.2: {expected}, got {avg}"
    );
}

#[test]
fn algorithm_names_parse_as_the_annotation_spells_them() {
    let cases = [
        ("linear", Some(Algorithm::Linear)),
        ("weighted-exponential", Some(Algorithm::WeightedExponential)),
        ("weightedExponential", Some(Algorithm::WeightedExponential)),
        ("Linear", None),
        ("", None),
    ];
    for (name, expected) in cases {
        assert_eq!(
            Algorithm::from_name(name),
            expected,
            "annotation value {name:?}"
        );
    }
}
