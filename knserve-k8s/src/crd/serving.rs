//! `serving.knative.dev/v1`: Service, Configuration, Revision and Route.
//!
//! Each spec and status is a [`knserve_core::api`] type in a transparent wrapper (it
//! serializes exactly as the inner type) that derefs to it.

#![allow(clippy::duplicated_attributes)] // one `printcolumn` per column

use std::ops::{Deref, DerefMut};

use knserve_core::api;
use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

use super::{name, preserve_unknown_object};

macro_rules! wrapper {
    ($(#[$doc:meta])* $wrapper:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $wrapper(pub $inner);

        impl JsonSchema for $wrapper {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                name(stringify!($wrapper))
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(generator: &mut SchemaGenerator) -> Schema {
                preserve_unknown_object(generator)
            }
        }

        impl Deref for $wrapper {
            type Target = $inner;

            fn deref(&self) -> &$inner {
                &self.0
            }
        }

        impl DerefMut for $wrapper {
            fn deref_mut(&mut self) -> &mut $inner {
                &mut self.0
            }
        }

        impl From<$inner> for $wrapper {
            fn from(inner: $inner) -> Self {
                Self(inner)
            }
        }
    };
}

wrapper!(
    /// A Service's spec: a Configuration's `template` and a Route's `traffic`.
    #[derive(CustomResource)]
    #[kube(
        group = "serving.knative.dev",
        version = "v1",
        kind = "Service",
        plural = "services",
        singular = "service",
        namespaced,
        derive = "PartialEq",
        shortname = "kservice",
        shortname = "ksvc",
        category = "all",
        category = "knative",
        category = "serving",
        status = "ServiceStatus",
        printcolumn(name = "URL", type_ = "string", json_path = ".status.url"),
        printcolumn(name = "LatestCreated", type_ = "string", json_path = ".status.latestCreatedRevisionName"),
        printcolumn(name = "LatestReady", type_ = "string", json_path = ".status.latestReadyRevisionName"),
        printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type=='Ready')].status"),
        printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type=='Ready')].reason")
    )]
    ServiceSpec(api::ServiceSpec)
);

wrapper!(
    /// A Service's status: its Configuration's and Route's, mirrored.
    ServiceStatus(api::ServiceStatus)
);

wrapper!(
    /// A Configuration's spec: the revision `template`.
    #[derive(CustomResource)]
    #[kube(
        group = "serving.knative.dev",
        version = "v1",
        kind = "Configuration",
        plural = "configurations",
        singular = "configuration",
        namespaced,
        derive = "PartialEq",
        shortname = "config",
        shortname = "cfg",
        category = "all",
        category = "knative",
        category = "serving",
        status = "ConfigurationStatus",
        printcolumn(name = "LatestCreated", type_ = "string", json_path = ".status.latestCreatedRevisionName"),
        printcolumn(name = "LatestReady", type_ = "string", json_path = ".status.latestReadyRevisionName"),
        printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type=='Ready')].status"),
        printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type=='Ready')].reason")
    )]
    ConfigurationSpec(api::ConfigurationSpec)
);

wrapper!(
    /// A Configuration's status: latest created and latest ready revisions.
    ConfigurationStatus(api::ConfigurationStatus)
);

wrapper!(
    /// A Revision's spec: a pod spec plus Knative's serving fields (immutable).
    #[derive(CustomResource)]
    #[kube(
        group = "serving.knative.dev",
        version = "v1",
        kind = "Revision",
        plural = "revisions",
        singular = "revision",
        namespaced,
        derive = "PartialEq",
        shortname = "rev",
        category = "all",
        category = "knative",
        category = "serving",
        status = "RevisionStatus",
        printcolumn(name = "Config Name", type_ = "string", json_path = ".metadata.labels['serving\\.knative\\.dev/configuration']"),
        printcolumn(name = "Generation", type_ = "string", json_path = ".metadata.labels['serving\\.knative\\.dev/configurationGeneration']"),
        printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type=='Ready')].status"),
        printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type=='Ready')].reason"),
        printcolumn(name = "Actual Replicas", type_ = "integer", json_path = ".status.actualReplicas"),
        printcolumn(name = "Desired Replicas", type_ = "integer", json_path = ".status.desiredReplicas")
    )]
    RevisionSpec(api::RevisionSpec)
);

wrapper!(
    /// A Revision's status: conditions, replicas, the resolved image digests.
    RevisionStatus(api::RevisionStatus)
);

wrapper!(
    /// A Route's spec: the traffic targets.
    #[derive(CustomResource)]
    #[kube(
        group = "serving.knative.dev",
        version = "v1",
        kind = "Route",
        plural = "routes",
        singular = "route",
        namespaced,
        derive = "PartialEq",
        shortname = "rt",
        category = "all",
        category = "knative",
        category = "serving",
        status = "RouteStatus",
        printcolumn(name = "URL", type_ = "string", json_path = ".status.url"),
        printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type=='Ready')].status"),
        printcolumn(name = "Reason", type_ = "string", json_path = ".status.conditions[?(@.type=='Ready')].reason")
    )]
    RouteSpec(api::RouteSpec)
);

wrapper!(
    /// A Route's status: resolved traffic and URLs.
    RouteStatus(api::RouteStatus)
);
