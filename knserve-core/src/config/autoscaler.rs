//! `config-autoscaler`: the cluster's autoscaling defaults.

use std::time::Duration;

use super::{InvalidConfig, Lookup, Parser};
use crate::duration::format_duration;
use crate::goparse::outside;

/// The autoscaler implementation a revision asks for
/// (`autoscaling.knative.dev/class` or `pod-autoscaler-class`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PodAutoscalerClass {
    /// `kpa.autoscaling.knative.dev`: Knative's request-driven autoscaler, with scale to zero.
    Kpa,
    /// `hpa.autoscaling.knative.dev`: a Kubernetes HorizontalPodAutoscaler on cpu or memory.
    Hpa,
    /// Any other class, left to an autoscaler outside knserve.
    Other(String),
}

impl PodAutoscalerClass {
    /// The KPA class name.
    pub const KPA: &'static str = "kpa.autoscaling.knative.dev";
    /// The HPA class name.
    pub const HPA: &'static str = "hpa.autoscaling.knative.dev";

    /// The class a name stands for.
    pub fn from_name(name: &str) -> Self {
        match name {
            Self::KPA => Self::Kpa,
            Self::HPA => Self::Hpa,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The class's name as written in annotations.
    pub fn name(&self) -> &str {
        match self {
            Self::Kpa => Self::KPA,
            Self::Hpa => Self::HPA,
            Self::Other(name) => name,
        }
    }
}

/// `config-autoscaler`, with Knative's keys and defaults (`Default`).
///
/// Rates and percentages are plain numbers; windows are durations.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoscalerConfig {
    /// `container-concurrency-target-percentage`, as a fraction in (0, 1] (70 → 0.7).
    pub container_concurrency_target_fraction: f64,
    /// `container-concurrency-target-default`: per-instance concurrency when CC = 0.
    pub container_concurrency_target_default: f64,
    /// `requests-per-second-target-default`: per-instance requests per second.
    pub rps_target_default: f64,
    /// `target-burst-capacity`: spare concurrent requests to keep; 0 off, -1 activator always.
    pub target_burst_capacity: f64,
    /// `stable-window`: the averaging window, in whole seconds within [6s, 1h].
    pub stable_window: Duration,
    /// `panic-window-percentage`: the panic window as a percentage of the stable window.
    pub panic_window_percentage: f64,
    /// `panic-threshold-percentage`: demand over capacity, in percent, that starts panic.
    pub panic_threshold_percentage: f64,
    /// `max-scale-up-rate`: the largest ratio of desired to ready instances in one decision.
    pub max_scale_up_rate: f64,
    /// `max-scale-down-rate`: the largest ratio of ready to desired instances in one decision.
    pub max_scale_down_rate: f64,
    /// `enable-scale-to-zero`: when false, a desired 0 becomes 1.
    pub enable_scale_to_zero: bool,
    /// `scale-to-zero-grace-period`: how long to wait for the activator before removing
    /// the last instance.
    pub scale_to_zero_grace_period: Duration,
    /// `scale-to-zero-pod-retention-period`: how long the last instance is kept after the
    /// decision to go to zero.
    pub scale_to_zero_pod_retention_period: Duration,
    /// `pod-autoscaler-class`: the class of revisions without the class annotation.
    pub pod_autoscaler_class: PodAutoscalerClass,
    /// `activator-capacity`: concurrent requests one activator is assumed to handle.
    pub activator_capacity: f64,
    /// `initial-scale`: instances a new revision starts with.
    pub initial_scale: u32,
    /// `allow-zero-initial-scale`: whether an initial scale of 0 is permitted.
    pub allow_zero_initial_scale: bool,
    /// `min-scale`: the lower bound of revisions without the annotation.
    pub min_scale: u32,
    /// `max-scale`: the upper bound of revisions without the annotation; 0 is unbounded.
    pub max_scale: u32,
    /// `scale-down-delay`: how long lower demand must last before a scale-down applies.
    pub scale_down_delay: Duration,
    /// `max-scale-limit`: if > 0, the largest max-scale a revision may ask for.
    pub max_scale_limit: u32,
}

impl Default for AutoscalerConfig {
    fn default() -> Self {
        Self {
            container_concurrency_target_fraction: 0.7,
            container_concurrency_target_default: 100.0,
            rps_target_default: 200.0,
            target_burst_capacity: 211.0,
            stable_window: Duration::from_secs(60),
            panic_window_percentage: 10.0,
            panic_threshold_percentage: 200.0,
            max_scale_up_rate: 1000.0,
            max_scale_down_rate: 2.0,
            enable_scale_to_zero: true,
            scale_to_zero_grace_period: Duration::from_secs(30),
            scale_to_zero_pod_retention_period: Duration::ZERO,
            pod_autoscaler_class: PodAutoscalerClass::Kpa,
            activator_capacity: 100.0,
            initial_scale: 1,
            allow_zero_initial_scale: false,
            min_scale: 0,
            max_scale: 0,
            scale_down_delay: Duration::ZERO,
            max_scale_limit: 0,
        }
    }
}

/// The smallest per-instance target the autoscaler steers to.
pub(crate) const TARGET_MIN: f64 = 0.01;
/// The shortest and longest stable window.
pub(crate) const WINDOW_MIN: Duration = Duration::from_secs(6);
pub(crate) const WINDOW_MAX: Duration = Duration::from_secs(3600);

impl AutoscalerConfig {
    /// The config map's name.
    pub const NAME: &'static str = "config-autoscaler";

