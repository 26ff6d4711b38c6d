//! `autoscaling.internal.knative.dev/v1alpha1`: PodAutoscaler, one per Revision, written
//! by the Revision reconciler and read by the autoscaler (spec §2.8–§2.11).

#![allow(clippy::duplicated_attributes)] // one `printcolumn` per column

use k8s_openapi::api::core::v1::ObjectReference;
use knserve_core::api::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::conditions_schema;

/// What to scale and how.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "autoscaling.internal.knative.dev",
    version = "v1alpha1",
    kind = "PodAutoscaler",
    plural = "podautoscalers",
    singular = "podautoscaler",
    namespaced,
    derive = "PartialEq",
    shortname = "kpa",
    shortname = "pa",
    category = "all",
    category = "knative-internal",
    category = "autoscaling",
    status = "PodAutoscalerStatus",
    printcolumn(
        name = "DesiredScale",
        type_ = "integer",
        json_path = ".status.desiredScale"
    ),
    printcolumn(
        name = "ActualScale",
        type_ = "integer",
        json_path = ".status.actualScale"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type=='Ready')].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type=='Ready')].reason"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PodAutoscalerSpec {
    /// The revision's `containerConcurrency` (0 is unlimited).
    #[serde(default)]
    pub container_concurrency: i64,
    /// The Deployment to scale.
    pub scale_target_ref: ObjectReference,
    /// `Reachable`, `Unreachable` or empty (unknown): whether a Route sends traffic to
    /// the revision (§2.12).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reachability: String,
    /// `http1` or `h2c`.
    #[serde(default)]
    pub protocol_type: String,
}

/// What the autoscaler decided and observed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodAutoscalerStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Active`, `ScaleTargetInitialized`, `SKSReady`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The public Service the revision is reached through (the SKS's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// The Service the autoscaler scrapes (the SKS's private one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_service_name: Option<String>,
    /// The scale the autoscaler wants, within the bounds and the scale-to-zero gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_scale: Option<i32>,
    /// Ready pods observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_scale: Option<i32>,
}
