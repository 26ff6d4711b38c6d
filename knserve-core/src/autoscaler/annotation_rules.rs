//! Knative's `autoscaling.ValidateAnnotations`, rule for rule
//! (`pkg/apis/autoscaling/annotation_validation.go`, serving v0.50).
//!
//! Values are judged as written, never trimmed. Numbers are Go's `ParseFloat`, so `NaN`
//! passes every bound (each comparison with it is false) and `+Inf` passes the lower
//! ones. Each error's path is the key as written (the canonical key for the min/max
//! pair and for `window` and `metric`, as in Knative), under `annotations.`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::annotations::{
    ACTIVATION_SCALE, AnnotationKey, CLASS, INITIAL_SCALE, MAX_SCALE, METRIC,
    METRIC_AGGREGATION_ALGORITHM, MIN_SCALE, PANIC_THRESHOLD_PERCENTAGE, PANIC_WINDOW_PERCENTAGE,
    SCALE_DOWN_DELAY, SCALE_TO_ZERO_POD_RETENTION_PERIOD, TARGET, TARGET_BURST_CAPACITY,
    TARGET_UTILIZATION_PERCENTAGE, WINDOW,
};
use crate::config::{AutoscalerConfig, PodAutoscalerClass};
use crate::duration::{DurationError, parse_duration};
use crate::error::FieldError;
use crate::goparse::{IntError, outside, parse_float, parse_int};

const WINDOW_MIN: Duration = Duration::from_secs(6);
const WINDOW_MAX: Duration = Duration::from_secs(3600);
const TARGET_MIN: f64 = 0.01;

/// Every rule, in Knative's order.
pub(super) fn validate(
    annotations: &BTreeMap<String, String>,
    config: &AutoscalerConfig,
) -> Vec<FieldError> {
    let mut v = Rules {
        annotations,
        errors: Vec::new(),
    };
    v.class();
    v.min_max_scale(config);
    v.floats();
    v.window();
    v.retention();
    v.scale_down_delay();
    v.metric(config);
    v.algorithm();
    v.initial_scale(config);
    v.errors
}

struct Rules<'a> {
    annotations: &'a BTreeMap<String, String>,
    errors: Vec<FieldError>,
}

impl<'a> Rules<'a> {
    fn get(&self, key: AnnotationKey) -> Option<(&'static str, &'a str)> {
        key.get(self.annotations)
    }

    fn fail(&mut self, key: &str, rule: impl std::fmt::Display, value: &str) {
        self.errors.push(FieldError::new(
            format!("annotations.{key}"),
            format!("{rule}, got {value:?}"),
        ));
    }

    fn class(&mut self) {
        if let Some((key, value)) = self.get(CLASS) {
            let known = [PodAutoscalerClass::KPA, PodAutoscalerClass::HPA];
            if value.ends_with(".knative.dev") && !known.contains(&value) {
                self.fail(
                    key,
                    "must be kpa.autoscaling.knative.dev or hpa.autoscaling.knative.dev (other classes must not end in .knative.dev)",
                    value,
                );
            }
        }
    }

    /// An int32 ≥ 0, or 0 after reporting the error (Knative's `getIntGE0`).
    fn int_ge0(&mut self, key: AnnotationKey) -> i64 {
        let Some((written, value)) = self.get(key) else {
            return 0;
        };
        match parse_int(value, 32) {
            Ok(v) if v >= 0 => v,
            Ok(_) | Err(IntError::Range) => {
                self.fail(written, "must be between 0 and 2147483647", value);
                0
            }
            Err(IntError::Syntax) => {
                self.fail(written, "must be a whole number", value);
                0
            }
        }
    }

    fn min_max_scale(&mut self, config: &AutoscalerConfig) {
        let min = self.int_ge0(MIN_SCALE);
        let max = self.int_ge0(MAX_SCALE);
        if max != 0 && max < min {
            let rule = format!("max-scale ({max}) must not be less than min-scale ({min})");
            for key in [MAX_SCALE.canonical, MIN_SCALE.canonical] {
                self.errors
                    .push(FieldError::new(format!("annotations.{key}"), rule.clone()));
            }
        }
        let limit = i64::from(config.max_scale_limit);
        if let Some((key, value)) = self.get(MAX_SCALE) {
            if limit > 0 && max > limit {
                self.fail(
                    key,
                    format!("must be between 1 and max-scale-limit ({limit})"),
                    value,
                );
            }
            if limit > 0 && max == 0 {
                self.fail(
                    key,
                    format!("must not be 0 (unlimited) when max-scale-limit is {limit}"),
                    value,
                );
            }
        }
        if let Some((key, value)) = self.get(ACTIVATION_SCALE) {
            let rule = match parse_int(value, 32) {
                Err(_) => "must be a whole number".to_owned(),
                Ok(n) if min > n => format!("must be at least min-scale ({min})"),
                Ok(n) if max < n && max != 0 => format!("must be at most max-scale ({max})"),
                Ok(n) if n < 2 => "must be at least 2".to_owned(),
                Ok(_) => return,
            };
            self.fail(key, rule, value);
        }
    }

