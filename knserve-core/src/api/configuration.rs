//! `Configuration`: the template that stamps out one Revision per spec change (§1.1, §1.5).

use serde::{Deserialize, Serialize};

use super::meta::{Extra, ObjectMeta};
use super::resource::API_VERSION;
use super::revision::RevisionTemplateSpec;
use super::status::Condition;

/// `Configuration.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationSpec {
    /// The template of the next revision.
    #[serde(default)]
    pub template: RevisionTemplateSpec,
    /// Uninterpreted fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The revision-tracking status a Configuration (and a Service, inlined) reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The revision stamped out for the current generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_created_revision_name: Option<String>,
    /// The newest ready revision; only moves forward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_ready_revision_name: Option<String>,
    /// Uninterpreted fields (`annotations`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `serving.knative.dev/v1` `Configuration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    /// `serving.knative.dev/v1`.
    #[serde(default = "api_version")]
    pub api_version: String,
    /// `Configuration`.
    #[serde(default = "kind")]
    pub kind: String,
    /// The configuration's metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The configuration's spec.
    #[serde(default)]
    pub spec: ConfigurationSpec,
    /// What the controller observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ConfigurationStatus>,
    /// Uninterpreted fields.
    #[serde(flatten)]
    pub extra: Extra,
}

fn api_version() -> String {
    API_VERSION.to_owned()
}

fn kind() -> String {
    Configuration::KIND.to_owned()
}

impl Configuration {
    /// The kind's name.
    pub const KIND: &'static str = "Configuration";

    /// A configuration with `metadata` and `spec`, no status.
    pub fn new(metadata: ObjectMeta, spec: ConfigurationSpec) -> Self {
        Self {
            api_version: api_version(),
            kind: kind(),
            metadata,
            spec,
            status: None,
            extra: Extra::new(),
        }
    }
}
