//! `observe`: statuses from the backend's view of each revision.

use super::configuration::reconcile_configuration;
use super::revision::revision_status;
use super::route::{reconcile_route, update_routing_states};
use super::service::reconcile_service;
use super::types::{RevisionObservation, ServiceSet};
use crate::api::RoutingConfig;

/// Recomputes every status of `set` from `observation` (by revision name; `None` keeps a
/// revision's last status): revisions, then the Configuration's latest ready revision,
/// then the Route's traffic and URLs under `routing`, the revisions' `routingState`,
/// and the Service. Idempotent. Transition times are not known here: a changed
/// condition's `lastTransitionTime` is cleared; use [`observe_at`] to record them.
pub fn observe(
    set: &mut ServiceSet,
    observation: &dyn Fn(&str) -> Option<RevisionObservation>,
    routing: &RoutingConfig,
) {
    observe_inner(set, observation, routing, None);
}

/// [`observe`], stamping changed conditions' `lastTransitionTime` and changed
/// `routingStateModified` with `now` (RFC 3339 UTC).
pub fn observe_at(
    set: &mut ServiceSet,
    observation: &dyn Fn(&str) -> Option<RevisionObservation>,
    routing: &RoutingConfig,
    now: &str,
) {
    observe_inner(set, observation, routing, Some(now));
}

fn observe_inner(
    set: &mut ServiceSet,
    observation: &dyn Fn(&str) -> Option<RevisionObservation>,
    routing: &RoutingConfig,
    now: Option<&str>,
) {
    for revision in &mut set.revisions {
        if let Some(seen) = observation(revision.metadata.name()) {
            revision_status(revision, &seen, now);
        }
    }
    reconcile_configuration(set, now);
    reconcile_route(set, routing, now);
    update_routing_states(set, now);
    reconcile_service(set, now);
}
