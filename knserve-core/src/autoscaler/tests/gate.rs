//! §2.8–§2.11: bounds, the scale-to-zero gate, the Active condition and SKS mode.

use std::time::Duration;

use super::{params_with, secs};
use crate::autoscaler::{
    Activity, DeciderStatus, InactiveReason, Observed, PodAutoscaler, Reconciled, ScalingParams,
    SksMode,
};
use crate::time::Timestamp;

fn status(desired: Option<u32>, ebc: i32) -> DeciderStatus {
    DeciderStatus {
        desired,
        excess_burst_capacity: ebc,
    }
}

fn seen(ready: u32) -> Observed {
    Observed {
        ready,
        reachable: true,
        activator_in_path: true,
    }
}

/// A PA that became Active at `t`, with as many instances ready as its bounds ask.
fn active_at(t: u64, p: &ScalingParams) -> PodAutoscaler {
    let mut pa = PodAutoscaler::new(secs(0));
    let ready = p.min_scale.max(p.initial_scale).max(1);
    let out = pa.reconcile(secs(t), p, status(Some(1), 0), seen(ready));
    assert_eq!(out.activity, Activity::Active);
    pa
}

fn reconcile_zero(
    pa: &mut PodAutoscaler,
    t: u64,
    p: &ScalingParams,
    observed: Observed,
) -> Reconciled {
    pa.reconcile(secs(t), p, status(Some(0), -211), observed)
}

#[test]
fn a_new_revision_waits_for_its_initial_scale_then_turns_active() {
    let p = params_with(0, &[]);
    let mut pa = PodAutoscaler::new(secs(0));
    let out = pa.reconcile(secs(0), &p, DeciderStatus::initial(&p), seen(0));
    assert_eq!(
        out.activity,
        Activity::Activating,
        "Queued while provisioning"
    );
    assert_eq!(
        (out.scale, out.want),
        (None, None),
        "an unknown desire is not applied while activating"
    );
    assert_eq!(out.mode, SksMode::Proxy);
    let out = pa.reconcile(secs(1), &p, DeciderStatus::initial(&p), seen(1));
    assert_eq!(out.activity, Activity::Active);
    assert!(out.scale_target_initialized);
}

#[test]
fn initial_scale_raises_the_lower_bound_until_reached() {
    let p = params_with(0, &[("initial-scale", "3")]);
    let mut pa = PodAutoscaler::new(secs(0));
    let out = pa.reconcile(secs(2), &p, status(Some(1), 0), seen(1));
    assert_eq!(out.scale, Some(3), "min is raised to the initial scale");
    assert_eq!(out.activity, Activity::Activating, "1 ready < 3");
    let out = pa.reconcile(secs(4), &p, status(Some(1), 0), seen(3));
    assert!(out.scale_target_initialized);
    let out = pa.reconcile(secs(6), &p, status(Some(1), 0), seen(3));
    assert_eq!(
        out.scale,
        Some(1),
        "once initialized the initial scale no longer bounds"
    );
}

#[test]
fn bounds_apply_min_then_max_and_unreachable_ignores_min() {
    let p = params_with(0, &[("min-scale", "2"), ("max-scale", "5")]);
    let mut pa = active_at(0, &p);
    assert_eq!(
        pa.reconcile(secs(2), &p, status(Some(0), 0), seen(2)).scale,
        Some(2)
    );
    assert_eq!(
        pa.reconcile(secs(4), &p, status(Some(9), 0), seen(2)).scale,
        Some(5)
    );
    let unreachable = Observed {
        reachable: false,
        ..seen(2)
    };
    let out = pa.reconcile(secs(70), &p, status(Some(0), 0), unreachable);
    assert_eq!(out.want, Some(0), "min-scale is ignored while unreachable");
}

#[test]
fn an_active_revision_keeps_one_instance_for_a_stable_window_then_turns_inactive() {
    let p = params_with(0, &[]);
    let mut pa = active_at(10, &p);
    let out = reconcile_zero(&mut pa, 40, &p, seen(1));
    assert_eq!(out.scale, Some(1), "active for 30s < 60s: keep one");
    assert_eq!(out.requeue_after, Some(Duration::from_secs(30)));
    let out = reconcile_zero(&mut pa, 70, &p, seen(1));
    assert_eq!(
        (out.scale, out.want),
        (None, Some(0)),
        "marks inactive without scaling"
    );
    assert_eq!(out.activity, Activity::Inactive(InactiveReason::NoTraffic));
    assert_eq!(out.mode, SksMode::Proxy);
}

