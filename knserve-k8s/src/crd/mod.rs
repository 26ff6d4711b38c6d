//! The custom resources, with the groups, versions, kinds, short names, categories and
//! printer columns of Knative's own CRDs, so `kubectl get ksvc` and existing manifests
//! work unchanged.
//!
//! - [`serving`]: `serving.knative.dev/v1` Service, Configuration, Revision, Route. Their
//!   specs and statuses are the [`knserve_core::api`] types, wrapped so that the derive
//!   can attach a schema.
//! - [`autoscaling`]: `autoscaling.internal.knative.dev/v1alpha1` PodAutoscaler.
//! - [`networking`]: `networking.internal.knative.dev/v1alpha1` ServerlessService and
//!   Ingress.
//!
//! Schema choice: the four `serving.knative.dev` kinds declare `spec` and `status` as
//! objects that keep unknown fields (`x-kubernetes-preserve-unknown-fields`). Knative's
//! rules (spec §1) are richer than OpenAPI can say — a field path and the rule it broke —
//! so the admission webhook and the reconcilers check them with the same code the local
//! backend uses, and a pod field this release does not model is kept verbatim instead of
//! being pruned. The internal kinds are fully typed.

pub mod autoscaling;
pub mod networking;
pub mod serving;

use std::borrow::Cow;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use schemars::{Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use self::autoscaling::{PodAutoscaler, PodAutoscalerSpec, PodAutoscalerStatus};
pub use self::networking::{
    Ingress, IngressSpec, IngressStatus, ServerlessService, ServerlessServiceSpec,
    ServerlessServiceStatus,
};
pub use self::serving::{Configuration, Revision, Route, Service};

/// Every CRD this backend serves, in the order they are installed.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        Service::crd(),
        Configuration::crd(),
        Revision::crd(),
        Route::crd(),
        PodAutoscaler::crd(),
        ServerlessService::crd(),
        Ingress::crd(),
    ]
}

/// All CRDs as one multi-document YAML stream, as written to `knserve-k8s/config/`.
pub fn all_yaml() -> Result<String, serde_yaml_ng::Error> {
    let mut out = String::new();
    for crd in all() {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&crd)?);
    }
    Ok(out)
}

/// An object whose fields the API server keeps as they are.
pub(crate) fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
}

/// A list of status conditions, kept as written.
pub(crate) fn conditions_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": { "type": "object", "x-kubernetes-preserve-unknown-fields": true }
    })
}

/// Converts between two types with the same JSON shape: a kube resource and its
/// [`knserve_core::api`] counterpart.
///
/// # Errors
/// When a field does not fit the target type (a malformed object written by someone
/// else); the message names the field serde stopped at.
pub fn convert<T: Serialize, U: DeserializeOwned>(value: &T) -> Result<U, serde_json::Error> {
    serde_json::from_value(serde_json::to_value(value)?)
}

/// The schema name of a wrapper type, for `JsonSchema` impls.
pub(crate) fn name(s: &'static str) -> Cow<'static, str> {
    Cow::Borrowed(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_crds_are_the_ones_the_types_generate() {
        let committed = include_str!("../../config/300-crds.yaml");
        assert!(
            committed == all_yaml().unwrap(),
            "knserve-k8s/config/300-crds.yaml is stale; regenerate it with \
             `cargo run -p knserve-k8s --bin knserve-k8s -- crds > knserve-k8s/config/300-crds.yaml`"
        );
    }

    #[test]
    fn the_short_names_are_knatives() {
        let short =
            |crd: &CustomResourceDefinition| crd.spec.names.short_names.clone().unwrap_or_default();
        assert_eq!(short(&Service::crd()), ["kservice", "ksvc"]);
        assert_eq!(short(&Revision::crd()), ["rev"]);
        assert_eq!(short(&PodAutoscaler::crd()), ["kpa", "pa"]);
        assert_eq!(short(&ServerlessService::crd()), ["sks"]);
    }
}
