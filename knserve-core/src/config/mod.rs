//! Knative's cluster config maps as typed structs.
//!
//! Each struct keeps Knative's key names and defaults and is parsed from a
//! ConfigMap-shaped string map through [`Lookup`], so tests pass a `HashMap` and the
//! Kubernetes backend passes a ConfigMap's `data`. A value that breaks its rule rejects
//! the whole map with an [`InvalidConfig`] naming the key; keys the map does not know
//! are ignored, as Knative ignores them (callers that want to reject them, like a CLI,
//! check against the map's `KEYS`).

pub(crate) mod autoscaler;
mod defaults;
mod domain;
mod features;
mod gc;
mod network;
mod observability;
mod parse;

pub use self::autoscaler::{AutoscalerConfig, PodAutoscalerClass};
pub use self::defaults::DefaultsConfig;
pub use self::domain::DomainConfig;
pub use self::features::{FeaturesConfig, Flag};
pub use self::gc::GcConfig;
pub use self::network::{
    DEFAULT_DOMAIN_TEMPLATE, DEFAULT_TAG_TEMPLATE, HttpProtocol, NetworkConfig,
};
pub use self::observability::{ObservabilityConfig, TracingConfig, TracingProtocol};
pub use self::parse::{Lookup, Parser};
pub use crate::error::InvalidConfig;
