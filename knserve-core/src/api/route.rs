//! `Route`: named traffic targets, split by percent (§1.6).

use serde::{Deserialize, Serialize};

use super::meta::{Extra, ObjectMeta};
use super::resource::API_VERSION;
use super::status::{Addressable, Condition};

/// One entry of `traffic` (Knative `TrafficTarget`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficTarget {
    /// A name for this target, addressable as `<tag>-<route>` (`v1-hello`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// A fixed revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_name: Option<String>,
    /// A configuration whose latest ready revision is the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_name: Option<String>,
    /// Whether the target follows the latest ready revision; defaults to
    /// `revisionName == ""`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_revision: Option<bool>,
    /// The share of traffic, in percent; defaults to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<i64>,
    /// The tag's URL (status only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Uninterpreted fields.
    #[serde(flatten)]
    pub extra: Extra,
}

impl TrafficTarget {
    /// `revisionName`, or `""` when unset.
    pub fn revision_name(&self) -> &str {
        self.revision_name.as_deref().unwrap_or("")
    }

    /// `configurationName`, or `""` when unset.
    pub fn configuration_name(&self) -> &str {
        self.configuration_name.as_deref().unwrap_or("")
    }

    /// `tag`, or `""` when unset.
    pub fn tag(&self) -> &str {
        self.tag.as_deref().unwrap_or("")
    }

    /// `percent`, or 0 when unset.
    pub fn percent(&self) -> i64 {
        self.percent.unwrap_or(0)
    }

    /// `latestRevision`, or its default `revisionName == ""` when unset.
    pub fn is_latest_revision(&self) -> bool {
        self.latest_revision
            .unwrap_or_else(|| self.revision_name().is_empty())
    }
}

/// `Route.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteSpec {
    /// The targets; their percents sum to 100.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<TrafficTarget>,
    /// Uninterpreted fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The traffic-related status a Route (and a Service, inlined) reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `AllTrafficAssigned`, `IngressReady`, `CertificateProvisioned`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The external (or cluster-local) URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The in-cluster address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Addressable>,
    /// The resolved targets: concrete revision names, a URL per tag.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<TrafficTarget>,
    /// Uninterpreted fields (`annotations`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `serving.knative.dev/v1` `Route`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// `serving.knative.dev/v1`.
    #[serde(default = "api_version")]
    pub api_version: String,
    /// `Route`.
    #[serde(default = "kind")]
    pub kind: String,
    /// The route's metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The route's spec.
    #[serde(default)]
    pub spec: RouteSpec,
    /// What the controller observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RouteStatus>,
    /// Uninterpreted fields.
    #[serde(flatten)]
    pub extra: Extra,
}

fn api_version() -> String {
    API_VERSION.to_owned()
}

fn kind() -> String {
    Route::KIND.to_owned()
}

impl Route {
    /// The kind's name.
    pub const KIND: &'static str = "Route";

    /// A route with `metadata` and `spec`, no status.
    pub fn new(metadata: ObjectMeta, spec: RouteSpec) -> Self {
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
