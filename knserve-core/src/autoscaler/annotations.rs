//! `autoscaling.knative.dev/*` annotations: typed reading and validation (spec §2.3).
//!
//! Each annotation has a canonical kebab-case key and, for most, a legacy camelCase
//! alias; the canonical spelling wins when both are present. Validation reports every
//! problem at once, each as `annotations.<key as written>: <rule>, got "<value>"`,
//! relative to the metadata that carries the annotations (Knative's path form).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{AutoscalerConfig, PodAutoscalerClass};
use crate::duration::parse_duration;
use crate::error::FieldError;
use crate::goparse::{parse_float, parse_int};

use super::metrics::Algorithm;

/// The annotation group's prefix.
pub const GROUP: &str = "autoscaling.knative.dev/";

/// One annotation: its canonical key and its legacy alias, if it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnotationKey {
    /// The canonical (kebab-case) key.
    pub canonical: &'static str,
    /// The legacy (camelCase) alias.
    pub legacy: Option<&'static str>,
}

impl AnnotationKey {
    const fn new(canonical: &'static str, legacy: Option<&'static str>) -> Self {
        Self { canonical, legacy }
    }

    /// The key present in `annotations` (canonical first) and its value.
    pub fn get<'a>(
        &self,
        annotations: &'a BTreeMap<String, String>,
    ) -> Option<(&'static str, &'a str)> {
        std::iter::once(self.canonical)
            .chain(self.legacy)
            .find_map(|key| annotations.get(key).map(|v| (key, v.as_str())))
    }
}