    fn float(&mut self, key: AnnotationKey, check: impl FnOnce(f64) -> Option<String>) {
        let Some((written, value)) = self.get(key) else {
            return;
        };
        match parse_float(value) {
            None => self.fail(written, "must be a number", value),
            Some(v) => {
                if let Some(rule) = check(v) {
                    self.fail(written, rule, value);
                }
            }
        }
    }

    fn floats(&mut self) {
        let between = |min: f64, max: f64| {
            move |v: f64| outside(v, min, max).then(|| format!("must be between {min} and {max}"))
        };
        self.float(PANIC_WINDOW_PERCENTAGE, between(1.0, 100.0));
        self.float(PANIC_THRESHOLD_PERCENTAGE, between(110.0, 1000.0));
        self.float(TARGET, |v| {
            (v < TARGET_MIN).then(|| format!("must be at least {TARGET_MIN}"))
        });
        self.float(TARGET_UTILIZATION_PERCENTAGE, between(1.0, 100.0));
        self.float(TARGET_BURST_CAPACITY, |v| {
            (v < 0.0 && v != -1.0)
                .then(|| "must be at least 0, or -1 for an activator always in the path".into())
        });
    }

    /// A Go duration, where Knative's `time.ParseDuration` may yield a negative one.
    fn duration(
        &mut self,
        key: AnnotationKey,
    ) -> Option<(&'static str, &'a str, Result<Duration, ()>)> {
        let (written, value) = self.get(key)?;
        match parse_duration(value) {
            Ok(d) => Some((written, value, Ok(d))),
            Err(DurationError::Negative(_)) => Some((written, value, Err(()))),
            Err(_) => {
                self.fail(
                    written,
                    "must be a Go duration such as \"60s\" or \"1m30s\"",
                    value,
                );
                None
            }
        }
    }

    fn window(&mut self) {
        let Some((key, value, d)) = self.duration(WINDOW) else {
            return;
        };
        match d {
            Ok(d) if (WINDOW_MIN..=WINDOW_MAX).contains(&d) => {
                if d.subsec_nanos() != 0 {
                    self.fail(key, "must be a whole number of seconds", value);
                }
            }
            _ => self.fail(key, "must be between 6s and 1h", value),
        }
    }

    fn retention(&mut self) {
        if let Some((key, value, d)) = self.duration(SCALE_TO_ZERO_POD_RETENTION_PERIOD) {
            if d.is_err() || d.is_ok_and(|d| d > WINDOW_MAX) {
                self.fail(key, "must be between 0s and 1h", value);
            }
        }
    }

    fn scale_down_delay(&mut self) {
        let Some((key, value, d)) = self.duration(SCALE_DOWN_DELAY) else {
            return;
        };
        match d {
            Ok(d) if d <= WINDOW_MAX => {
                // Go's `d.Round(time.Second) != d`.
                if d.subsec_nanos() != 0 {
                    self.fail(key, "must be a whole number of seconds", value);
                }
            }
            _ => self.fail(key, "must be between 0s and 1h", value),
        }
    }

    fn metric(&mut self, config: &AutoscalerConfig) {
        let Some((key, metric)) = self.get(METRIC) else {
            return;
        };
        let class = self
            .get(CLASS)
            .map_or(config.pod_autoscaler_class.name(), |(_, c)| c);
        let rule = match class {
            PodAutoscalerClass::KPA if !matches!(metric, "concurrency" | "rps") => {
                "must be concurrency or rps for class kpa.autoscaling.knative.dev"
            }
            PodAutoscalerClass::HPA if metric.is_empty() => {
                "must not be empty for class hpa.autoscaling.knative.dev"
            }
            _ => return,
        };
        self.fail(key, rule, metric);
    }

    /// Only checked when the class annotation says KPA: without it, or for another
    /// class, any value is accepted (Knative's `validateAlgorithm`).
    fn algorithm(&mut self) {
        if self.get(CLASS).map(|(_, c)| c) != Some(PodAutoscalerClass::KPA) {
            return;
        }
        if let Some((key, value)) = self.get(METRIC_AGGREGATION_ALGORITHM) {
            let known = ["linear", "weighted-exponential", "weightedExponential"];
            if !value.is_empty() && !known.contains(&value) {
                self.fail(key, "must be linear or weighted-exponential", value);
            }
        }
    }

    /// Go's `Atoi`: any int64.
    fn initial_scale(&mut self, config: &AutoscalerConfig) {
        let Some((key, value)) = self.get(INITIAL_SCALE) else {
            return;
        };
        let rule = match parse_int(value, 64) {
            Err(_) => "must be a whole number",
            Ok(n) if n < 0 => "must be at least 0",
            Ok(0) if !config.allow_zero_initial_scale => {
                "must be at least 1 unless config-autoscaler allow-zero-initial-scale is true"
            }
            Ok(_) => return,
        };
        self.fail(key, rule, value);
    }
}
