//! `autoscaling.knative.dev/*` annotations: typed reading and validation (spec §2.3).
//!
//! Each annotation has a canonical kebab-case key and, for most, a legacy camelCase
//! alias; the canonical spelling wins when both are present. Validation reports every
//! problem at once, each as `annotations[<key as written>]: <rule>, got "<value>"`,
//! relative to the metadata that carries the annotations.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::autoscaler::{TARGET_MIN, check_burst_capacity, check_window};
use crate::config::{AutoscalerConfig, PodAutoscalerClass};
use crate::duration::parse_duration;
use crate::error::FieldError;

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

/// Checks every `autoscaling.knative.dev/*` rule of §2.3 against `config`.
///
/// Returns every problem found; paths are relative to the metadata
/// (`annotations[autoscaling.knative.dev/target]`).
pub fn validate_annotations(
    annotations: &BTreeMap<String, String>,
    config: &AutoscalerConfig,
) -> Vec<FieldError> {
    match AutoscalingAnnotations::parse(annotations, config) {
        Ok(_) => Vec::new(),
        Err(errors) => errors,
    }
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
                format!("annotations[{k}]"),
                "unknown autoscaling annotation, ignored",
            )
        })
        .collect()
}

fn path(key: &str) -> String {
    format!("annotations[{key}]")
}

fn invalid(key: &str, rule: impl std::fmt::Display, value: &str) -> FieldError {
    FieldError::new(path(key), format!("{rule}, got {value:?}"))
}

/// Reads annotations, recording each error in `errors`.
struct Reader<'a> {
    annotations: &'a BTreeMap<String, String>,
    errors: Vec<FieldError>,
}

impl Reader<'_> {
    fn read<T>(
        &mut self,
        key: AnnotationKey,
        check: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let (written, value) = key.get(self.annotations)?;
        match check(value.trim()) {
            Ok(v) => Some(v),
            Err(rule) => {
                self.errors.push(invalid(written, rule, value));
                None
            }
        }
    }

    fn float(&mut self, key: AnnotationKey, min: f64, max: Option<f64>) -> Option<f64> {
        self.read(key, |s| {
            let v = s.parse::<f64>().ok().filter(|v| v.is_finite());
            match (v, max) {
                (None, _) => Err("must be a number".into()),
                (Some(v), Some(max)) if v < min || v > max => {
                    Err(format!("must be between {min} and {max}"))
                }
                (Some(v), None) if v < min => Err(format!("must be at least {min}")),
                (Some(v), _) => Ok(v),
            }
        })
    }

    fn int(&mut self, key: AnnotationKey, min: u32) -> Option<u32> {
        self.read(key, |s| match s.parse::<i32>() {
            Ok(v) if i64::from(v) >= i64::from(min) => Ok(v as u32),
            Ok(_) => Err(format!("must be at least {min}")),
            Err(_) => Err("must be a whole number".into()),
        })
    }

    fn duration(
        &mut self,
        key: AnnotationKey,
        min: Duration,
        whole_seconds: bool,
    ) -> Option<Duration> {
        self.read(key, |s| {
            let d = parse_duration(s)
                .map_err(|_| "must be a Go duration such as \"60s\" or \"1m30s\"".to_owned())?;
            if d < min || d > Duration::from_secs(3600) {
                Err(format!(
                    "must be between {} and 1h",
                    crate::duration::format_duration(min)
                ))
            } else if whole_seconds && d.subsec_nanos() != 0 {
                Err("must be a whole number of seconds".into())
            } else {
                Ok(d)
            }
        })
    }
}

