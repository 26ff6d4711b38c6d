//! The `serving.knative.dev/v1` resources.
//!
//! - Types: [`Service`], [`Configuration`], [`Revision`], [`Route`] with their specs and
//!   statuses, serde-compatible with Knative's YAML. Every struct keeps the fields it
//!   does not interpret in an `extra` map, so real manifests round-trip unchanged
//!   (which fields exist at all is [`decode`]'s concern).
//! - [`parse_yaml`]: multi-document YAML into [`Resource`]s, decoded as strictly as
//!   the API server decodes them ([`decode`]).
//! - Defaulting (`set_defaults` on each resource), naming ([`revision_name`],
//!   [`child_name`]), hosts and URLs ([`RoutingConfig`]), the injected environment
//!   ([`RuntimeEnv`]) and the label and annotation keys ([`keys`]).
//! - [`expansion`]: `$(VAR)` references in `command`, `args` and `env`, as the kubelet
//!   expands them.
//! - Validation (`validate`, `validate_update` on each resource) against a
//!   [`ValidationConfig`], every message `path: rule`.

mod admission;
mod configuration;
mod container;
pub mod decode;
mod defaults;
mod domain;
mod env;
mod envsource;
pub mod expansion;
pub mod keys;
mod meta;
mod naming;
mod probe;
mod quantity;
mod resource;
mod revision;
mod route;
mod service;
mod status;
mod template;
mod validation;

pub use self::configuration::{Configuration, ConfigurationSpec, ConfigurationStatus};
pub use self::container::{
    Container, ContainerPort, EnvVar, ResourceRequirements, Volume, VolumeMount,
};
pub use self::decode::{
    InputTooLarge, MAX_DEPTH, MAX_DOCUMENTS, MAX_INPUT_BYTES, Manifest, ParseError, ParseProblem,
    parse_manifests, parse_yaml,
};
pub use self::domain::{RoutingConfig, is_visibility_cluster_local};
pub use self::env::{RESERVED_ENV, RESERVED_SIDECAR_ENV, RuntimeEnv};
pub use self::envsource::{
    CONFIG_ERROR_REASON, ConfigMap, EnvObject, EnvStore, MissingEnvSource, Secret,
};
pub use self::meta::{Extra, ObjectMeta, OwnerReference};
pub use self::naming::{
    MAX_NAME_LENGTH, check_byo_name, check_byo_name_changed, child_name, dns1035_prefix_violation,
    dns1035_violation, is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_qualified_name,
    revision_name, template_revision_name,
};
pub use self::probe::{ExecAction, GrpcAction, HttpGetAction, IntOrString, Probe, TcpSocketAction};
pub use self::quantity::{Quantity, QuantityError};
pub use self::resource::{API_VERSION, Resource};
pub use self::revision::{
    DEFAULT_USER_PORT, Revision, RevisionSpec, RevisionStatus, RevisionTemplateSpec,
};
pub use self::route::{Route, RouteSpec, RouteStatus, TrafficTarget};
pub use self::service::{Service, ServiceSpec, ServiceStatus};
pub use self::status::{
    Addressable, Condition, ConditionSeverity, ConditionStatus, condition_types, find_condition,
};
pub use self::template::{TemplateError, TemplateValues, render_template};
pub use self::validation::{
    RESERVED_PORTS, ValidationConfig, duration_annotation, validate_revision_spec, validate_traffic,
};
