//! Invariants from the spec, checked over generated inputs.

use std::time::Duration;

use proptest::prelude::*;

use super::{params_with, secs};
use crate::autoscaler::{
    Activity, Decider, DeciderInput, DeciderStatus, Observed, PodAutoscaler, ScalingParams, SksMode,
};
use crate::time::Timestamp;

fn arb_params() -> impl Strategy<Value = ScalingParams> {
    (
        0u32..20,
        prop_oneof![Just(0.0), Just(-1.0), 1.0..400.0f64],
        (1.1f64..5.0, 1.1f64..10.0),
        prop_oneof![Just(0u32), 2u32..6],
        (0u32..4, prop_oneof![Just(0u32), 4u32..30]),
        (1u32..4, prop_oneof![Just(0u64), 5u64..90]),
    )
        .prop_map(
            |(cc, tbc, (down, up), activation, (min, max), (initial, retention))| {
                let mut p = params_with(cc, &[]);
                p.target_burst_capacity = tbc;
                p.max_scale_down_rate = down;
                p.max_scale_up_rate = up;
                p.activation_scale = activation;
                p.min_scale = min;
                p.max_scale = max;
                p.initial_scale = initial;
                p.scale_to_zero_pod_retention_period = Duration::from_secs(retention);
                p.scale_to_zero_grace_period = Duration::from_secs(30);
                p.stable_window = Duration::from_secs(60);
                p
            },
        )
}

fn arb_inputs() -> impl Strategy<Value = Vec<(u32, bool, f64, f64)>> {
    prop::collection::vec(
        (
            0u32..60,
            prop::bool::weighted(0.9),
            0.0..3000.0f64,
            0.0..6000.0f64,
        ),
        1..60,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn applied_scale_stays_within_min_and_max(
        p in arb_params(),
        steps in prop::collection::vec((prop::option::weighted(0.9, 0u32..80), 0u32..80, any::<bool>(), any::<bool>()), 1..80),
    ) {
        let mut pa = PodAutoscaler::new(secs(0));
        for (i, (desired, ready, reachable, in_path)) in steps.into_iter().enumerate() {
            let observed = Observed { ready, reachable, activator_in_path: in_path };
            let status = DeciderStatus { desired, excess_burst_capacity: -1 };
            let out = pa.reconcile(secs(5 * i as u64), &p, status, observed);
            if let Some(n) = out.scale {
                if p.max_scale > 0 {
                    prop_assert!(n <= p.max_scale.max(1), "scale {n} above max {}", p.max_scale);
                }
                if reachable {
                    prop_assert!(n >= p.min_scale, "scale {n} below min {} while reachable", p.min_scale);
                }
            }
        }
    }

    #[test]
    fn no_scale_to_zero_inside_the_grace_period(
        p in arb_params(),
        steps in prop::collection::vec((prop::option::weighted(0.8, prop_oneof![3 => Just(0u32), 1 => 1u32..5]), 0u32..3, prop::bool::weighted(0.7), 1u64..20, prop_oneof![Just(-1), Just(5)]), 1..100),
    ) {
        let p = ScalingParams { min_scale: 0, ..p };
        let mut pa = PodAutoscaler::new(secs(0));
        let mut now = Timestamp::ZERO;
        let (mut inactive_since, mut proxy_since) = (None, Some(now));
        for (desired, ready, in_path, dt, ebc) in steps {
            now = now + Duration::from_secs(dt);
            let was_activating = pa.activity() == Activity::Activating;
            let observed = Observed { ready, reachable: true, activator_in_path: in_path };
            let out = pa.reconcile(now, &p, DeciderStatus { desired, excess_burst_capacity: ebc }, observed);
            if out.scale == Some(0) && !was_activating {
                let grace = p.scale_to_zero_grace_period;
                let inactive_for = inactive_since.map(|t| now.saturating_since(t));
                let proxy_for = proxy_since.map(|t| now.saturating_since(t));
                prop_assert!(inactive_for.is_some(), "scaled to zero without going inactive first");
                prop_assert!(p.target_burst_capacity == -1.0 || in_path, "scaled to zero without the activator in the path");
                prop_assert!(
                    inactive_for.unwrap() >= grace || proxy_for.is_some_and(|f| f >= grace),
                    "scaled to zero {:?} after going inactive and {:?} into proxy mode, grace {:?}",
                    inactive_for, proxy_for, grace
                );
                prop_assert!(inactive_for.unwrap() >= p.scale_to_zero_pod_retention_period, "retention not honoured");
            }
            match out.activity {
                Activity::Inactive(_) => { inactive_since.get_or_insert(now); }
                _ => inactive_since = None,
            }
            match out.mode {
                SksMode::Proxy => { proxy_since.get_or_insert(now); }
                SksMode::Serve => proxy_since = None,
            }
        }
    }

    #[test]
    fn panic_mode_never_lowers_the_count(p in arb_params(), inputs in arb_inputs()) {
        let p = ScalingParams { scale_down_delay: Duration::ZERO, ..p };
        let mut decider = Decider::new(secs(0), 0, &p);
        let mut previous: Option<u32> = None;
        for (i, (ready, reachable, stable, panic)) in inputs.into_iter().enumerate() {
            let was_panicking = decider.panicking();
            let d = decider.decide(secs(2 * i as u64 + 2), &p, DeciderInput { ready, reachable, stable, panic });
            if let (true, true, Some(prev)) = (was_panicking, d.panicking, previous) {
                prop_assert!(d.desired >= prev, "panic lowered the count from {prev} to {}", d.desired);
            }
            previous = Some(d.desired);
        }
    }

    #[test]
    fn reachable_revisions_scale_down_at_most_by_the_rate(p in arb_params(), inputs in arb_inputs()) {
        let mut decider = Decider::new(secs(0), 0, &p);
        for (i, (ready, reachable, stable, panic)) in inputs.into_iter().enumerate() {
            let d = decider.decide(secs(2 * i as u64 + 2), &p, DeciderInput { ready, reachable, stable, panic });
            if reachable {
                let floor = (f64::from(ready.max(1)) / p.max_scale_down_rate).floor() as u32;
                prop_assert!(d.desired >= floor, "{ready} ready dropped to {} below {floor}", d.desired);
            }
        }
    }

    #[test]
    fn excess_burst_capacity_follows_its_formula(p in arb_params(), ready in 0u32..500, panic in 0.0..10_000.0f64) {
        let mut decider = Decider::new(secs(0), 0, &p);
        let d = decider.decide(secs(2), &p, DeciderInput { ready, reachable: true, stable: 0.0, panic });
        let tbc = p.target_burst_capacity;
        let expected = if tbc == 0.0 { 0 } else if tbc == -1.0 { -1 } else {
            (f64::from(ready) * p.total_value - tbc - panic).floor() as i32
        };
        prop_assert_eq!(d.excess_burst_capacity, expected);
    }
}