    /// Every key this map reads.
    pub const KEYS: &'static [&'static str] = &[
        "container-concurrency-target-percentage",
        "container-concurrency-target-default",
        "requests-per-second-target-default",
        "target-burst-capacity",
        "stable-window",
        "panic-window-percentage",
        "panic-threshold-percentage",
        "max-scale-up-rate",
        "max-scale-down-rate",
        "enable-scale-to-zero",
        "scale-to-zero-grace-period",
        "scale-to-zero-pod-retention-period",
        "pod-autoscaler-class",
        "activator-capacity",
        "initial-scale",
        "allow-zero-initial-scale",
        "min-scale",
        "max-scale",
        "scale-down-delay",
        "max-scale-limit",
    ];

    /// Parses the map as Knative's `NewConfigFromMap`: every key in Knative's order (the
    /// first bad value is reported), strings trimmed and nothing else, then Knative's
    /// rules in Knative's order.
    ///
    /// A panic window under one second (`stable-window: 6s`, or
    /// `panic-window-percentage: 1`) is accepted: the autoscaler clamps it to 1 s.
    pub fn from_map(data: &(impl Lookup + ?Sized)) -> Result<Self, InvalidConfig> {
        let p = Parser::new(Self::NAME, data);
        let d = Self::default();
        let secs = |d: Duration| d.as_nanos() as i128;
        let class = p.string("pod-autoscaler-class", PodAutoscalerClass::KPA);
        let mut raw = Raw {
            enable_scale_to_zero: p.boolean("enable-scale-to-zero", d.enable_scale_to_zero)?,
            allow_zero_initial_scale: p
                .boolean("allow-zero-initial-scale", d.allow_zero_initial_scale)?,
            max_scale_up_rate: p.float("max-scale-up-rate", d.max_scale_up_rate)?,
            max_scale_down_rate: p.float("max-scale-down-rate", d.max_scale_down_rate)?,
            target_fraction: p.float(
                "container-concurrency-target-percentage",
                d.container_concurrency_target_fraction,
            )?,
            target_default: p.float(
                "container-concurrency-target-default",
                d.container_concurrency_target_default,
            )?,
            rps_target_default: p
                .float("requests-per-second-target-default", d.rps_target_default)?,
            target_burst_capacity: p.float("target-burst-capacity", d.target_burst_capacity)?,
            panic_window_percentage: p
                .float("panic-window-percentage", d.panic_window_percentage)?,
            activator_capacity: p.float("activator-capacity", d.activator_capacity)?,
            panic_threshold_percentage: p
                .float("panic-threshold-percentage", d.panic_threshold_percentage)?,
            initial_scale: p.int("initial-scale", d.initial_scale.into(), 32)?,
            min_scale: p.int("min-scale", d.min_scale.into(), 32)?,
            max_scale: p.int("max-scale", d.max_scale.into(), 32)?,
            max_scale_limit: p.int("max-scale-limit", d.max_scale_limit.into(), 32)?,
            stable_window: p.signed_duration("stable-window", secs(d.stable_window))?,
            scale_down_delay: p.signed_duration("scale-down-delay", secs(d.scale_down_delay))?,
            grace_period: p.signed_duration(
                "scale-to-zero-grace-period",
                secs(d.scale_to_zero_grace_period),
            )?,
            retention_period: p.signed_duration(
                "scale-to-zero-pod-retention-period",
                secs(d.scale_to_zero_pod_retention_period),
            )?,
        };
        // Knative's legacy reading: values above 1 are percentages, the rest fractions.
        if raw.target_fraction > 1.0 {
            raw.target_fraction /= 100.0;
        }
        raw.check()?;
        Ok(raw.into_config(PodAutoscalerClass::from_name(&class)))
    }

