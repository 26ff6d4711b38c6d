//! §2.6 linear averaging, case by case.

use super::*;
use crate::autoscaler::metrics::{Algorithm, MAX_WINDOW, WindowAverager};

fn linear(window: u64) -> WindowAverager {
    WindowAverager::new(secs(window), Algorithm::Linear)
}

/// A window with `values[i]` recorded at second `start + i`.
fn written(window: u64, start: u64, values: &[f64]) -> WindowAverager {
    let mut w = linear(window);
    for (second, &value) in (start..).zip(values) {
        w.record(at(second), value);
    }
    w
}

#[test]
fn a_revision_that_exists_six_seconds_averages_over_six_buckets() {
    let w = written(60, 100, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(
        w.average(at(105)),
        3.5,
        "a partial window divides by the valid span lastWrite − firstWrite + 1, not by 60"
    );
}

#[test]
fn samples_in_the_same_second_sum_into_one_bucket() {
    let mut w = linear(10);
    w.record(at_ms(7_000), 2.0);
    w.record(at_ms(7_999), 3.0);
    assert_eq!(
        w.average(at(7)),
        5.0,
        "several sources in one second add up"
    );
}

#[test]
fn skipped_seconds_count_as_zero() {
    let mut w = linear(10);
    w.record(at(0), 10.0);
    w.record(at(4), 10.0);
    assert_eq!(
        w.average(at(4)),
        4.0,
        "the three seconds between two writes are zero buckets: 20 / 5"
    );
}

#[test]
fn gaps_zero_buckets_left_from_the_previous_lap_of_the_ring() {
    // Seconds 0..5 fill the ring; 5 and 9 overwrite it, 6..=8 must not keep 1, 2, 3.
    let mut w = written(5, 0, &[100.0, 1.0, 2.0, 3.0, 4.0]);
    w.record(at(5), 0.0);
    w.record(at(9), 5.0);
    assert_eq!(
        w.average(at(9)),
        1.0,
        "a gap zeroes the buckets it skips: (0+0+0+0+5) / 5"
    );
}

#[test]
fn a_write_older_than_last_write_minus_window_is_dropped() {
    let mut w = linear(5);
    w.record(at(10), 1.0);
    w.record(at(5), 100.0);
    assert_eq!(
        w.average(at(10)),
        1.0,
        "a write a full window before lastWrite is dropped"
    );
}

#[test]
fn a_late_write_within_the_window_lands_in_its_bucket_and_extends_first_write() {
    let mut w = linear(10);
    w.record(at(5), 4.0);
    w.record(at(3), 2.0);
    assert_eq!(
        w.average(at(5)),
        2.0,
        "a late write moves firstWrite back: (2 + 0 + 4) over 3 seconds"
    );
}

#[test]
fn the_average_follows_the_three_cases_of_now_against_last_write() {
    // Window 5, value = second, written every second 0..=9: the ring holds 5..=9.
    let w = written(5, 0, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let cases = [
        (
            8,
            7.0,
            "now before lastWrite: all buckets over min(span, n)",
        ),
        (9, 7.0, "now = lastWrite: (5+6+7+8+9) / 5"),
        (
            10,
            7.5,
            "1 s past lastWrite: the oldest bucket leaves, (6+7+8+9) / 4",
        ),
        (12, 8.5, "3 s past lastWrite: (8+9) / 2"),
        (13, 9.0, "4 s past lastWrite: the newest bucket alone"),
        (14, 0.0, "now − lastWrite ≥ window: 0"),
        (1_000, 0.0, "long after: 0"),
    ];
    for (now, expected, rule) in cases {
        assert_eq!(w.average(at(now)), expected, "at {now}s: {rule}");
    }
}

#[test]
fn past_last_write_the_divisor_is_the_smaller_of_span_and_remaining_buckets() {
    // A young revision: 3 s of data in a 10 s window, read 2 s later.
    let w = written(10, 0, &[3.0, 3.0, 3.0]);
    assert_eq!(
        w.average(at(4)),
        3.0,
        "min(lastWrite − firstWrite + 1 = 3, n − 2 = 8) = 3 buckets"
    );
}

#[test]
fn a_full_window_without_writes_restarts_first_write() {
    let mut w = written(5, 0, &[10.0, 10.0, 10.0, 10.0, 10.0]);
    w.record(at(9), 2.0);
    assert_eq!(
        w.average(at(9)),
        2.0,
        "after a window of silence the next write starts a fresh one-bucket window"
    );
}

#[test]
fn averages_are_rounded_to_six_decimal_places() {
    let cases = [
        (vec![1.0, 0.0, 0.0], 0.333_333, "1/3"),
        (
            vec![1.0, 1.0, 0.0],
            0.666_667,
            "2/3 rounds half up at the 7th place",
        ),
        (
            vec![0.000_000_4, 0.0, 0.0],
            0.0,
            "below half a millionth rounds to 0",
        ),
        (
            vec![-1.0, -1.0, 0.0],
            -0.666_667,
            "negatives round away from zero",
        ),
    ];
    for (values, expected, rule) in cases {
        let w = written(3, 0, &values);
        assert_eq!(w.average(at(2)), expected, "{rule}");
    }
}

#[test]
fn is_empty_only_after_more_than_a_window_without_writes() {
    let mut w = linear(5);
    assert!(w.is_empty(at(0)), "a window never written is empty");
    w.record(at(10), 1.0);
    assert!(
        !w.is_empty(at(15)),
        "exactly a window after the last write is not yet empty"
    );
    assert!(
        w.is_empty(at(16)),
        "more than a window after the last write is empty"
    );
    assert!(
        !w.is_empty(at(3)),
        "a `now` before the last write is not empty"
    );
}

#[test]
fn non_finite_samples_are_ignored() {
    let mut w = linear(5);
    w.record(at(0), f64::NAN);
    assert!(w.is_empty(at(0)), "a NaN sample is not a write");
    w.record(at(0), 4.0);
    w.record(at(0), f64::INFINITY);
    w.record(at(1), f64::NEG_INFINITY);
    assert_eq!(
        w.average(at(0)),
        4.0,
        "infinite samples neither add nor advance lastWrite"
    );
}

#[test]
fn resize_keeps_the_newest_buckets() {
    let w = written(5, 0, &[1.0, 2.0, 3.0, 4.0, 5.0]);

    let mut grown = w.clone();
    grown.resize(secs(10));
    assert_eq!(grown.bucket_count(), 10);
    assert_eq!(
        grown.average(at(4)),
        3.0,
        "growing keeps all 5 buckets and the span"
    );

    let mut shrunk = w.clone();
    shrunk.resize(secs(3));
    assert_eq!(
        shrunk.average(at(4)),
        4.0,
        "shrinking keeps the newest 3: (3+4+5) / 3"
    );

    shrunk.resize(secs(10));
    assert_eq!(
        shrunk.average(at(4)),
        4.0,
        "growing again cannot bring back dropped seconds, so they leave the valid span"
    );
}

#[test]
fn resize_keeps_a_young_windows_span() {
    let mut w = written(60, 0, &[6.0, 6.0, 6.0]);
    w.resize(secs(30));
    assert_eq!(
        w.average(at(2)),
        6.0,
        "3 s of data still average over 3 buckets"
    );
    w.record(at(3), 2.0);
    assert_eq!(w.average(at(3)), 5.0, "and keep accepting writes: 20 / 4");
}

#[test]
fn resize_then_write_across_the_old_ring_keeps_gaps_zero() {
    let mut w = written(3, 0, &[9.0, 9.0, 9.0]);
    w.resize(secs(6));
    w.record(at(5), 3.0);
    assert_eq!(w.average(at(5)), 5.0, "(9+9+9+0+0+3) / 6");
}

#[test]
fn windows_are_clamped_and_rounded_up_to_whole_buckets() {
    let cases = [
        (Duration::ZERO, 1, "a zero window still has one bucket"),
        (Duration::from_millis(6_500), 7, "ceil(6.5 s / 1 s) = 7"),
        (secs(60), 60, "the default stable window"),
        (Duration::MAX, 3_600, "longer than 1 h is clamped to 1 h"),
    ];
    for (window, buckets, rule) in cases {
        let w = WindowAverager::new(window, Algorithm::Linear);
        assert_eq!(w.bucket_count(), buckets, "{rule}");
    }
    assert_eq!(
        WindowAverager::new(Duration::MAX, Algorithm::Linear).window(),
        MAX_WINDOW
    );
}

#[test]
fn a_fractional_window_compares_whole_seconds_against_the_exact_length() {
    let mut w = WindowAverager::new(Duration::from_millis(6_500), Algorithm::Linear);
    w.record(at(0), 7.0);
    assert_eq!(w.average(at(6)), 7.0, "6 s < 6.5 s: the write still counts");
    assert!(!w.is_empty(at(6)), "6 s ≤ 6.5 s: not empty");
    assert_eq!(w.average(at(7)), 0.0, "7 s ≥ 6.5 s: 0");
    assert!(w.is_empty(at(7)), "7 s > 6.5 s: empty");
}

#[test]
fn a_window_never_written_averages_to_zero() {
    assert_eq!(linear(60).average(at(0)), 0.0, "no data reads as 0");
}
