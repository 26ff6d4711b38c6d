//! `config-autoscaler`: the cluster's autoscaling defaults.

use std::time::Duration;

use super::{InvalidConfig, Lookup, Parser};
use crate::duration::format_duration;

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

    /// Parses the map, starting from Knative's defaults, and validates the result.
    pub fn from_map(data: &(impl Lookup + ?Sized)) -> Result<Self, InvalidConfig> {
        let p = Parser::new(Self::NAME, data);
        let d = Self::default();
        let percentage = p.float(
            "container-concurrency-target-percentage",
            d.container_concurrency_target_fraction,
        )?;
        let config = Self {
            // Knative's legacy reading: values above 1 are percentages, the rest fractions.
            container_concurrency_target_fraction: if percentage > 1.0 {
                percentage / 100.0
            } else {
                percentage
            },
            container_concurrency_target_default: p.float(
                "container-concurrency-target-default",
                d.container_concurrency_target_default,
            )?,
            rps_target_default: p
                .float("requests-per-second-target-default", d.rps_target_default)?,
            target_burst_capacity: p.float("target-burst-capacity", d.target_burst_capacity)?,
            stable_window: p.duration("stable-window", d.stable_window)?,
            panic_window_percentage: p
                .float("panic-window-percentage", d.panic_window_percentage)?,
            panic_threshold_percentage: p
                .float("panic-threshold-percentage", d.panic_threshold_percentage)?,
            max_scale_up_rate: p.float("max-scale-up-rate", d.max_scale_up_rate)?,
            max_scale_down_rate: p.float("max-scale-down-rate", d.max_scale_down_rate)?,
            enable_scale_to_zero: p.boolean("enable-scale-to-zero", d.enable_scale_to_zero)?,
            scale_to_zero_grace_period: p
                .duration("scale-to-zero-grace-period", d.scale_to_zero_grace_period)?,
            scale_to_zero_pod_retention_period: p.duration(
                "scale-to-zero-pod-retention-period",
                d.scale_to_zero_pod_retention_period,
            )?,
            pod_autoscaler_class: match p.string("pod-autoscaler-class", PodAutoscalerClass::KPA) {
                class if class.is_empty() => {
                    return Err(p.invalid("pod-autoscaler-class", class, "must not be empty"));
                }
                class => PodAutoscalerClass::from_name(&class),
            },
            activator_capacity: p.float("activator-capacity", d.activator_capacity)?,
            initial_scale: p.count("initial-scale", d.initial_scale)?,
            allow_zero_initial_scale: p
                .boolean("allow-zero-initial-scale", d.allow_zero_initial_scale)?,
            min_scale: p.count("min-scale", d.min_scale)?,
            max_scale: p.count("max-scale", d.max_scale)?,
            scale_down_delay: p.duration("scale-down-delay", d.scale_down_delay)?,
            max_scale_limit: p.count("max-scale-limit", d.max_scale_limit)?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks every cross-field and range rule of Knative's `config-autoscaler`.
    ///
    /// Deliberate choice: Knative does not range-check `panic-threshold-percentage` in
    /// the config map (only the annotation, to [110, 1000]); we require a positive value so
    /// that existing clusters' settings still load while nonsense does not.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let fail = |key: &str, value: String, rule: &str| {
            Err(InvalidConfig::new(Self::NAME, key, value, rule))
        };
        let fraction = self.container_concurrency_target_fraction;
        if !(fraction > 0.0 && fraction <= 1.0) {
            return fail(
                "container-concurrency-target-percentage",
                (fraction * 100.0).to_string(),
                "must be greater than 0 and at most 100",
            );
        }
        if fraction * self.container_concurrency_target_default < TARGET_MIN {
            return fail(
                "container-concurrency-target-default",
                self.container_concurrency_target_default.to_string(),
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
        check_burst_capacity(self.target_burst_capacity).or_else(|rule| {
            fail(
                "target-burst-capacity",
                self.target_burst_capacity.to_string(),
                rule,
            )
        })?;
        check_window(self.stable_window)
            .or_else(|rule| fail("stable-window", format_duration(self.stable_window), rule))?;
        self.validate_panic_window()?;
        if self.panic_threshold_percentage <= 0.0 {
            return fail(
                "panic-threshold-percentage",
                self.panic_threshold_percentage.to_string(),
                "must be greater than 0",
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
        if self.scale_to_zero_grace_period.is_zero() {
            return fail(
                "scale-to-zero-grace-period",
                "0s".into(),
                "must be greater than 0",
            );
        }
        if self.scale_down_delay.subsec_nanos() != 0 {
            return fail(
                "scale-down-delay",
                format_duration(self.scale_down_delay),
                "must be a whole number of seconds",
            );
        }
        if self.activator_capacity < 1.0 {
            return fail(
                "activator-capacity",
                self.activator_capacity.to_string(),
                "must be at least 1",
            );
        }
        self.validate_scale_bounds()
    }

    fn validate_panic_window(&self) -> Result<(), InvalidConfig> {
        // Knative checks the effective window: at least one 1s bucket, at most the stable window.
        let pct = self.panic_window_percentage;
        let stable = self.stable_window.as_secs_f64();
        let effective = pct / 100.0 * stable;
        if effective < 1.0 || pct > 100.0 {
            let min = 100.0 / stable;
            return Err(InvalidConfig::new(
                Self::NAME,
                "panic-window-percentage",
                pct.to_string(),
                format!(
                    "must be between {min} and 100 so that the panic window is at least 1s of the {} stable window",
                    format_duration(self.stable_window)
                ),
            ));
        }
        Ok(())
    }

    fn validate_scale_bounds(&self) -> Result<(), InvalidConfig> {
        let invalid = |key: &str, value: String, rule: String| {
            InvalidConfig::new(Self::NAME, key, value, rule)
        };
        if self.initial_scale == 0 && !self.allow_zero_initial_scale {
            return Err(invalid(
                "initial-scale",
                "0".into(),
                "must be at least 1 unless allow-zero-initial-scale is true".into(),
            ));
        }
        if self.max_scale_limit > 0
            && (self.max_scale == 0 || self.max_scale > self.max_scale_limit)
        {
            return Err(invalid(
                "max-scale",
                self.max_scale.to_string(),
                format!(
                    "must be between 1 and max-scale-limit ({})",
                    self.max_scale_limit
                ),
            ));
        }
        if self.max_scale > 0 && self.min_scale > self.max_scale {
            return Err(invalid(
                "min-scale",
                self.min_scale.to_string(),
                format!("must be at most max-scale ({})", self.max_scale),
            ));
        }
        Ok(())
    }
}

/// The rule for a target burst capacity: ≥ 0, or exactly -1.
pub(crate) fn check_burst_capacity(tbc: f64) -> Result<(), &'static str> {
    if tbc >= 0.0 || tbc == -1.0 {
        Ok(())
    } else {
        Err("must be at least 0, or -1 for an activator always in the path")
    }
}

/// The rule for a stable window: within [6s, 1h], in whole seconds.
pub(crate) fn check_window(window: Duration) -> Result<(), &'static str> {
    if window < WINDOW_MIN || window > WINDOW_MAX {
        Err("must be between 6s and 1h")
    } else if window.subsec_nanos() != 0 {
        Err("must be a whole number of seconds")
    } else {
        Ok(())
    }
}
