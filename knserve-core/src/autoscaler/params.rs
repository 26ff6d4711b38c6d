//! The decider's parameters for one revision (spec §2.4).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::AutoscalerConfig;
use crate::duration::parse_duration;
use crate::error::FieldError;

use super::annotations::{AutoscalingAnnotations, Metric};
use super::metrics::{Algorithm, panic_window};

/// The fixed utilization of metrics other than concurrency.
const RPS_TARGET_UTILIZATION: f64 = 0.7;

/// Everything the KPA needs to know about one revision's scaling, resolved from its
/// annotations, its `containerConcurrency` and `config-autoscaler`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingParams {
    /// The metric the decider steers on.
    pub metric: Metric,
    /// How the windows average.
    pub algorithm: Algorithm,
    /// Per-instance value of the metric the decider steers to (`total × utilization`, ≥ 0.01).
    pub target_value: f64,
    /// Per-instance capacity, used for burst capacity and activator count.
    pub total_value: f64,
    /// Panic starts when panic demand over ready instances reaches this ratio (2.0 = 200 %).
    pub panic_threshold: f64,
    /// The stable window.
    pub stable_window: Duration,
    /// The panic window (whole seconds, at least 1 s).
    pub panic_window: Duration,
    /// Target burst capacity, in concurrent requests; 0 off, -1 activator always in path.
    pub target_burst_capacity: f64,
    /// How long lower demand must last before a scale-down applies.
    pub scale_down_delay: Duration,
    /// The least count whenever there is demand; 0 or 1 mean none.
    pub activation_scale: u32,
    /// Instances a new revision starts with.
    pub initial_scale: u32,
    /// Lower bound while reachable.
    pub min_scale: u32,
    /// Upper bound; 0 is unbounded.
    pub max_scale: u32,
    /// Largest ratio desired / ready in one decision.
    pub max_scale_up_rate: f64,
    /// Largest ratio ready / desired in one decision.
    pub max_scale_down_rate: f64,
    /// When false, a desired 0 becomes 1.
    pub enable_scale_to_zero: bool,
    /// Upper bound on waiting for the activator before removing the last instance.
    pub scale_to_zero_grace_period: Duration,
    /// Least time the last instance is kept after the decision to go to zero.
    pub scale_to_zero_pod_retention_period: Duration,
    /// Concurrent requests one activator handles.
    pub activator_capacity: f64,
    /// How long an activation may take before it is abandoned (progress deadline + 30 s).
    pub activation_timeout: Duration,
}

/// The deployment progress deadline when neither annotation nor config sets one.
pub const DEFAULT_PROGRESS_DEADLINE: Duration = Duration::from_secs(600);
const ACTIVATION_TIMEOUT_BUFFER: Duration = Duration::from_secs(30);
/// The per-revision progress deadline annotation.
const PROGRESS_DEADLINE: &str = "serving.knative.dev/progress-deadline";

