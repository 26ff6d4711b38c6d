//! The PodAutoscaler machine (spec §2.8–§2.11): from a decision to an applied scale.

use std::time::Duration;

use super::params::ScalingParams;
use crate::time::Timestamp;

/// The PA's `Active` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activity {
    /// Unknown: instances are being provisioned and requests are buffered (`Queued`).
    Activating,
    /// True: enough instances are ready.
    Active,
    /// False: the revision is not receiving traffic and may be at zero.
    Inactive(InactiveReason),
}

/// Why a PA is inactive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InactiveReason {
    /// `NoTraffic`: the target is not receiving traffic.
    NoTraffic,
    /// `TimedOut`: the target could not be activated within the activation timeout.
    TimedOut,
}

impl Activity {
    /// The condition's reason as Knative writes it.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Activating => "Queued",
            Self::Active => "",
            Self::Inactive(InactiveReason::NoTraffic) => "NoTraffic",
            Self::Inactive(InactiveReason::TimedOut) => "TimedOut",
        }
    }
}

/// How traffic reaches a revision (the ServerlessService mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SksMode {
    /// Requests go straight to the instances.
    Serve,
    /// Requests go through the activator, which buffers while capacity is short.
    Proxy,
}

/// What the decider last said about a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeciderStatus {
    /// Desired instances; `None` until the decider has data ("unknown", -1 in Knative).
    pub desired: Option<u32>,
    /// Excess burst capacity; negative puts the activator in the path.
    pub excess_burst_capacity: i32,
}

impl DeciderStatus {
    /// The status of a new decider: desired unknown, and burst capacity as if the
    /// revision ran at its initial scale.
    pub fn initial(params: &ScalingParams) -> Self {
        let tbc = params.target_burst_capacity;
        let ebc = if tbc == -1.0 || tbc == 0.0 {
            tbc as i32
        } else {
            (f64::from(params.initial_scale) * params.total_value - tbc) as i32
        };
        Self {
            desired: None,
            excess_burst_capacity: ebc,
        }
    }
}

/// What the backend observed about a revision at this reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// Ready instances behind a ready serverless service (0 while it is not ready).
    pub ready: u32,
    /// Whether a route references the revision.
    pub reachable: bool,
    /// The latest probe of the revision's public path answered `activator` (§2.10).
    /// Ignored when the target burst capacity is -1 (the activator is always there).
    pub activator_in_path: bool,
}

/// What the backend must do after a reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    /// Set the instance count to this, if it differs from the current count.
    pub scale: Option<u32>,
    /// What the PA wants (`status.desiredScale`); `None` while unknown.
    pub want: Option<u32>,
    /// The serverless service mode to program.
    pub mode: SksMode,
    /// How many activators should carry the revision's traffic in Proxy mode.
    pub activators: u32,
    /// Reconcile again after this long even if nothing changes.
    pub requeue_after: Option<Duration>,
    /// Probe whether the activator is in the path (every 1 s, up to 45 s) and reconcile
    /// again with the result.
    pub probe_activator: bool,
    /// The `Active` condition after this reconcile.
    pub activity: Activity,
    /// Whether the revision has reached its initial scale (never reverts).
    pub scale_target_initialized: bool,
}

/// The least number of activators in a revision's path.
pub const MIN_ACTIVATORS: u32 = 2;
/// How soon to look again when the PA is ready to go inactive but the SKS already proxies.
const PROXY_REQUEUE: Duration = Duration::from_secs(3);

