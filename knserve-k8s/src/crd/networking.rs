//! `networking.internal.knative.dev/v1alpha1`: ServerlessService (spec §5) and Ingress
//! (spec §6.1).

#![allow(clippy::duplicated_attributes)] // one `printcolumn` per column

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use knserve_core::api::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::conditions_schema;

/// How a revision is reached: its pods (`Serve`) or the activators (`Proxy`).
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "networking.internal.knative.dev",
    version = "v1alpha1",
    kind = "ServerlessService",
    plural = "serverlessservices",
    singular = "serverlessservice",
    namespaced,
    derive = "PartialEq",
    shortname = "sks",
    category = "all",
    category = "knative-internal",
    category = "networking",
    status = "ServerlessServiceStatus",
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(
        name = "Activators",
        type_ = "integer",
        json_path = ".spec.numActivators"
    ),
    printcolumn(
        name = "ServiceName",
        type_ = "string",
        json_path = ".status.serviceName"
    ),
    printcolumn(
        name = "PrivateServiceName",
        type_ = "string",
        json_path = ".status.privateServiceName"
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
pub struct ServerlessServiceSpec {
    /// `Serve` or `Proxy`.
    #[serde(default)]
    pub mode: String,
    /// The Deployment whose pods serve the revision.
    pub object_ref: ObjectReference,
    /// `http1` or `h2c`.
    #[serde(default)]
    pub protocol_type: String,
    /// How many activators take this revision's traffic in `Proxy` mode (0: all).
    #[serde(default)]
    pub num_activators: i32,
}

/// The Services the SKS programs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerlessServiceStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `EndpointsPopulated`, `ActivatorEndpointsPopulated`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The public (selectorless) Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// The private Service over the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_service_name: Option<String>,
}

/// Host rules with weighted splits, produced from a Route.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "networking.internal.knative.dev",
    version = "v1alpha1",
    kind = "Ingress",
    plural = "ingresses",
    singular = "ingress",
    namespaced,
    derive = "PartialEq",
    shortname = "kingress",
    shortname = "king",
    category = "all",
    category = "knative-internal",
    category = "networking",
    status = "IngressStatus",
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
pub struct IngressSpec {
    /// TLS settings, kept as written (this backend serves plain HTTP).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub tls: Vec<serde_json::Value>,
    /// One rule per set of hosts and visibility.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<IngressRule>,
    /// `Enabled` or `Redirected`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub http_option: String,
}

/// The hosts a set of paths answers for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressRule {
    /// Exact hosts (no port).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// `ExternalIP` or `ClusterLocal`.
    #[serde(default)]
    pub visibility: String,
    /// The paths under those hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpIngressRuleValue>,
}

/// The paths of a rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpIngressRuleValue {
    /// Paths, first match wins.
    pub paths: Vec<HttpIngressPath>,
}

/// One path and its weighted backends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpIngressPath {
    /// A path prefix; empty matches everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The Host the request is sent on with (Knative's beta `host-rewrite`, which
    /// DomainMapping uses): the backend sees this Host instead of the client's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite_host: Option<String>,
    /// Request headers this path requires, each by exact value (Knative's
    /// `headers/tags` feature: tag-header routing); a request without them tries the
    /// next path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, HeaderMatch>,
    /// The backends, with percents summing to 100.
    pub splits: Vec<IngressBackendSplit>,
    /// Headers added to every request on this path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub append_headers: BTreeMap<String, String>,
}

/// How a request header must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeaderMatch {
    /// The value the header must have.
    pub exact: String,
}

/// One weighted backend.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressBackendSplit {
    /// The backend Service's namespace.
    pub service_namespace: String,
    /// The backend Service (a revision's public Service).
    pub service_name: String,
    /// The backend Service's port.
    pub service_port: IntOrString,
    /// The share of requests, 0–100.
    #[serde(default)]
    pub percent: i32,
    /// Headers added to requests sent to this split.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub append_headers: BTreeMap<String, String>,
}

/// Whether the ingress has programmed the rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `NetworkConfigured`, `LoadBalancerReady`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Where external traffic enters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_load_balancer: Option<LoadBalancerStatus>,
    /// Where cluster-local traffic enters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_load_balancer: Option<LoadBalancerStatus>,
}

/// Load balancer addresses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerStatus {
    /// The entry points.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<LoadBalancerIngressStatus>,
}

/// One entry point.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerIngressStatus {
    /// An IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// A DNS name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The in-cluster DNS name of the ingress Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_internal: Option<String>,
    /// Whether only the mesh can reach it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mesh_only: bool,
}
