//! The control plane as pure functions: a Service becomes its Configuration, Revisions
//! and Route, with status conditions (spec §1).
//!
//! The backend keeps one [`ServiceSet`] per applied Service and calls:
//! - [`apply`] when the user applies a Service: validation (field paths as the webhook
//!   reports them), defaulting, generation, the children rewritten from the Service, and
//!   at most one new Revision per template change (§1.3);
//! - [`observe`] (or [`observe_at`] to record transition times) whenever a revision's
//!   runtime state changes, and periodically: Revision conditions, the Configuration's
//!   latest created/ready revisions (§1.5), the Route's resolved traffic and URLs
//!   (§1.6, §1.7), `routingState` labels (§1.1) and the Service's mirrored status (§1.4).
//!
//! Nothing here does I/O or reads a clock; the time comes in as RFC 3339 strings.
//!
//! A backend whose objects live apart (Kubernetes, one reconciler per kind) uses the
//! same rules one object at a time: [`stamp_revision`] and [`configuration_status`]
//! for a Configuration, [`revision_status`] for a Revision, [`route_status`] (with
//! [`Targets`]) and [`routing_states`] for a Route, [`service_status`] for a Service.
//!
//! Choices and simplifications:
//! - Gradual rollout (`rollout-duration`) is not implemented: the switch to a newly
//!   ready revision is instant (Knative's default of 0).
//! - Revisions are garbage-collected by the backend, which calls [`collect_revisions`]
//!   with `config-gc` and removes what it returns.
//! - No partial programming: while any target does not resolve to a Ready revision, the
//!   Route keeps its previous `status.traffic` (the data path keeps serving the old
//!   revisions) and `AllTrafficAssigned` says why (`RevisionMissing`,
//!   `ConfigurationMissing`, `RevisionNotOwned`); the first `False` problem wins over an
//!   `Unknown` one.
//! - No TLS: `CertificateProvisioned` is `True` `TLSNotEnabled` and URLs use
//!   `default-external-scheme` (`http`).
//! - `IngressReady` is `True` once traffic has been programmed once; the backend applies
//!   `status.traffic` to its router itself.
//! - uids are kept from the previous apply, else taken from the manifest, else derived
//!   from MD5(kind/namespace/name) in UUID form, so they are stable across restarts.
//! - A Revision that another service owns is only known through
//!   [`ApplyContext::name_taken`] at apply time ([`ServiceSet::foreign_revision_names`]).
//! - A new revision is `pending` on the first apply and `active` afterwards (the
//!   Configuration then carries `serving.knative.dev/routes`), as in Knative.

mod apply;
mod conditions;
mod configuration;
mod gc;
mod observe;
mod revision;
mod route;
mod service;
mod types;

pub use self::apply::{DEFAULT_NAMESPACE, Stamp, apply, stamp_revision};
pub use self::conditions::{condition, set_condition, summarize};
pub use self::configuration::{REVISION_FAILED, configuration_status};
pub use self::gc::{collect_revisions, next_collection};
pub use self::observe::{observe, observe_at};
pub use self::revision::{DEPLOYING, NO_TRAFFIC, revision_status};
pub use self::route::{
    CONFIGURATION_MISSING, DOMAIN_TEMPLATE_ERROR, INGRESS_NOT_CONFIGURED, REVISION_MISSING,
    REVISION_NOT_OWNED, TLS_NOT_ENABLED, Targets, route_status, routing_states,
};
pub use self::service::{OUT_OF_DATE, REVISION_NAME_TAKEN, TRAFFIC_NOT_MIGRATED, service_status};
pub use self::types::{
    Applied, ApplyAction, ApplyContext, RevisionHealth, RevisionObservation, ServiceSet,
};