    /// Checks Knative's rules (`config.validate` in serving's `pkg/autoscaler/config`).
    ///
    /// Knative does not bound `panic-threshold-percentage` in the config map (only the
    /// annotation, to [110, 1000]), nor the panic window's length (the autoscaler clamps
    /// it to at least 1 s); neither does this.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        Raw::from(self).check()
    }
}

/// `config-autoscaler` as Go holds it before validation: signed ints, signed durations
/// (nanoseconds) and the target as a fraction.
struct Raw {
    enable_scale_to_zero: bool,
    allow_zero_initial_scale: bool,
    max_scale_up_rate: f64,
    max_scale_down_rate: f64,
    target_fraction: f64,
    target_default: f64,
    rps_target_default: f64,
    target_burst_capacity: f64,
    panic_window_percentage: f64,
    activator_capacity: f64,
    panic_threshold_percentage: f64,
    initial_scale: i64,
    min_scale: i64,
    max_scale: i64,
    max_scale_limit: i64,
    stable_window: i128,
    scale_down_delay: i128,
    grace_period: i128,
    retention_period: i128,
}

const SECOND: i128 = 1_000_000_000;

impl From<&AutoscalerConfig> for Raw {
    fn from(c: &AutoscalerConfig) -> Self {
        let nanos = |d: Duration| d.as_nanos() as i128;
        Self {
            enable_scale_to_zero: c.enable_scale_to_zero,
            allow_zero_initial_scale: c.allow_zero_initial_scale,
            max_scale_up_rate: c.max_scale_up_rate,
            max_scale_down_rate: c.max_scale_down_rate,
            target_fraction: c.container_concurrency_target_fraction,
            target_default: c.container_concurrency_target_default,
            rps_target_default: c.rps_target_default,
            target_burst_capacity: c.target_burst_capacity,
            panic_window_percentage: c.panic_window_percentage,
            activator_capacity: c.activator_capacity,
            panic_threshold_percentage: c.panic_threshold_percentage,
            initial_scale: c.initial_scale.into(),
            min_scale: c.min_scale.into(),
            max_scale: c.max_scale.into(),
            max_scale_limit: c.max_scale_limit.into(),
            stable_window: nanos(c.stable_window),
            scale_down_delay: nanos(c.scale_down_delay),
            grace_period: nanos(c.scale_to_zero_grace_period),
            retention_period: nanos(c.scale_to_zero_pod_retention_period),
        }
    }
}

