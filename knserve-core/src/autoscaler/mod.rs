//! The KPA autoscaler (spec §2), as pure state machines.
//!
//! - [`annotations`]: the `autoscaling.knative.dev/*` annotations, typed and validated.
//! - [`ScalingParams`]: one revision's resolved parameters (§2.4).
//! - [`metrics`]: bucketed windows and the per-revision metric collector (§2.5, §2.6).
//! - [`Decider`]: from window averages to a desired count, with panic mode, rate
//!   limits, activation scale, scale-down delay and excess burst capacity (§2.7).
//! - [`PodAutoscaler`]: bounds, initial scale, the scale-to-zero gate, the `Active`
//!   condition, SKS mode and activator count (§2.8–§2.11).
//! - [`Kpa`]: the [`Autoscaler`] over thousands of revisions, with pokes at zero.
//! - [`write_autoscaler_metrics`]: one revision's figures under Knative's autoscaler
//!   metric names, for every backend's `/metrics`.
//!
//! How a decision travels: stats → [`Kpa::record`](Autoscaler::record) → every
//! [`TICK_INTERVAL`] [`Kpa::tick`](Autoscaler::tick) → [`DeciderStatus`] →
//! [`PodAutoscaler::reconcile`] → [`Reconciled`] (scale to apply, SKS mode, when to look
//! again).

mod annotation_rules;
pub mod annotations;
mod decider;
mod exposition;
mod kpa;
pub mod metrics;
mod params;
mod pod_autoscaler;
mod reachability;
mod scaler;

#[cfg(test)]
mod tests;

pub use self::annotations::{
    AutoscalingAnnotations, Metric, unknown_annotations, validate_annotations,
};
pub use self::decider::{Decider, DeciderInput, Decision, excess_burst_capacity};
pub use self::exposition::{DeciderFigures, write_autoscaler_metrics};
pub use self::kpa::{Kpa, TICK_INTERVAL};
pub use self::params::{DEFAULT_PROGRESS_DEADLINE, ScalingParams};
pub use self::pod_autoscaler::{
    Activity, DeciderStatus, InactiveReason, MIN_ACTIVATORS, Observed, PodAutoscaler, Reconciled,
    SksMode, activator_count,
};
pub use self::reachability::Reachability;
pub use self::scaler::Autoscaler;