/// One revision's PodAutoscaler: applies decisions within bounds and gates scale to zero.
///
/// States: [`Activity`] with the time it last changed, whether the initial scale was
/// reached, and the SKS mode with the time it last changed. Flow: a new revision starts
/// `Activating` in `Proxy` mode (its backend creates it at `initial_scale` instances);
/// each [`reconcile`](Self::reconcile) bounds the decision to `[min, max]`, and if the
/// result is zero walks the gate: an `Active` PA first turns `Inactive` after a stable
/// window (keeping one instance until then), then the last instance is removed only once
/// the activator is confirmed in the path and both the grace period (or time in Proxy
/// mode) and the retention period have passed. Guarantees: the applied scale is within
/// `[min, max]` (min 0 when unreachable); nothing scales to zero inside the grace period
/// of going inactive unless the SKS already proxied for that long; a failed activation
/// gives up after the activation timeout.
#[derive(Debug, Clone)]
pub struct PodAutoscaler {
    activity: Activity,
    activity_since: Timestamp,
    scale_target_initialized: bool,
    mode: SksMode,
    mode_since: Timestamp,
}

impl PodAutoscaler {
    /// A new revision's PA: activating, proxied.
    pub fn new(now: Timestamp) -> Self {
        Self {
            activity: Activity::Activating,
            activity_since: now,
            scale_target_initialized: false,
            mode: SksMode::Proxy,
            mode_since: now,
        }
    }

    /// The current `Active` condition.
    pub fn activity(&self) -> Activity {
        self.activity
    }

    /// The current SKS mode.
    pub fn mode(&self) -> SksMode {
        self.mode
    }

    /// Reconciles once: applies the decider's status within bounds and the gate.
    pub fn reconcile(
        &mut self,
        now: Timestamp,
        params: &ScalingParams,
        decider: DeciderStatus,
        observed: Observed,
    ) -> Reconciled {
        let mut out = Reconciled {
            scale: None,
            want: None,
            mode: self.mode,
            activators: MIN_ACTIVATORS,
            requeue_after: None,
            probe_activator: false,
            activity: self.activity,
            scale_target_initialized: self.scale_target_initialized,
        };
        self.scale(now, params, decider.desired, observed, &mut out);

        let mode = if out.want == Some(0)
            || decider.excess_burst_capacity < 0
            || (out.want.is_none() && matches!(self.activity, Activity::Inactive(_)))
        {
            SksMode::Proxy
        } else {
            SksMode::Serve
        };
        if mode != self.mode {
            tracing::debug!(?mode, "serverless service mode changed");
            self.mode = mode;
            self.mode_since = now;
        }
        out.mode = mode;
        out.activators = activator_count(params, observed.ready);
        self.update_activity(now, params, out.want, observed);
        out.activity = self.activity;
        out.scale_target_initialized = self.scale_target_initialized;
        out
    }

    /// `min` bound: min-scale while reachable, raised to the initial scale until reached.
    fn min_scale(&self, params: &ScalingParams, reachable: bool) -> u32 {
        if !reachable {
            return 0;
        }
        if params.initial_scale > 1 && !self.scale_target_initialized {
            params.min_scale.max(params.initial_scale)
        } else {
            params.min_scale
        }
    }

    /// §2.8: bounds, then the scale-to-zero gate.
    fn scale(
        &mut self,
        now: Timestamp,
        params: &ScalingParams,
        desired: Option<u32>,
        observed: Observed,
        out: &mut Reconciled,
    ) {
        if desired.is_none() && self.activity != Activity::Activating {
            return; // metrics are not yet being collected
        }
        let min = self.min_scale(params, observed.reachable);
        // An unknown desire while activating is bounded like 0 (Knative's -1 < min).
        let mut bounded = desired.unwrap_or(0).max(min);
        if params.max_scale > 0 {
            bounded = bounded.min(params.max_scale);
        }
        if bounded != 0 {
            out.want = Some(bounded);
            out.scale = Some(bounded);
            return;
        }
        if !params.enable_scale_to_zero {
            out.want = Some(1);
            out.scale = Some(1);
            return;
        }
        self.gate_zero(now, params, observed, out);
    }