#[test]
fn scale_to_zero_waits_for_the_activator_and_the_grace_period() {
    // TBC 0: the SKS serves directly while active, so the proxy fast path is not taken.
    let p = params_with(0, &[("target-burst-capacity", "0")]);
    let mut pa = PodAutoscaler::new(secs(0));
    pa.reconcile(secs(0), &p, status(Some(1), 0), seen(1));
    assert_eq!(pa.mode(), SksMode::Serve);
    reconcile_zero(&mut pa, 60, &p, seen(1)); // inactive at 60s, Proxy from 60s
    let no_activator = Observed {
        activator_in_path: false,
        ..seen(1)
    };
    let out = reconcile_zero(&mut pa, 62, &p, no_activator);
    assert!(
        out.probe_activator,
        "the activator must be confirmed in the path first"
    );
    assert_eq!(out.scale, None);
    let out = reconcile_zero(&mut pa, 70, &p, seen(1));
    assert_eq!(
        (out.scale, out.requeue_after),
        (None, Some(Duration::from_secs(20))),
        "grace 30s from 60s"
    );
    let out = reconcile_zero(&mut pa, 90, &p, seen(1));
    assert_eq!(
        out.scale,
        Some(0),
        "30s after going inactive the last instance goes"
    );
}

#[test]
fn a_revision_already_proxied_for_the_grace_period_takes_the_fast_path() {
    let p = params_with(0, &[]); // TBC 211: negative EBC keeps the activator in the path
    let mut pa = active_at(0, &p);
    pa.reconcile(secs(2), &p, status(Some(1), -200), seen(1));
    reconcile_zero(&mut pa, 62, &p, seen(1)); // inactive at 62s; proxied since 0s
    assert_eq!(
        reconcile_zero(&mut pa, 63, &p, seen(1)).scale,
        Some(0),
        "proxied for 63s ≥ 30s grace"
    );
}

#[test]
fn pod_retention_keeps_the_last_instance_for_its_period() {
    let p = params_with(0, &[("scale-to-zero-pod-retention-period", "90s")]);
    let mut pa = active_at(0, &p);
    reconcile_zero(&mut pa, 60, &p, seen(1));
    let out = reconcile_zero(&mut pa, 100, &p, seen(1));
    assert_eq!(
        (out.scale, out.requeue_after),
        (None, Some(Duration::from_secs(50)))
    );
    assert_eq!(reconcile_zero(&mut pa, 150, &p, seen(1)).scale, Some(0));
}

#[test]
fn an_activation_that_never_succeeds_gives_up_after_the_timeout() {
    let p = params_with(0, &[]);
    let mut pa = PodAutoscaler::new(secs(0));
    let out = pa.reconcile(secs(2), &p, status(Some(0), -1), seen(0));
    assert_eq!(
        (out.scale, out.want),
        (None, None),
        "still within progress deadline + 30s"
    );
    assert_eq!(out.requeue_after, Some(Duration::from_secs(630)));
    let out = pa.reconcile(secs(631), &p, status(Some(0), -1), seen(0));
    assert_eq!(out.scale, Some(0));
    assert_eq!(out.activity, Activity::Inactive(InactiveReason::TimedOut));
}

#[test]
fn disabled_scale_to_zero_keeps_one_instance() {
    let config = crate::config::AutoscalerConfig {
        enable_scale_to_zero: false,
        ..Default::default()
    };
    let p = super::params_under(0, &[], &config);
    let mut pa = active_at(0, &p);
    assert_eq!(reconcile_zero(&mut pa, 500, &p, seen(1)).scale, Some(1));
}

#[test]
fn sks_serves_directly_only_with_demand_and_burst_capacity() {
    let p = params_with(0, &[]);
    let mut pa = active_at(0, &p);
    assert_eq!(
        pa.reconcile(secs(2), &p, status(Some(3), 5), seen(3)).mode,
        SksMode::Serve
    );
    assert_eq!(
        pa.reconcile(secs(4), &p, status(Some(3), -1), seen(3)).mode,
        SksMode::Proxy
    );
    assert_eq!(
        pa.reconcile(secs(6), &p, status(Some(3), 0), seen(3)).mode,
        SksMode::Serve
    );
    let out = pa.reconcile(secs(8), &p, status(Some(3), 0), seen(3));
    assert_eq!(out.activators, 6, "ceil((3×100 + 211)/100)");
}

#[test]
fn a_scaled_to_zero_revision_reactivates_on_demand() {
    let p = params_with(0, &[]);
    let mut pa = active_at(0, &p);
    reconcile_zero(&mut pa, 60, &p, seen(1));
    reconcile_zero(&mut pa, 90, &p, seen(0));
    let out = pa.reconcile(
        Timestamp::from_secs(120),
        &p,
        status(Some(1), -211),
        seen(0),
    );
    assert_eq!(out.scale, Some(1));
    assert_eq!(out.activity, Activity::Activating);
    assert_eq!(
        out.mode,
        SksMode::Proxy,
        "requests stay buffered at the activator"
    );
    let out = pa.reconcile(secs(122), &p, status(Some(1), -211), seen(1));
    assert_eq!(out.activity, Activity::Active);
}