impl AutoscalingAnnotations {
    /// Reads and validates the annotations, reporting every problem.
    pub fn parse(
        annotations: &BTreeMap<String, String>,
        config: &AutoscalerConfig,
    ) -> Result<Self, Vec<FieldError>> {
        let mut r = Reader {
            annotations,
            errors: Vec::new(),
        };
        let class = r.read(CLASS, |s| {
            let class = PodAutoscalerClass::from_name(s);
            match class {
                PodAutoscalerClass::Other(_) if s.ends_with(".knative.dev") => Err(format!(
                    "must be {} or {} (other classes must not end in .knative.dev)",
                    PodAutoscalerClass::KPA,
                    PodAutoscalerClass::HPA
                )),
                _ => Ok(class),
            }
        });
        let effective_class = class
            .clone()
            .unwrap_or_else(|| config.pod_autoscaler_class.clone());
        let parsed = Self {
            metric: r.read(METRIC, |s| check_metric(&effective_class, s)),
            target: r.float(TARGET, TARGET_MIN, None),
            target_utilization_percentage: r.float(TARGET_UTILIZATION_PERCENTAGE, 1.0, Some(100.0)),
            window: r.read(WINDOW, |s| {
                let d = parse_duration(s)
                    .map_err(|_| "must be a Go duration such as \"60s\"".to_owned())?;
                check_window(d).map(|()| d).map_err(str::to_owned)
            }),
            panic_window_percentage: r.float(PANIC_WINDOW_PERCENTAGE, 1.0, Some(100.0)),
            panic_threshold_percentage: r.float(PANIC_THRESHOLD_PERCENTAGE, 110.0, Some(1000.0)),
            min_scale: r.int(MIN_SCALE, 0),
            max_scale: r.int(MAX_SCALE, 0),
            initial_scale: r.int(INITIAL_SCALE, 0),
            activation_scale: r.int(ACTIVATION_SCALE, 2),
            scale_down_delay: r.duration(SCALE_DOWN_DELAY, Duration::ZERO, true),
            scale_to_zero_pod_retention_period: r.duration(
                SCALE_TO_ZERO_POD_RETENTION_PERIOD,
                Duration::ZERO,
                false,
            ),
            target_burst_capacity: r.read(TARGET_BURST_CAPACITY, |s| {
                let v = s
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or("must be a number")?;
                check_burst_capacity(v).map(|()| v).map_err(str::to_owned)
            }),
            metric_aggregation_algorithm: r.read(METRIC_AGGREGATION_ALGORITHM, |s| {
                check_algorithm(&effective_class, s)
            }),
            class,
        };
        parsed.check_relations(annotations, config, &mut r.errors);
        if r.errors.is_empty() {
            Ok(parsed)
        } else {
            Err(r.errors)
        }
    }

    /// Rules that relate several values: bounds, limits, activation and initial scale.
    fn check_relations(
        &self,
        annotations: &BTreeMap<String, String>,
        config: &AutoscalerConfig,
        errors: &mut Vec<FieldError>,
    ) {
        let written = |key: AnnotationKey| key.get(annotations).map(|(k, v)| (k, v.to_owned()));
        let min = self.min_scale.unwrap_or(0);
        if let (Some(max), Some((key, value))) = (self.max_scale, written(MAX_SCALE)) {
            if max != 0 && max < min {
                errors.push(invalid(
                    key,
                    format!("must be at least min-scale ({min})"),
                    &value,
                ));
            }
            if config.max_scale_limit > 0 && (max == 0 || max > config.max_scale_limit) {
                errors.push(invalid(
                    key,
                    format!(
                        "must be between 1 and max-scale-limit ({})",
                        config.max_scale_limit
                    ),
                    &value,
                ));
            }
        }
        if let (Some(activation), Some((key, value))) =
            (self.activation_scale, written(ACTIVATION_SCALE))
        {
            let max = self.max_scale.unwrap_or(0);
            if activation < min {
                errors.push(invalid(
                    key,
                    format!("must be at least min-scale ({min})"),
                    &value,
                ));
            }
            if max > 0 && activation > max {
                errors.push(invalid(
                    key,
                    format!("must be at most max-scale ({max})"),
                    &value,
                ));
            }
        }
        if let (Some(0), Some((key, value))) = (self.initial_scale, written(INITIAL_SCALE)) {
            if !config.allow_zero_initial_scale {
                errors.push(invalid(
                    key,
                    "must be at least 1 unless config-autoscaler allow-zero-initial-scale is true",
                    &value,
                ));
            }
        }
    }
}

fn check_metric(class: &PodAutoscalerClass, value: &str) -> Result<Metric, String> {
    match class {
        PodAutoscalerClass::Kpa if !matches!(value, "concurrency" | "rps") => Err(format!(
            "must be concurrency or rps for class {}",
            PodAutoscalerClass::KPA
        )),
        PodAutoscalerClass::Hpa if value.is_empty() => Err(format!(
            "must not be empty for class {}",
            PodAutoscalerClass::HPA
        )),
        _ => Ok(Metric::from_name(value)),
    }
}

fn check_algorithm(class: &PodAutoscalerClass, value: &str) -> Result<Algorithm, String> {
    match Algorithm::from_name(value) {
        Some(algorithm) => Ok(algorithm),
        // Only the KPA reads the algorithm; other classes' values are theirs to judge.
        None if *class != PodAutoscalerClass::Kpa => Ok(Algorithm::Linear),
        None => Err("must be linear or weighted-exponential".into()),
    }
}
