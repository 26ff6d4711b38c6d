//! Golden cases and invariants of the KPA.

mod bad_input;
mod decider;
mod gate;
mod knative_rules;
mod kpa;
mod params;
mod properties;

use std::collections::BTreeMap;

use super::{AutoscalingAnnotations, ScalingParams};
use crate::config::AutoscalerConfig;
use crate::time::Timestamp;

fn secs(s: u64) -> Timestamp {
    Timestamp::from_secs(s)
}

fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (format!("autoscaling.knative.dev/{k}"), (*v).to_owned()))
        .collect()
}

/// Parameters for a revision with `cc` and these annotations under default config.
fn params_with(cc: u32, pairs: &[(&str, &str)]) -> ScalingParams {
    params_under(cc, pairs, &AutoscalerConfig::default())
}

fn params_under(cc: u32, pairs: &[(&str, &str)], config: &AutoscalerConfig) -> ScalingParams {
    let parsed =
        AutoscalingAnnotations::parse(&annotations(pairs), config).expect("valid annotations");
    ScalingParams::resolve(&parsed, cc, config, super::DEFAULT_PROGRESS_DEADLINE)
}