macro_rules! keys {
    ($($(#[$doc:meta])* $name:ident = $canonical:literal $(, $legacy:literal)?;)*) => {
        $( $(#[$doc])* pub const $name: AnnotationKey =
            AnnotationKey::new(concat!("autoscaling.knative.dev/", $canonical),
                               keys!(@legacy $($legacy)?)); )*
        /// Every annotation of the group.
        pub const ALL: &[AnnotationKey] = &[$($name),*];
    };
    (@legacy) => { None };
    (@legacy $legacy:literal) => { Some(concat!("autoscaling.knative.dev/", $legacy)) };
}

keys! {
    /// `class`: the autoscaler implementation.
    CLASS = "class";
    /// `metric`: the scaling metric.
    METRIC = "metric";
    /// `target`: the per-instance value of the metric.
    TARGET = "target";
    /// `target-utilization-percentage`: the share of the target to steer to.
    TARGET_UTILIZATION_PERCENTAGE = "target-utilization-percentage", "targetUtilizationPercentage";
    /// `window`: the stable window.
    WINDOW = "window";
    /// `panic-window-percentage`: the panic window as a share of the stable window.
    PANIC_WINDOW_PERCENTAGE = "panic-window-percentage", "panicWindowPercentage";
    /// `panic-threshold-percentage`: demand over capacity that starts panic.
    PANIC_THRESHOLD_PERCENTAGE = "panic-threshold-percentage", "panicThresholdPercentage";
    /// `min-scale`: the lower bound.
    MIN_SCALE = "min-scale", "minScale";
    /// `max-scale`: the upper bound.
    MAX_SCALE = "max-scale", "maxScale";
    /// `initial-scale`: instances a new revision starts with.
    INITIAL_SCALE = "initial-scale", "initialScale";
    /// `activation-scale`: the least count when scaling from zero.
    ACTIVATION_SCALE = "activation-scale";
    /// `scale-down-delay`: how long lower demand must last before scaling down.
    SCALE_DOWN_DELAY = "scale-down-delay", "scaleDownDelay";
    /// `scale-to-zero-pod-retention-period`: how long the last instance is kept.
    SCALE_TO_ZERO_POD_RETENTION_PERIOD = "scale-to-zero-pod-retention-period", "scaleToZeroPodRetentionPeriod";
    /// `target-burst-capacity`: spare capacity to keep before the activator steps in.
    TARGET_BURST_CAPACITY = "target-burst-capacity", "targetBurstCapacity";
    /// `metric-aggregation-algorithm`: how the windows average.
    METRIC_AGGREGATION_ALGORITHM = "metric-aggregation-algorithm", "metricAggregationAlgorithm";
}

/// The metric a revision scales on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Requests in flight per instance (the KPA default).
    Concurrency,
    /// Requests per second per instance.
    Rps,
    /// CPU (HPA).
    Cpu,
    /// Memory (HPA).
    Memory,
    /// Any other metric, for an HPA with custom metrics.
    Other(String),
}

impl Metric {
    /// The metric a name stands for.
    pub fn from_name(name: &str) -> Self {
        match name {
            "concurrency" => Self::Concurrency,
            "rps" => Self::Rps,
            "cpu" => Self::Cpu,
            "memory" => Self::Memory,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The metric's name as written in annotations.
    pub fn name(&self) -> &str {
        match self {
            Self::Concurrency => "concurrency",
            Self::Rps => "rps",
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::Other(name) => name,
        }
    }
}

/// The autoscaling annotations of one revision, typed; absent ones are `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AutoscalingAnnotations {
    /// `class`.
    pub class: Option<PodAutoscalerClass>,
    /// `metric`.
    pub metric: Option<Metric>,
    /// `target`, in units of the metric per instance.
    pub target: Option<f64>,
    /// `target-utilization-percentage`, in percent.
    pub target_utilization_percentage: Option<f64>,
    /// `window`.
    pub window: Option<Duration>,
    /// `panic-window-percentage`, in percent.
    pub panic_window_percentage: Option<f64>,
    /// `panic-threshold-percentage`, in percent.
    pub panic_threshold_percentage: Option<f64>,
    /// `min-scale`, in instances.
    pub min_scale: Option<u32>,
    /// `max-scale`, in instances; 0 is unbounded.
    pub max_scale: Option<u32>,
    /// `initial-scale`, in instances.
    pub initial_scale: Option<u32>,
    /// `activation-scale`, in instances.
    pub activation_scale: Option<u32>,
    /// `scale-down-delay`.
    pub scale_down_delay: Option<Duration>,
    /// `scale-to-zero-pod-retention-period`.
    pub scale_to_zero_pod_retention_period: Option<Duration>,
    /// `target-burst-capacity`, in concurrent requests.
    pub target_burst_capacity: Option<f64>,
    /// `metric-aggregation-algorithm`.
    pub metric_aggregation_algorithm: Option<Algorithm>,
}

/// Checks every `autoscaling.knative.dev/*` rule against `config`, as Knative's
/// `autoscaling.ValidateAnnotations` does (values are not trimmed; numbers are Go's
/// `ParseFloat`/`ParseInt`, so `NaN`, `Inf` and `0x1p3` are numbers).
///
/// Returns every problem found; paths are relative to the metadata, in Knative's form
/// (`annotations.autoscaling.knative.dev/target`).
pub fn validate_annotations(
    annotations: &BTreeMap<String, String>,
    config: &AutoscalerConfig,
) -> Vec<FieldError> {
    super::annotation_rules::validate(annotations, config)
}

/// Keys under `autoscaling.knative.dev/` that knserve does not know, as warnings.
///
/// Knative ignores such keys, so they are accepted; a typo (`minscale`) would otherwise
/// pass unnoticed, so callers can show these to the user.
pub fn unknown_annotations(annotations: &BTreeMap<String, String>) -> Vec<FieldError> {
    annotations
        .keys()
        .filter(|k| k.starts_with(GROUP))
        .filter(|k| {
            !ALL.iter()
                .any(|a| a.canonical == *k || a.legacy == Some(k.as_str()))
        })
        .map(|k| {
            FieldError::new(
                format!("annotations.{k}"),
                "unknown autoscaling annotation, ignored",
            )
        })
        .collect()
}

impl AutoscalingAnnotations {
    /// Validates the annotations ([`validate_annotations`]) and reads their values.
    ///
    /// A class other than the KPA may bring its own algorithm names; an unknown one
    /// reads as linear, as Knative's collector does.
    pub fn parse(
        annotations: &BTreeMap<String, String>,
        config: &AutoscalerConfig,
    ) -> Result<Self, Vec<FieldError>> {
        let errors = validate_annotations(annotations, config);
        if !errors.is_empty() {
            return Err(errors);
        }
        let value = |key: AnnotationKey| key.get(annotations).map(|(_, v)| v);
        let float = |key| value(key).and_then(parse_float);
        let count = |key| {
            value(key)
                .and_then(|v| parse_int(v, 64).ok())
                .map(|v| u32::try_from(v.max(0)).unwrap_or(u32::MAX))
        };
        let duration = |key| value(key).and_then(|v| parse_duration(v).ok());
        Ok(Self {
            class: value(CLASS).map(PodAutoscalerClass::from_name),
            metric: value(METRIC).map(Metric::from_name),
            target: float(TARGET),
            target_utilization_percentage: float(TARGET_UTILIZATION_PERCENTAGE),
            window: duration(WINDOW),
            panic_window_percentage: float(PANIC_WINDOW_PERCENTAGE),
            panic_threshold_percentage: float(PANIC_THRESHOLD_PERCENTAGE),
            min_scale: count(MIN_SCALE),
            max_scale: count(MAX_SCALE),
            initial_scale: count(INITIAL_SCALE),
            activation_scale: count(ACTIVATION_SCALE),
            scale_down_delay: duration(SCALE_DOWN_DELAY),
            scale_to_zero_pod_retention_period: duration(SCALE_TO_ZERO_POD_RETENTION_PERIOD),
            target_burst_capacity: float(TARGET_BURST_CAPACITY),
            metric_aggregation_algorithm: value(METRIC_AGGREGATION_ALGORITHM)
                .map(|v| Algorithm::from_name(v).unwrap_or(Algorithm::Linear)),
        })
    }
}
