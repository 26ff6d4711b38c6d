//! §2.5 recording and the per-revision collector.

use super::*;
use crate::autoscaler::metrics::{
    Algorithm, MetricCollector, NoData, Stat, WindowAverager, panic_window,
};

fn collector(has_scrape_target: bool) -> MetricCollector {
    MetricCollector::new(secs(60), secs(6), Algorithm::Linear, has_scrape_target)
}

fn load(concurrency: f64, requests: f64) -> Stat {
    Stat {
        average_concurrent_requests: concurrency,
        request_count: requests,
        ..Stat::default()
    }
}

#[test]
fn proxied_requests_are_subtracted_so_they_are_not_counted_twice() {
    let mut c = collector(true);
    let stat = Stat {
        pod_name: "service-scraper".into(),
        average_concurrent_requests: 5.0,
        average_proxied_concurrent_requests: 2.0,
        request_count: 10.0,
        proxied_request_count: 4.0,
        ..Stat::default()
    };
    c.record(at(0), &stat);
    assert_eq!(
        c.stable_and_panic_concurrency(at(0)),
        Ok((3.0, 3.0)),
        "concurrency − proxied"
    );
    assert_eq!(
        c.stable_and_panic_rps(at(0)),
        Ok((6.0, 6.0)),
        "requests − proxied requests"
    );
}

#[test]
fn a_stat_is_recorded_at_its_own_timestamp_when_it_has_one() {
    let mut c = collector(true);
    c.record(at(0), &load(2.0, 2.0));
    let late = Stat {
        timestamp: Some(at(1)),
        ..load(4.0, 4.0)
    };
    c.record(at(30), &late);
    assert_eq!(
        c.stable_and_panic_concurrency(at(1)),
        Ok((3.0, 3.0)),
        "the stat lands in second 1, not at arrival (30 s)"
    );
}

#[test]
fn the_scraper_and_activators_reporting_in_one_second_add_up() {
    let mut c = collector(true);
    c.record(at_ms(3_100), &load(4.0, 8.0));
    c.record(at_ms(3_700), &load(1.0, 1.0));
    assert_eq!(
        c.stable_and_panic_concurrency(at(3)),
        Ok((5.0, 5.0)),
        "one bucket per second, summed"
    );
    assert_eq!(
        c.stable_and_panic_rps(at(3)),
        Ok((9.0, 9.0)),
        "one bucket per second, summed"
    );
}

#[test]
fn stable_and_panic_windows_average_over_their_own_lengths() {
    let mut c = collector(true);
    for second in 0..60 {
        let concurrency = if second < 54 { 0.0 } else { 10.0 };
        c.record(at(second), &load(concurrency, 0.0));
    }
    assert_eq!(
        c.stable_and_panic_concurrency(at(59)),
        Ok((1.0, 10.0)),
        "a 6 s burst of 10: the 60 s window reads 1, the 6 s window reads 10"
    );
}

#[test]
fn a_scraped_revision_without_data_for_a_stable_window_reports_no_data() {
    let mut c = collector(true);
    assert_eq!(
        c.stable_and_panic_concurrency(at(0)),
        Err(NoData),
        "nothing ever recorded"
    );
    c.record(at(0), &load(1.0, 1.0));
    assert_eq!(
        c.stable_and_panic_concurrency(at(60)),
        Ok((0.0, 0.0)),
        "exactly a window later there is still data, which averages to 0"
    );
    assert_eq!(
        c.stable_and_panic_concurrency(at(61)),
        Err(NoData),
        "more than a window: no data"
    );
    assert_eq!(
        c.stable_and_panic_rps(at(61)),
        Err(NoData),
        "the same for rps"
    );
}

#[test]
fn a_revision_without_scrape_target_averages_an_empty_window_to_zero() {
    let c = collector(false);
    assert_eq!(
        c.stable_and_panic_concurrency(at(0)),
        Ok((0.0, 0.0)),
        "TBC = −1: 0, not NoData"
    );
    assert_eq!(
        c.stable_and_panic_rps(at(500)),
        Ok((0.0, 0.0)),
        "TBC = −1: 0, not NoData"
    );
}

#[test]
fn no_data_is_a_typed_error() {
    let err: Box<dyn std::error::Error> = Box::new(NoData);
    assert!(
        err.is::<NoData>(),
        "callers match on the type, not the message"
    );
}

#[test]
fn update_resizes_the_windows_and_keeps_the_data() {
    let mut c = collector(true);
    for second in 0..10 {
        c.record(at(second), &load(second as f64, 0.0));
    }
    c.update(secs(30), secs(3), Algorithm::Linear);
    assert_eq!(
        c.stable_and_panic_concurrency(at(9)),
        Ok((4.5, 8.0)),
        "10 s of data over 10 buckets; the new 3 s panic window keeps 7, 8, 9"
    );
}

#[test]
fn update_can_switch_the_algorithm() {
    let mut c = collector(true);
    c.record(at(0), &load(10.0, 0.0));
    c.update(secs(60), secs(6), Algorithm::WeightedExponential);
    let (stable, _) = c
        .stable_and_panic_concurrency(at(0))
        .expect("data was recorded");
    assert!(
        (stable - 2.0).abs() < 1e-9,
        "60 buckets weigh the newest by α = 0.2: {stable}"
    );
}

#[test]
fn the_panic_window_is_the_rounded_percentage_of_the_stable_window() {
    let cases = [
        (60, 10.0, 6_000, "the defaults: 10 % of 60 s"),
        (60, 1.0, 1_000, "0.6 s rounds to 1 s"),
        (
            6,
            1.0,
            1_000,
            "0.06 s rounds to 0, raised to the 1 s minimum",
        ),
        (15, 10.0, 2_000, "1.5 s rounds half away from zero"),
        (14, 10.0, 1_000, "1.4 s rounds down"),
        (3_600, 100.0, 3_600_000, "100 % is the whole stable window"),
        (60, f64::NAN, 1_000, "a NaN percentage gives the minimum"),
        (60, -5.0, 1_000, "a negative percentage gives the minimum"),
    ];
    for (stable, pct, expected_ms, rule) in cases {
        assert_eq!(
            panic_window(secs(stable), pct),
            Duration::from_millis(expected_ms),
            "{rule}"
        );
    }
    assert_eq!(
        panic_window(secs(60), f64::INFINITY),
        Duration::MAX,
        "an infinite percentage saturates"
    );
}

#[test]
fn one_revision_collector_stays_well_under_2_kib() {
    let c = collector(true);
    let stack = std::mem::size_of::<MetricCollector>();
    let total = stack + c.heap_bytes();
    println!(
        "MetricCollector: {stack} B struct + {} B rings = {total} B",
        c.heap_bytes()
    );
    assert_eq!(
        c.heap_bytes(),
        2 * (60 + 6) * 8,
        "one f64 per bucket, four rings"
    );
    assert!(
        total < 1_536,
        "60 s / 6 s windows: {stack} B struct + {} B rings = {total} B, under 1.5 KiB",
        c.heap_bytes()
    );
    assert!(
        std::mem::size_of::<WindowAverager>() <= 64,
        "a ring's bookkeeping is small"
    );
}