impl ScalingParams {
    /// Resolves the parameters as Knative does (§2.4).
    ///
    /// `container_concurrency` is the revision's CC (0 = unlimited); `progress_deadline`
    /// is the `serving.knative.dev/progress-deadline` annotation or the deployment default.
    pub fn resolve(
        annotations: &AutoscalingAnnotations,
        container_concurrency: u32,
        config: &AutoscalerConfig,
        progress_deadline: Duration,
    ) -> Self {
        let metric = annotations.metric.clone().unwrap_or(Metric::Concurrency);
        let (mut total, mut utilization) = match metric {
            Metric::Rps => (config.rps_target_default, RPS_TARGET_UTILIZATION),
            _ if container_concurrency > 0 => (
                f64::from(container_concurrency),
                config.container_concurrency_target_fraction,
            ),
            _ => (
                config.container_concurrency_target_default,
                config.container_concurrency_target_fraction,
            ),
        };
        if let Some(target) = annotations.target {
            total = if metric == Metric::Concurrency && container_concurrency > 0 {
                target.min(f64::from(container_concurrency))
            } else {
                target
            };
        }
        if let Some(pct) = annotations.target_utilization_percentage {
            utilization = pct / 100.0;
        }
        let stable_window = annotations.window.unwrap_or(config.stable_window);
        let panic_pct = annotations
            .panic_window_percentage
            .unwrap_or(config.panic_window_percentage);
        // An initial scale of 0 without the cluster's permission falls back to the
        // cluster default (the webhook rejects it; this covers objects that bypassed it).
        let initial_scale = match annotations.initial_scale {
            Some(0) if !config.allow_zero_initial_scale => config.initial_scale,
            Some(n) => n,
            None => config.initial_scale,
        };
        Self {
            metric,
            algorithm: annotations
                .metric_aggregation_algorithm
                .unwrap_or(Algorithm::Linear),
            target_value: (total * utilization).max(0.01),
            total_value: total,
            panic_threshold: annotations
                .panic_threshold_percentage
                .unwrap_or(config.panic_threshold_percentage)
                / 100.0,
            stable_window,
            panic_window: panic_window(stable_window, panic_pct),
            target_burst_capacity: annotations
                .target_burst_capacity
                .unwrap_or(config.target_burst_capacity),
            scale_down_delay: annotations
                .scale_down_delay
                .unwrap_or(config.scale_down_delay),
            activation_scale: annotations.activation_scale.unwrap_or(0),
            initial_scale,
            min_scale: annotations.min_scale.unwrap_or(config.min_scale),
            max_scale: annotations.max_scale.unwrap_or(config.max_scale),
            max_scale_up_rate: config.max_scale_up_rate,
            max_scale_down_rate: config.max_scale_down_rate,
            enable_scale_to_zero: config.enable_scale_to_zero,
            scale_to_zero_grace_period: config.scale_to_zero_grace_period,
            scale_to_zero_pod_retention_period: annotations
                .scale_to_zero_pod_retention_period
                .unwrap_or(config.scale_to_zero_pod_retention_period),
            activator_capacity: config.activator_capacity,
            activation_timeout: progress_deadline + ACTIVATION_TIMEOUT_BUFFER,
        }
    }

    /// Parameters for a revision from its annotations and `containerConcurrency` (a
    /// Revision's `metadata.annotations` and spec, or a template's), under `config`.
    ///
    /// The progress deadline comes from `serving.knative.dev/progress-deadline`, else
    /// `deployment_progress_deadline`. Errors are the annotation rules the revision
    /// breaks, with paths relative to the metadata.
    pub fn for_revision(
        annotations: &BTreeMap<String, String>,
        container_concurrency: Option<i64>,
        config: &AutoscalerConfig,
        deployment_progress_deadline: Duration,
    ) -> Result<Self, Vec<FieldError>> {
        let parsed = AutoscalingAnnotations::parse(annotations, config);
        let deadline = match annotations.get(PROGRESS_DEADLINE) {
            None => Ok(deployment_progress_deadline),
            Some(raw) => parse_duration(raw).map_err(|e| {
                FieldError::new(format!("annotations[{PROGRESS_DEADLINE}]"), e.to_string())
            }),
        };
        // A negative or absent CC is unlimited at runtime, as in Knative.
        let cc = container_concurrency
            .and_then(|cc| u32::try_from(cc).ok())
            .unwrap_or(0);
        match (parsed, deadline) {
            (Ok(parsed), Ok(deadline)) => Ok(Self::resolve(&parsed, cc, config, deadline)),
            (parsed, deadline) => {
                let mut errors = parsed.err().unwrap_or_default();
                errors.extend(deadline.err());
                Err(errors)
            }
        }
    }

    /// Parameters for a revision with no annotations under `config`.
    pub fn from_config(container_concurrency: u32, config: &AutoscalerConfig) -> Self {
        Self::resolve(
            &AutoscalingAnnotations::default(),
            container_concurrency,
            config,
            DEFAULT_PROGRESS_DEADLINE,
        )
    }

    /// True when metrics are scraped from instances (TBC ≠ -1); with TBC = -1 they come
    /// only from the activator, and an empty window means zero rather than "no data".
    pub fn has_scrape_target(&self) -> bool {
        self.target_burst_capacity != -1.0
    }
}
