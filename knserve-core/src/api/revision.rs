//! `Revision`: an immutable snapshot of code and configuration (§1.1, §1.2).

use serde::{Deserialize, Serialize};

use super::container::{Container, Volume};
use super::meta::{Extra, ObjectMeta};
use super::resource::API_VERSION;
use super::status::Condition;

/// A revision's pod spec plus Knative's serving fields (`RevisionSpec`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionSpec {
    /// The containers; exactly one (the serving container) may declare a port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<Container>,
    /// Containers run to completion before the others start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<Container>,
    /// The pod's volumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// The service account the pod runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Secrets for pulling images, kept verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<serde_json::Value>,
    /// Whether service environment variables are injected into the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_service_links: Option<bool>,
    /// In-flight requests per instance; 0 is unlimited. Defaulted from `config-defaults`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_concurrency: Option<i64>,
    /// The longest a request may take, in seconds. Defaulted from `config-defaults`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    /// The longest wait for the first response byte, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_start_timeout_seconds: Option<i64>,
    /// The longest pause between response bytes, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_seconds: Option<i64>,
    /// Uninterpreted pod fields (`affinity`, `nodeSelector`, `tolerations`, …), gated
    /// by `config-features`.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The port a revision's application listens on when none is declared.
pub const DEFAULT_USER_PORT: i32 = 8080;

impl RevisionSpec {
    /// The index of the serving container: the only one when there is one, else the one
    /// declaring a port.
    pub fn serving_container_index(&self) -> Option<usize> {
        if self.containers.len() == 1 {
            return Some(0);
        }
        self.containers.iter().position(|c| !c.ports.is_empty())
    }

    /// The serving container.
    pub fn serving_container(&self) -> Option<&Container> {
        self.serving_container_index().map(|i| &self.containers[i])
    }

    /// The port the application listens on: the serving container's port, or 8080 when
    /// it declares none or 0.
    pub fn user_port(&self) -> i32 {
        self.serving_container()
            .and_then(|c| c.ports.first())
            .map(|p| p.container_port)
            .filter(|p| *p != 0)
            .unwrap_or(DEFAULT_USER_PORT)
    }

    /// Whether the serving port is named `h2c` (HTTP/2 cleartext end to end).
    pub fn is_h2c(&self) -> bool {
        self.serving_container()
            .and_then(|c| c.ports.first())
            .is_some_and(|p| p.name == "h2c")
    }
}

/// `spec.template`: a revision's metadata and spec, as written in a Configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionTemplateSpec {
    /// Labels and annotations copied to the revision; `name` is a BYO revision name.
    #[serde(default, skip_serializing_if = "is_empty_meta")]
    pub metadata: ObjectMeta,
    /// The revision's spec.
    #[serde(default)]
    pub spec: RevisionSpec,
    /// Uninterpreted fields.
    #[serde(flatten)]
    pub extra: Extra,
}

fn is_empty_meta(meta: &ObjectMeta) -> bool {
    *meta == ObjectMeta::default()
}

/// `serving.knative.dev/v1` `Revision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    /// `serving.knative.dev/v1`.
    #[serde(default = "api_version")]
    pub api_version: String,
    /// `Revision`.
    #[serde(default = "kind")]
    pub kind: String,
    /// The revision's metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The revision's spec (immutable once created).
    #[serde(default)]
    pub spec: RevisionSpec,
    /// What the controller observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RevisionStatus>,
    /// Uninterpreted fields.
    #[serde(flatten)]
    pub extra: Extra,
}

fn api_version() -> String {
    API_VERSION.to_owned()
}

fn kind() -> String {
    Revision::KIND.to_owned()
}

impl Revision {
    /// The kind's name.
    pub const KIND: &'static str = "Revision";

    /// A revision with `metadata` and `spec`, no status.
    pub fn new(metadata: ObjectMeta, spec: RevisionSpec) -> Self {
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

/// `Revision.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `ResourcesAvailable`, `ContainerHealthy`, `Active`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Instances currently running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_replicas: Option<i32>,
    /// Instances the autoscaler asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,
    /// Per-container image digests, kept verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub container_statuses: Vec<serde_json::Value>,
    /// Uninterpreted fields (`annotations`, `logUrl`, …).
    #[serde(flatten)]
    pub extra: Extra,
}
