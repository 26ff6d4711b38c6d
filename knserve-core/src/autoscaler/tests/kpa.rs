//! The multi-revision scaler: ticks, pokes and no-data.

use super::{params_with, secs};
use crate::autoscaler::metrics::Stat;
use crate::autoscaler::{Autoscaler, Kpa};

fn stat(concurrency: f64) -> Stat {
    Stat {
        average_concurrent_requests: concurrency,
        ..Stat::default()
    }
}

#[test]
fn tick_reports_revisions_whose_decision_changed() {
    let mut kpa = Kpa::new();
    kpa.upsert(secs(0), "a", params_with(0, &[]), 1);
    kpa.upsert(secs(0), "b", params_with(0, &[]), 1);
    for t in 0..4 {
        kpa.record(secs(t), &"a", &stat(140.0));
        kpa.record(secs(t), &"b", &stat(0.0));
    }
    let mut changed = vec![];
    kpa.tick(secs(4), &mut changed);
    changed.sort_by_key(|(k, _)| *k);
    let desired: Vec<_> = changed.iter().map(|(k, s)| (*k, s.desired)).collect();
    assert_eq!(
        desired,
        [("a", Some(2)), ("b", Some(0))],
        "first decisions are changes from unknown"
    );
    changed.clear();
    kpa.tick(secs(6), &mut changed);
    assert!(changed.is_empty(), "nothing changed: {changed:?}");
}

#[test]
fn a_request_at_zero_pokes_the_decider() {
    let mut kpa = Kpa::new();
    kpa.upsert(secs(0), "rev", params_with(0, &[]), 0);
    kpa.record(secs(0), &"rev", &stat(0.0));
    assert_eq!(kpa.decide(secs(1), &"rev").and_then(|s| s.desired), Some(0));
    assert!(
        !kpa.record(secs(2), &"rev", &stat(0.0)),
        "no demand, no poke"
    );
    assert!(
        kpa.record(secs(3), &"rev", &stat(1.0)),
        "demand at zero pokes"
    );
    assert_eq!(kpa.decide(secs(3), &"rev").and_then(|s| s.desired), Some(1));
    assert!(
        !kpa.record(secs(3), &"rev", &stat(1.0)),
        "no poke once desired is above zero"
    );
}

#[test]
fn no_data_keeps_the_previous_decision() {
    let mut kpa = Kpa::new();
    kpa.upsert(secs(0), "rev", params_with(0, &[]), 1);
    kpa.record(secs(0), &"rev", &stat(100.0));
    assert_eq!(kpa.decide(secs(2), &"rev").and_then(|s| s.desired), Some(2));
    // Scraped revision silent for more than a stable window: no decision.
    assert_eq!(
        kpa.decide(secs(200), &"rev").and_then(|s| s.desired),
        Some(2)
    );
}

#[test]
fn activator_only_revisions_average_an_empty_window_to_zero() {
    let mut kpa = Kpa::new();
    kpa.upsert(
        secs(0),
        "rev",
        params_with(0, &[("target-burst-capacity", "-1")]),
        1,
    );
    assert_eq!(
        kpa.decide(secs(200), &"rev").and_then(|s| s.desired),
        Some(0)
    );
}

#[test]
fn upsert_of_a_known_revision_keeps_its_window_data() {
    let mut kpa = Kpa::new();
    kpa.upsert(secs(0), "rev", params_with(0, &[]), 1);
    for t in 0..10 {
        kpa.record(secs(t), &"rev", &stat(140.0));
    }
    kpa.upsert(secs(10), "rev", params_with(0, &[("target", "10")]), 1);
    assert_eq!(
        kpa.decide(secs(10), &"rev").and_then(|s| s.desired),
        Some(20),
        "the window kept its data: ceil(140 / 7)"
    );
}