impl Raw {
    /// Knative's rules, in Knative's order; comparisons are Go's, so a NaN passes them.
    fn check(&self) -> Result<(), InvalidConfig> {
        let fail = |key: &str, value: String, rule: &str| {
            Err(InvalidConfig::new(AutoscalerConfig::NAME, key, value, rule))
        };
        let dur = |nanos: i128| {
            let magnitude = format_duration(Duration::from_nanos(nanos.unsigned_abs() as u64));
            if nanos < 0 {
                format!("-{magnitude}")
            } else {
                magnitude
            }
        };
        if self.grace_period <= 0 {
            return fail(
                "scale-to-zero-grace-period",
                dur(self.grace_period),
                "must be greater than 0",
            );
        }
        if self.scale_down_delay < 0 {
            return fail(
                "scale-down-delay",
                dur(self.scale_down_delay),
                "must not be negative",
            );
        }
        if self.scale_down_delay % SECOND != 0 {
            return fail(
                "scale-down-delay",
                dur(self.scale_down_delay),
                "must be a whole number of seconds",
            );
        }
        if self.retention_period < 0 {
            return fail(
                "scale-to-zero-pod-retention-period",
                dur(self.retention_period),
                "must not be negative",
            );
        }
        let tbc = self.target_burst_capacity;
        if tbc < 0.0 && tbc != -1.0 {
            return fail(
                "target-burst-capacity",
                tbc.to_string(),
                "must be at least 0, or -1 for an activator always in the path",
            );
        }
        let fraction = self.target_fraction;
        if fraction <= 0.0 || fraction > 1.0 {
            return fail(
                "container-concurrency-target-percentage",
                (fraction * 100.0).to_string(),
                "must be greater than 0 and at most 100",
            );
        }
        if fraction * self.target_default < TARGET_MIN {
            return fail(
                "container-concurrency-target-default",
                self.target_default.to_string(),
                "times container-concurrency-target-percentage must be at least 0.01",
            );
        }
        if self.rps_target_default < TARGET_MIN {
            return fail(
                "requests-per-second-target-default",
                self.rps_target_default.to_string(),
                "must be at least 0.01",
            );
        }
        if self.activator_capacity < 1.0 {
            return fail(
                "activator-capacity",
                self.activator_capacity.to_string(),
                "must be at least 1",
            );
        }
        for (key, rate) in [
            ("max-scale-up-rate", self.max_scale_up_rate),
            ("max-scale-down-rate", self.max_scale_down_rate),
        ] {
            if rate <= 1.0 {
                return fail(key, rate.to_string(), "must be greater than 1");
            }
        }
        let window = self.stable_window;
        if window < WINDOW_MIN.as_nanos() as i128 || window > WINDOW_MAX.as_nanos() as i128 {
            return fail("stable-window", dur(window), "must be between 6s and 1h");
        }
        if window % SECOND != 0 {
            return fail(
                "stable-window",
                dur(window),
                "must be a whole number of seconds",
            );
        }
        let pct = self.panic_window_percentage;
        if outside(pct, 1.0, 100.0) {
            return fail(
                "panic-window-percentage",
                pct.to_string(),
                "must be between 1 and 100",
            );
        }
        self.check_scales()
    }

    fn check_scales(&self) -> Result<(), InvalidConfig> {
        let fail = |key: &str, value: i64, rule: String| {
            Err(InvalidConfig::new(
                AutoscalerConfig::NAME,
                key,
                value.to_string(),
                rule,
            ))
        };
        if self.initial_scale < 0 || (self.initial_scale == 0 && !self.allow_zero_initial_scale) {
            return fail(
                "initial-scale",
                self.initial_scale,
                "must be at least 1, or 0 when allow-zero-initial-scale is true".into(),
            );
        }
        if self.min_scale < 0 {
            return fail("min-scale", self.min_scale, "must be at least 0".into());
        }
        let limit = self.max_scale_limit;
        let least = i64::from(limit > 0);
        if self.max_scale < least || (limit > 0 && self.max_scale > limit) {
            return fail(
                "max-scale",
                self.max_scale,
                format!("must be between {least} and max-scale-limit ({limit})"),
            );
        }
        if limit < 0 {
            return fail("max-scale-limit", limit, "must be at least 0".into());
        }
        if self.min_scale > self.max_scale && self.max_scale > 0 {
            return fail(
                "min-scale",
                self.min_scale,
                format!("must be at most max-scale ({})", self.max_scale),
            );
        }
        Ok(())
    }

    /// The checked values as the typed config.
    fn into_config(self, class: PodAutoscalerClass) -> AutoscalerConfig {
        let count = |v: i64| u32::try_from(v).unwrap_or(0);
        let duration = |nanos: i128| Duration::from_nanos(u64::try_from(nanos).unwrap_or(0));
        AutoscalerConfig {
            container_concurrency_target_fraction: self.target_fraction,
            container_concurrency_target_default: self.target_default,
            rps_target_default: self.rps_target_default,
            target_burst_capacity: self.target_burst_capacity,
            stable_window: duration(self.stable_window),
            panic_window_percentage: self.panic_window_percentage,
            panic_threshold_percentage: self.panic_threshold_percentage,
            max_scale_up_rate: self.max_scale_up_rate,
            max_scale_down_rate: self.max_scale_down_rate,
            enable_scale_to_zero: self.enable_scale_to_zero,
            scale_to_zero_grace_period: duration(self.grace_period),
            scale_to_zero_pod_retention_period: duration(self.retention_period),
            pod_autoscaler_class: class,
            activator_capacity: self.activator_capacity,
            initial_scale: count(self.initial_scale),
            allow_zero_initial_scale: self.allow_zero_initial_scale,
            min_scale: count(self.min_scale),
            max_scale: count(self.max_scale),
            scale_down_delay: duration(self.scale_down_delay),
            max_scale_limit: count(self.max_scale_limit),
        }
    }
}
