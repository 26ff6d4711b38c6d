//! §2.7 step 10: the scale-down-delay sliding maximum.

use super::*;
use crate::autoscaler::metrics::MaxTimeWindow;

#[test]
fn a_60s_delay_holds_10_until_the_10_has_aged_out() {
    // The decider ticks every 2 s: 10, 10, then 4 from then on.
    let mut w = MaxTimeWindow::new(secs(60));
    assert_eq!(w.slot_count(), 30, "60 s of 2-second slots");
    for tick in 0..40_u64 {
        let now = tick * 2;
        w.record(at(now), if tick < 2 { 10 } else { 4 });
        // The last 10 was recorded at t = 2 s; it is out once a record is 60 s after it.
        let expected = if now < 62 { 10 } else { 4 };
        assert_eq!(
            w.current(),
            Some(expected),
            "at {now}s: a decrease applies only once the higher value is 60 s old"
        );
    }
}

#[test]
fn an_increase_applies_at_once() {
    let mut w = MaxTimeWindow::new(secs(60));
    w.record(at(0), 4);
    w.record(at(2), 10);
    assert_eq!(
        w.current(),
        Some(10),
        "a higher value is the maximum immediately"
    );
}

#[test]
fn the_window_is_empty_before_the_first_record() {
    let w = MaxTimeWindow::<u32>::new(secs(60));
    assert_eq!(w.current(), None, "nothing recorded, no maximum");
}

#[test]
fn records_in_one_slot_keep_their_maximum() {
    let mut w = MaxTimeWindow::new(secs(10));
    w.record(at(4), 5);
    w.record(at(5), 3);
    assert_eq!(
        w.current(),
        Some(5),
        "4 s and 5 s share slot 2; the lower value does not win"
    );
    w.record(at(5), 7);
    assert_eq!(
        w.current(),
        Some(7),
        "a higher value in the same slot replaces it"
    );
}

#[test]
fn a_late_record_counts_at_the_newest_slot() {
    let mut w = MaxTimeWindow::new(secs(4));
    w.record(at(10), 1);
    w.record(at(2), 9);
    assert_eq!(w.current(), Some(9), "a late value is held, not dropped");
    w.record(at(12), 1);
    assert_eq!(
        w.current(),
        Some(9),
        "it lives from the newest slot (5), so still in at slot 6"
    );
    w.record(at(14), 1);
    assert_eq!(w.current(), Some(1), "and ages out 2 slots after it");
}

#[test]
fn a_zero_delay_keeps_only_the_current_slot() {
    let mut w = MaxTimeWindow::new(Duration::ZERO);
    w.record(at(0), 9);
    w.record(at(2), 1);
    assert_eq!(
        w.current(),
        Some(1),
        "with one slot the previous slot's value is gone"
    );
}

#[test]
fn an_odd_delay_rounds_up_to_whole_slots() {
    assert_eq!(
        MaxTimeWindow::<i32>::new(secs(5)).slot_count(),
        3,
        "ceil(5 s / 2 s)"
    );
    assert_eq!(
        MaxTimeWindow::<i32>::new(Duration::from_millis(4_001)).slot_count(),
        3,
        "ceil(4.001 s / 2 s)"
    );
}

#[test]
fn shrinking_the_delay_drops_values_outside_the_new_window() {
    let mut w = MaxTimeWindow::new(secs(60));
    w.record(at(0), 10);
    w.record(at(20), 4);
    w.resize(secs(10));
    assert_eq!(
        w.current(),
        Some(4),
        "the 10 is 10 slots old, outside a 5-slot window"
    );
}
