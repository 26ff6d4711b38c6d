//! The KPA decider (spec §2.7): from window averages to a desired count.

use super::metrics::MaxTimeWindow;
use super::params::ScalingParams;
use crate::time::Timestamp;

/// What the decider is told at each tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeciderInput {
    /// Ready instances (endpoints) of the revision.
    pub ready: u32,
    /// Whether the revision is reachable from a route; unreachable revisions may drop to
    /// zero at once and ignore the scale-down delay.
    pub reachable: bool,
    /// The stable-window average of the scaling metric (revision total).
    pub stable: f64,
    /// The panic-window average of the scaling metric (revision total).
    pub panic: f64,
}

/// One decision of the decider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Desired instances, before min/max bounds and the scale-to-zero gate.
    pub desired: u32,
    /// Excess burst capacity in concurrent requests: negative puts the activator in the
    /// path; -1 when the target burst capacity is -1; 0 when it is 0.
    pub excess_burst_capacity: i32,
    /// Whether the decider is in panic mode after this decision.
    pub panicking: bool,
}

/// The per-revision decider.
///
/// States: **stable** (no panic time) and **panicking** (since the last over-threshold
/// tick). Flow: each [`decide`](Self::decide) computes stable and panic counts within the
/// rate limits; a panic-window demand of at least `panic_threshold × ready` enters or
/// extends panic; panic ends at the first tick under the threshold more than a stable
/// window after the last over-threshold tick. Guarantees: while panicking the count never
/// decreases; with a scale-down delay, a decrease applies only once the higher count has
/// aged out of the delay window; a reachable revision never drops below
/// `floor(max(1, ready) / max-scale-down-rate)` in one tick.
#[derive(Debug, Clone)]
pub struct Decider {
    panic_time: Option<Timestamp>,
    max_panic_pods: u32,
    delay_window: Option<MaxTimeWindow<u32>>,
}

impl Decider {
    /// A decider for a revision that has `ready` instances now.
    ///
    /// With more than one ready instance it starts panicking at that count, so a restart
    /// of the autoscaler never scales down before a stable window of data exists.
    pub fn new(now: Timestamp, ready: u32, params: &ScalingParams) -> Self {
        let mut decider = Self {
            panic_time: None,
            max_panic_pods: 0,
            delay_window: None,
        };
        if ready > 1 {
            decider.panic_time = Some(now);
            decider.max_panic_pods = ready;
        }
        decider.update(params);
        decider
    }

    /// Applies changed parameters (the scale-down delay window is created, resized or
    /// dropped; panic state is kept).
    pub fn update(&mut self, params: &ScalingParams) {
        let delay = params.scale_down_delay;
        match &mut self.delay_window {
            _ if delay.is_zero() => self.delay_window = None,
            Some(window) => window.resize(delay),
            None => self.delay_window = Some(MaxTimeWindow::new(delay)),
        }
    }

    /// Whether the decider is panicking.
    pub fn panicking(&self) -> bool {
        self.panic_time.is_some()
    }

    /// Decides the desired count at `now`.
    pub fn decide(
        &mut self,
        now: Timestamp,
        params: &ScalingParams,
        input: DeciderInput,
    ) -> Decision {
        let ready = f64::from(input.ready.max(1));
        let max_up = (params.max_scale_up_rate * ready).ceil();
        let max_down = if input.reachable {
            (ready / params.max_scale_down_rate).floor()
        } else {
            0.0
        };
        let dspc = (input.stable / params.target_value).ceil();
        let dppc = (input.panic / params.target_value).ceil();
        // Lower bound first, then upper, as Knative does.
        let mut desired_stable = to_count(dspc.max(max_down).min(max_up));
        let mut desired_panic = to_count(dppc.max(max_down).min(max_up));
        if params.activation_scale > 1 {
            if dspc > 0.0 {
                desired_stable = desired_stable.max(params.activation_scale);
            }
            if dppc > 0.0 {
                desired_panic = desired_panic.max(params.activation_scale);
            }
        }

        self.step_panic(now, params, dppc / ready >= params.panic_threshold);
        let mut desired = desired_stable;
        if self.panicking() {
            self.max_panic_pods = self.max_panic_pods.max(desired_stable.max(desired_panic));
            desired = self.max_panic_pods;
        }
        if input.reachable {
            if let Some(window) = &mut self.delay_window {
                window.record(now, desired);
                desired = window.current().unwrap_or(desired);
            }
        }
        Decision {
            desired,
            excess_burst_capacity: excess_burst_capacity(params, input.ready, input.panic),
            panicking: self.panicking(),
        }
    }

    fn step_panic(&mut self, now: Timestamp, params: &ScalingParams, over_threshold: bool) {
        match self.panic_time {
            _ if over_threshold => {
                if self.panic_time.is_none() {
                    tracing::info!(max_panic_pods = self.max_panic_pods, "entered panic mode");
                }
                self.panic_time = Some(now);
            }
            Some(since) if since + params.stable_window < now => {
                tracing::info!("left panic mode");
                self.panic_time = None;
                self.max_panic_pods = 0;
            }
            _ => {}
        }
    }
}

/// Excess burst capacity (§2.7 step 11): `floor(ready × total − TBC − panic)` when TBC > 0.
pub fn excess_burst_capacity(params: &ScalingParams, ready: u32, panic: f64) -> i32 {
    let tbc = params.target_burst_capacity;
    if tbc == 0.0 {
        0
    } else if tbc > 0.0 {
        // `as` saturates, matching an int32 conversion that cannot overflow here.
        (f64::from(ready) * params.total_value - tbc - panic).floor() as i32
    } else {
        -1
    }
}

/// A non-negative count from a float, saturating.
fn to_count(value: f64) -> u32 {
    value as u32
}