    /// §2.10: whether a desired 0 may be applied now.
    fn gate_zero(
        &self,
        now: Timestamp,
        params: &ScalingParams,
        observed: Observed,
        out: &mut Reconciled,
    ) {
        let since = now.saturating_since(self.activity_since);
        match self.activity {
            Activity::Activating => {
                if since > params.activation_timeout {
                    tracing::info!(after = ?params.activation_timeout, "activation timed out");
                    (out.want, out.scale) = (Some(0), Some(0));
                } else {
                    out.requeue_after = Some(params.activation_timeout);
                }
            }
            Activity::Active if since >= params.stable_window => {
                // Report 0 so the PA turns inactive and the SKS proxies; scale later.
                out.want = Some(0);
                if self.mode == SksMode::Proxy {
                    out.requeue_after = Some(PROXY_REQUEUE);
                }
            }
            Activity::Active => {
                (out.want, out.scale) = (Some(1), Some(1));
                out.requeue_after = Some(params.stable_window - since);
            }
            Activity::Inactive(_) => {
                out.want = Some(0);
                let in_path = params.target_burst_capacity == -1.0 || observed.activator_in_path;
                if !in_path {
                    out.probe_activator = true;
                    return;
                }
                let wait = self.wait_before_zero(now, params, observed.reachable, since);
                match wait {
                    None => out.scale = Some(0),
                    Some(wait) => out.requeue_after = Some(wait),
                }
            }
        }
    }

    /// How much longer an inactive PA must keep its last instance; `None` if none.
    fn wait_before_zero(
        &self,
        now: Timestamp,
        params: &ScalingParams,
        reachable: bool,
        inactive_for: Duration,
    ) -> Option<Duration> {
        let retention = if reachable {
            params.scale_to_zero_pod_retention_period
        } else {
            Duration::ZERO
        };
        let grace = params.scale_to_zero_grace_period;
        if inactive_for >= grace.max(retention) {
            return None;
        }
        if !retention.is_zero() && inactive_for < retention {
            return Some(retention - inactive_for);
        }
        let proxy_for = match self.mode {
            SksMode::Proxy => now.saturating_since(self.mode_since),
            SksMode::Serve => Duration::ZERO,
        };
        // The fast path: the activator has fronted the revision for the whole grace.
        grace.checked_sub(proxy_for).filter(|wait| !wait.is_zero())
    }

    /// §2.9: the `Active` condition and `ScaleTargetInitialized`.
    fn update_activity(
        &mut self,
        now: Timestamp,
        params: &ScalingParams,
        want: Option<u32>,
        observed: Observed,
    ) {
        let min = if observed.reachable {
            params.min_scale
        } else {
            0
        };
        let min_ready = if self.scale_target_initialized {
            min.max(1)
        } else {
            min.max(params.initial_scale)
        };
        if observed.ready >= min_ready {
            self.scale_target_initialized = true;
        }
        let inactive = matches!(self.activity, Activity::Inactive(_));
        let wants_some = want.is_some_and(|w| w > 0);
        let next = if want == Some(0) || min_ready == 0 {
            if self.activity == Activity::Activating && min_ready > 0 {
                Activity::Inactive(InactiveReason::TimedOut)
            } else {
                Activity::Inactive(InactiveReason::NoTraffic)
            }
        } else if observed.ready < min_ready {
            if wants_some || !inactive {
                Activity::Activating
            } else {
                Activity::Inactive(InactiveReason::NoTraffic)
            }
        } else if wants_some || !inactive {
            Activity::Active
        } else {
            self.activity
        };
        if next != self.activity {
            tracing::debug!(from = ?self.activity, to = ?next, "activity changed");
            self.activity = next;
            self.activity_since = now;
        }
    }
}

/// Activators to put in a revision's path (§2.11).
pub fn activator_count(params: &ScalingParams, ready: u32) -> u32 {
    let tbc = params.target_burst_capacity;
    if tbc == 0.0 {
        return MIN_ACTIVATORS;
    }
    let mut capacity = f64::from(ready) * params.total_value;
    if tbc > 0.0 {
        capacity += tbc;
    }
    ((capacity / params.activator_capacity).ceil() as u32).max(MIN_ACTIVATORS)
}
