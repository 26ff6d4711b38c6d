//! The parts of a Kubernetes `Container` that Knative reads; the rest is kept verbatim.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::meta::Extra;
use super::probe::Probe;
// Re-exported for the modules that name it from here.
pub(super) use super::quantity::Quantity;

/// One container of a revision's pod.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// The container's name, unique in the pod; defaulted from `container-name-template`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The image reference.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// The entrypoint, replacing the image's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Arguments to the entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Sources of environment variables (config maps, secrets), kept verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<serde_json::Value>,
    /// The working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Ports; Knative allows one, on the serving container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    /// When the container can take traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    /// When the container must be restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    /// When the container has started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    /// Resource requests and limits.
    #[serde(default, skip_serializing_if = "ResourceRequirements::is_empty")]
    pub resources: ResourceRequirements,
    /// Volumes mounted into the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    /// `Always`, `IfNotPresent` or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Uninterpreted fields (`securityContext`, `lifecycle`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Container {
    /// A container running `image`, everything else unset.
    pub fn with_image(image: impl Into<String>) -> Self {
        Self {
            image: image.into(),
            ..Self::default()
        }
    }
}

/// One entry of `ports`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    /// `""`, `http1` or `h2c` (HTTP/2 without TLS end to end).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The port the application listens on; 0 means 8080.
    #[serde(default)]
    pub container_port: i32,
    /// `TCP` (the only protocol Knative serves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Uninterpreted fields (`hostPort`, `hostIP`), which Knative forbids.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One environment variable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// The variable's name.
    #[serde(default)]
    pub name: String,
    /// A literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A value read from a field, secret or config map, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<serde_json::Value>,
    /// Uninterpreted fields.
    #[serde(flatten)]
    pub extra: Extra,
}

impl EnvVar {
    /// A variable with a literal value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: Some(value.into()),
            ..Self::default()
        }
    }
}

/// `resources`: requests and limits by resource name (`cpu`, `memory`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    /// The least the container needs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, Quantity>,
    /// The most the container may use.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Quantity>,
    /// Uninterpreted fields (`claims`).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ResourceRequirements {
    /// True when nothing is requested or limited.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.limits.is_empty() && self.extra.is_empty()
    }
}

/// One entry of `volumeMounts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    /// The volume's name.
    #[serde(default)]
    pub name: String,
    /// Where it is mounted in the container.
    #[serde(default)]
    pub mount_path: String,
    /// Whether it is mounted read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    /// A path inside the volume to mount instead of its root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
    /// Uninterpreted fields (`mountPropagation`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

/// One entry of the pod's `volumes`; the source is kept verbatim.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// The volume's name.
    #[serde(default)]
    pub name: String,
    /// The source (`emptyDir`, `secret`, `configMap`, `persistentVolumeClaim`, …) and
    /// its settings.
    #[serde(flatten)]
    pub source: Extra,
}

impl Volume {
    /// The name of the volume's source (`emptyDir`, `secret`, …), if it has exactly one.
    pub fn source_kind(&self) -> Option<&str> {
        let mut keys = self.source.keys();
        match (keys.next(), keys.next()) {
            (Some(kind), None) => Some(kind),
            _ => None,
        }
    }

    /// Whether the volume is writable by nature: `emptyDir`, `persistentVolumeClaim` or
    /// `ephemeral`; mounts of any other volume are forced read-only.
    pub fn is_writable(&self) -> bool {
        ["emptyDir", "persistentVolumeClaim", "ephemeral"]
            .iter()
            .any(|k| self.source.contains_key(*k))
    }
}
