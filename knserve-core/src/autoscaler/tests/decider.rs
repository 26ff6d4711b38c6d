//! §2.7 and the worked examples of §2.13.

use super::{params_with, secs};
use crate::autoscaler::{Decider, DeciderInput, ScalingParams, activator_count};

fn input(ready: u32, stable: f64, panic: f64) -> DeciderInput {
    DeciderInput {
        ready,
        reachable: true,
        stable,
        panic,
    }
}

/// A decider created with no ready instances, so it does not start panicking.
fn calm(params: &ScalingParams) -> Decider {
    Decider::new(secs(0), 0, params)
}

#[test]
fn example_a_steady_scale_up_without_panic() {
    let p = params_with(0, &[]);
    let d = calm(&p).decide(secs(2), &p, input(3, 250.0, 300.0));
    assert_eq!(d.desired, 4, "ceil(250/70) = 4");
    assert!(!d.panicking, "5/3 < 2.0 is not over the panic threshold");
    assert_eq!(d.excess_burst_capacity, -211, "floor(3×100 − 211 − 300)");
    assert_eq!(activator_count(&p, 3), 6, "max(2, ceil((300 + 211)/100))");
}

#[test]
fn example_b_panic_holds_the_count_until_a_stable_window_passes() {
    let p = params_with(0, &[]);
    let mut decider = calm(&p);
    decider.decide(secs(2), &p, input(3, 250.0, 300.0));
    let d = decider.decide(secs(4), &p, input(3, 260.0, 700.0));
    assert!(d.panicking, "10/3 ≥ 2 starts panic");
    assert_eq!(d.desired, 10, "max(4, 10)");
    // Demand falls to 6 instances' worth with 10 ready: no longer over the threshold,
    // but panic holds the count for a stable window after the last over-threshold tick.
    for t in (6..=64).step_by(2) {
        let d = decider.decide(secs(t), &p, input(10, 260.0, 420.0));
        assert!(
            d.panicking,
            "still panicking at {t}s (last over-threshold tick at 4s)"
        );
        assert_eq!(d.desired, 10, "panic never lowers the count (at {t}s)");
    }
    let d = decider.decide(secs(66), &p, input(10, 260.0, 420.0));
    assert!(!d.panicking, "panic ends once 60s have passed since 4s");
    assert_eq!(
        d.desired, 5,
        "stable mode: max(ceil(260/70)=4, floor(10/2)=5)"
    );
}

#[test]
fn example_c_scale_down_is_rate_limited_unless_unreachable() {
    let p = params_with(0, &[]);
    let mut decider = calm(&p);
    let mut ready = 20;
    let mut seen = vec![];
    for t in 1..=5 {
        ready = decider
            .decide(secs(2 * t), &p, input(ready, 0.0, 0.0))
            .desired;
        seen.push(ready);
    }
    assert_eq!(
        seen,
        [10, 5, 2, 1, 0],
        "each tick halves the ready count at most"
    );
    let unreachable = DeciderInput {
        reachable: false,
        ..input(20, 0.0, 0.0)
    };
    assert_eq!(
        calm(&p).decide(secs(2), &p, unreachable).desired,
        0,
        "an unreachable revision drops to zero at once"
    );
}

#[test]
fn example_d_scale_up_is_rate_limited() {
    let p = params_with(0, &[]);
    let p = ScalingParams {
        max_scale_up_rate: 2.0,
        ..p
    };
    assert_eq!(
        calm(&p)
            .decide(secs(2), &p, input(3, 20.0 * 70.0, 0.0))
            .desired,
        6,
        "ceil(2 × 3)"
    );
    assert_eq!(
        calm(&p)
            .decide(secs(2), &p, input(0, 20.0 * 70.0, 0.0))
            .desired,
        2,
        "readyF = 1 at zero"
    );
}

#[test]
fn example_e_container_concurrency_one() {
    let p = params_with(1, &[]);
    let d = calm(&p).decide(secs(2), &p, input(8, 5.0, 5.0));
    assert_eq!(d.desired, 8, "ceil(5 / 0.7)");
    assert_eq!(d.excess_burst_capacity, -208, "floor(8×1 − 211 − 5)");
}

#[test]
fn example_f_zero_burst_capacity_never_asks_for_the_activator() {
    let p = params_with(0, &[("target-burst-capacity", "0")]);
    assert_eq!(
        calm(&p)
            .decide(secs(2), &p, input(1, 500.0, 500.0))
            .excess_burst_capacity,
        0
    );
    assert_eq!(activator_count(&p, 50), 2);
    let p = params_with(0, &[("target-burst-capacity", "-1")]);
    assert_eq!(
        calm(&p)
            .decide(secs(2), &p, input(100, 0.0, 0.0))
            .excess_burst_capacity,
        -1
    );
}

#[test]
fn example_g_activation_scale_applies_only_with_demand() {
    let p = params_with(0, &[("activation-scale", "3")]);
    let mut decider = calm(&p);
    assert_eq!(
        decider.decide(secs(2), &p, input(0, 0.1, 0.1)).desired,
        3,
        "dspc 1 is raised to 3"
    );
    assert_eq!(
        decider.decide(secs(4), &p, input(3, 0.0, 0.0)).desired,
        1,
        "no demand: scale-down proceeds (floor(3/2))"
    );
}

#[test]
fn example_h_scale_down_delay_holds_the_maximum_for_the_delay() {
    let p = params_with(0, &[("scale-down-delay", "60s")]);
    let mut decider = calm(&p);
    let demand = |n: f64| input(10, n * 70.0, 0.0);
    assert_eq!(decider.decide(secs(0), &p, demand(10.0)).desired, 10);
    assert_eq!(decider.decide(secs(2), &p, demand(10.0)).desired, 10);
    for t in (4..=60).step_by(2) {
        assert_eq!(
            decider.decide(secs(t), &p, demand(5.0)).desired,
            10,
            "the 10 recorded at 2s still counts at {t}s"
        );
    }
    assert_eq!(
        decider.decide(secs(62), &p, demand(5.0)).desired,
        5,
        "the 10 of slot 1 leaves the 30-slot window at slot 31"
    );
    let d = decider.decide(
        secs(64),
        &p,
        DeciderInput {
            reachable: false,
            ..demand(0.0)
        },
    );
    assert_eq!(d.desired, 0, "an unreachable revision ignores the delay");
}

#[test]
fn a_restarted_decider_with_several_ready_starts_panicking_at_that_count() {
    let p = params_with(0, &[]);
    let mut decider = Decider::new(secs(100), 7, &p);
    assert!(decider.panicking());
    let d = decider.decide(secs(102), &p, input(7, 0.0, 0.0));
    assert_eq!(d.desired, 7, "no scale-down before a stable window of data");
    assert!(
        !decider.decide(secs(161), &p, input(7, 0.0, 0.0)).panicking,
        "panic ends a stable window later"
    );
}

#[test]
fn rps_metric_steers_to_rps_target() {
    let p = params_with(0, &[("metric", "rps"), ("target", "10")]);
    assert!((p.target_value - 7.0).abs() < 1e-9);
    assert_eq!(
        calm(&p).decide(secs(2), &p, input(1, 70.0, 70.0)).desired,
        10
    );
}
