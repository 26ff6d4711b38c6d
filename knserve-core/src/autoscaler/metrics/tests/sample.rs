//! §2.5 steps 2 and 5: sample size and extrapolation.

use crate::autoscaler::metrics::{SCRAPER_POD_NAME, Stat, extrapolate, sample_size};

#[test]
fn sample_size_matches_the_spec_table() {
    let cases = [
        (0, 0),
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 4),
        (10, 7),
        (20, 9),
        (40, 12),
        (100, 14),
        (1_000, 16),
        (usize::MAX, 16),
    ];
    for (population, expected) in cases {
        assert_eq!(
            sample_size(population),
            expected,
            "N = {population}: n = N up to 3, else ceil(N·X / (N + X − 1))"
        );
    }
}

#[test]
fn sample_size_never_exceeds_16_or_the_population() {
    for population in 0..5_000 {
        let n = sample_size(population);
        assert!(n <= 16 && n <= population, "N = {population} gave n = {n}");
    }
}

fn stat(concurrency: f64, proxied: f64, requests: f64, uptime: f64) -> Stat {
    Stat {
        pod_name: "pod".into(),
        average_concurrent_requests: concurrency,
        average_proxied_concurrent_requests: proxied,
        request_count: requests,
        proxied_request_count: proxied,
        process_uptime: uptime,
        timestamp: None,
    }
}

#[test]
fn extrapolation_sums_the_sample_and_scales_every_field_by_n_over_sample() {
    let sampled = [stat(1.0, 0.5, 10.0, 100.0), stat(3.0, 0.5, 20.0, 50.0)];
    let whole = extrapolate(&sampled, 6).expect("two stats for six pods extrapolate");
    let expected = Stat {
        pod_name: SCRAPER_POD_NAME.into(),
        average_concurrent_requests: 12.0,
        average_proxied_concurrent_requests: 3.0,
        request_count: 90.0,
        proxied_request_count: 3.0,
        process_uptime: 450.0,
        timestamp: None,
    };
    assert_eq!(whole, expected, "every field is the sample's sum × 6 / 2");
}

#[test]
fn the_spec_example_scales_12_stats_by_40_over_12() {
    let sampled = vec![stat(1.0, 0.0, 1.0, 1.0); sample_size(40)];
    let whole = extrapolate(&sampled, 40).expect("12 stats for 40 pods");
    assert!(
        (whole.average_concurrent_requests - 40.0).abs() < 1e-9,
        "12 pods at concurrency 1 stand for 40 pods at 1"
    );
}

#[test]
fn nothing_is_extrapolated_from_no_stats_or_to_no_pods() {
    assert_eq!(extrapolate(&[], 5), None, "a failed scrape gives no sample");
    assert_eq!(
        extrapolate(&[stat(1.0, 0.0, 1.0, 1.0)], 0),
        None,
        "0 pods: scraping is skipped"
    );
}
