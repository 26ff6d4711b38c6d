//! The cluster settings validation reads.

use crate::config::{AutoscalerConfig, DefaultsConfig, FeaturesConfig};

/// The config maps the admission rules depend on; `Default` is a stock cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValidationConfig {
    /// `config-autoscaler`: bounds for the `autoscaling.knative.dev/*` annotations.
    pub autoscaler: AutoscalerConfig,
    /// `config-defaults`: timeout and containerConcurrency limits.
    pub defaults: DefaultsConfig,
    /// `config-features`: which pod-spec fields are allowed.
    pub features: FeaturesConfig,
}
