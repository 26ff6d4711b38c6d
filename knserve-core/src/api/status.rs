//! Status building blocks shared by every resource: conditions and addresses.

use serde::{Deserialize, Serialize};

use super::meta::Extra;

/// `True`, `False` or `Unknown`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known yet (reconciling).
    #[default]
    Unknown,
}

/// `Error` (the default, empty on the wire), `Warning` or `Info`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConditionSeverity {
    /// A failure of this condition fails the resource.
    #[default]
    #[serde(rename = "")]
    Error,
    /// Informational, does not affect readiness.
    Warning,
    /// Informational, does not affect readiness.
    Info,
}

impl ConditionSeverity {
    fn is_error(&self) -> bool {
        *self == Self::Error
    }
}

/// One status condition (Knative `apis.Condition`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The condition's type (`Ready`, `RoutesReady`, …).
    #[serde(default, rename = "type")]
    pub type_: String,
    /// Whether it holds.
    #[serde(default)]
    pub status: ConditionStatus,
    /// `Error`, `Warning` or `Info`.
    #[serde(default, skip_serializing_if = "ConditionSeverity::is_error")]
    pub severity: ConditionSeverity,
    /// When `status` last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// A one-word CamelCase reason for the status (`RevisionMissing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Uninterpreted fields.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Condition {
    /// A condition of `type_` with `status`, nothing else set.
    pub fn new(type_: impl Into<String>, status: ConditionStatus) -> Self {
        Self {
            type_: type_.into(),
            status,
            ..Self::default()
        }
    }

    /// True when the status is `True`.
    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// Condition types used across the resources (§1.4).
pub mod condition_types {
    /// Every resource's summary condition.
    pub const READY: &str = "Ready";
    /// Service: its Configuration is ready.
    pub const CONFIGURATIONS_READY: &str = "ConfigurationsReady";
    /// Service: its Route is ready.
    pub const ROUTES_READY: &str = "RoutesReady";
    /// Revision: its deployment has capacity.
    pub const RESOURCES_AVAILABLE: &str = "ResourcesAvailable";
    /// Revision: its containers are healthy.
    pub const CONTAINER_HEALTHY: &str = "ContainerHealthy";
    /// Revision: it has instances (not part of Ready).
    pub const ACTIVE: &str = "Active";
    /// Route: every target resolved to a ready revision.
    pub const ALL_TRAFFIC_ASSIGNED: &str = "AllTrafficAssigned";
    /// Route: the ingress is programmed.
    pub const INGRESS_READY: &str = "IngressReady";
    /// Route: certificates are ready.
    pub const CERTIFICATE_PROVISIONED: &str = "CertificateProvisioned";
}

/// The condition of `type_` in `conditions`, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// `status.address`: where the resource is reachable inside the cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Addressable {
    /// The address's name, when there are several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The URL (`http://hello.default.svc.cluster.local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Uninterpreted fields (`CACerts`, `audience`).
    #[serde(flatten)]
    pub extra: Extra,
}
