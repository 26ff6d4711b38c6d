//! `Service`: a Configuration and a Route of the same name, managed together (§1.1).

use serde::{Deserialize, Serialize};

use super::configuration::{Configuration, ConfigurationSpec};
use super::keys;
use super::meta::{Extra, ObjectMeta, OwnerReference};
use super::resource::API_VERSION;
use super::revision::RevisionTemplateSpec;
use super::route::{Route, RouteSpec, TrafficTarget};
use super::status::{Addressable, Condition};

/// `Service.spec`: an inlined `ConfigurationSpec` (`template`) and `RouteSpec` (`traffic`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// The template of the next revision.
    #[serde(default)]
    pub template: RevisionTemplateSpec,
    /// The targets; defaulted to 100% on the latest revision. `configurationName` is
    /// implied (the Service's own name) and may not be written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<TrafficTarget>,
    /// Uninterpreted fields.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ServiceSpec {
    /// The Configuration spec the Service controller writes.
    pub fn configuration_spec(&self) -> ConfigurationSpec {
        ConfigurationSpec {
            template: self.template.clone(),
            extra: Extra::new(),
        }
    }

    /// The Route spec the Service controller writes: targets without a `revisionName`
    /// point at the Service's own Configuration, `service_name`.
    pub fn route_spec(&self, service_name: &str) -> RouteSpec {
        let traffic = self
            .traffic
            .iter()
            .cloned()
            .map(|mut t| {
                if t.revision_name().is_empty() {
                    t.configuration_name = Some(service_name.to_owned());
                }
                t
            })
            .collect();
        RouteSpec {
            traffic,
            extra: Extra::new(),
        }
    }
}

/// `Service.status`: the Configuration's and the Route's status, inlined.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `ConfigurationsReady`, `RoutesReady`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The revision stamped out for the current generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_created_revision_name: Option<String>,
    /// The newest ready revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_ready_revision_name: Option<String>,
    /// The external (or cluster-local) URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The in-cluster address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Addressable>,
    /// The resolved targets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<TrafficTarget>,
    /// Uninterpreted fields (`annotations`, …).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `serving.knative.dev/v1` `Service` (`ksvc`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// `serving.knative.dev/v1`.
    #[serde(default = "api_version")]
    pub api_version: String,
    /// `Service`.
    #[serde(default = "kind")]
    pub kind: String,
    /// The service's metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The service's spec.
    #[serde(default)]
    pub spec: ServiceSpec,
    /// What the controller observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ServiceStatus>,
    /// Uninterpreted fields.
    #[serde(flatten)]
    pub extra: Extra,
}

fn api_version() -> String {
    API_VERSION.to_owned()
}

fn kind() -> String {
    Service::KIND.to_owned()
}

impl Service {
    /// The kind's name.
    pub const KIND: &'static str = "Service";

    /// A service with `metadata` and `spec`, no status.
    pub fn new(metadata: ObjectMeta, spec: ServiceSpec) -> Self {
        Self {
            api_version: api_version(),
            kind: kind(),
            metadata,
            spec,
            status: None,
            extra: Extra::new(),
        }
    }

    /// The Configuration this Service owns: same name and namespace, the service labels,
    /// a controller owner reference, and the template.
    pub fn make_configuration(&self) -> Configuration {
        Configuration::new(self.child_meta(), self.spec.configuration_spec())
    }

    /// The Route this Service owns, with `configurationName` filled in.
    pub fn make_route(&self) -> Route {
        Route::new(
            self.child_meta(),
            self.spec.route_spec(self.metadata.name()),
        )
    }

    fn child_meta(&self) -> ObjectMeta {
        let mut meta = ObjectMeta::named(self.metadata.name(), self.metadata.namespace());
        meta.labels = self.metadata.labels.clone();
        meta.annotations = self.metadata.annotations.clone();
        meta.annotations.remove(keys::LAST_APPLIED_CONFIGURATION);
        meta.labels.insert(
            keys::SERVICE_LABEL.to_owned(),
            self.metadata.name().to_owned(),
        );
        if let Some(uid) = &self.metadata.uid {
            meta.labels
                .insert(keys::SERVICE_UID_LABEL.to_owned(), uid.clone());
        }
        meta.owner_references.push(OwnerReference {
            api_version: self.api_version.clone(),
            kind: Self::KIND.to_owned(),
            name: self.metadata.name().to_owned(),
            uid: self.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
            extra: Extra::new(),
        });
        meta
    }
}
