//! The KPA autoscaler.

pub mod metrics;
