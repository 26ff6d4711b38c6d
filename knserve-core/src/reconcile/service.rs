//! The Service's status, mirrored from its Configuration and Route (§1.4).

use super::conditions::{condition, set_condition, summarize};
use super::route::merge;
use super::types::ServiceSet;
use crate::api::condition_types::{CONFIGURATIONS_READY, READY, ROUTES_READY};
use crate::api::{
    Condition, ConditionStatus, Configuration, Route, Service, TrafficTarget, find_condition,
};

/// A child whose `observedGeneration` lags its generation.
pub const OUT_OF_DATE: &str = "OutOfDate";
/// `RoutesReady=Unknown` until the Route's status traffic matches the spec.
pub const TRAFFIC_NOT_MIGRATED: &str = "TrafficNotMigrated";
/// `RoutesReady=False` when the BYO revision name is held by another revision.
pub const REVISION_NAME_TAKEN: &str = "RevisionNameTaken";

/// Sets `ConfigurationsReady` and `RoutesReady` from the children (reason and message
/// copied), `Ready` as their AND, and inlines the children's status fields.
///
/// `RoutesReady`: `Unknown` `OutOfDate` while the Route's status lags its generation;
/// `False` `RevisionNameTaken` when the template's revision name is taken; else the
/// Route's `Ready`, except that a `True` or `Unknown` one becomes `Unknown`
/// `TrafficNotMigrated` while the status traffic differs from the spec with the
/// configuration targets replaced by the latest ready revision. Choice: a `False` Route
/// condition is kept as is (Knative overwrites it with `TrafficNotMigrated`), so that
/// the Service says why (`RevisionMissing`). Both sides are compared after merging
/// duplicate targets, ignoring `url` and `latestRevision`.
pub(super) fn reconcile_service(set: &mut ServiceSet, now: Option<&str>) {
    let name_taken = set.revision_name_taken.as_deref();
    service_status(
        &mut set.service,
        &set.configuration,
        &set.route,
        name_taken,
        now,
    );
}

/// The status reconcile `apply` runs, for one Service on its own, from its Configuration and Route
/// as observed; `name_taken` is the revision name its template asked for but could not
/// have.
pub fn service_status(
    service: &mut Service,
    configuration: &Configuration,
    route: &Route,
    name_taken: Option<&str>,
    now: Option<&str>,
) {
    let configurations_ready = configurations_ready(configuration);
    let routes_ready = routes_ready(configuration, route, name_taken);
    let generation = service.metadata.generation;
    let config_status = configuration.status.clone().unwrap_or_default();
    let route_status = route.status.clone().unwrap_or_default();
    let status = service.status.get_or_insert_with(Default::default);
    set_condition(&mut status.conditions, configurations_ready, now);
    set_condition(&mut status.conditions, routes_ready, now);
    let ready = summarize(&status.conditions, &[CONFIGURATIONS_READY, ROUTES_READY]);
    set_condition(&mut status.conditions, ready, now);
    status.latest_created_revision_name = config_status.latest_created_revision_name;
    status.latest_ready_revision_name = config_status.latest_ready_revision_name;
    status.url = route_status.url;
    status.address = route_status.address;
    status.traffic = route_status.traffic;
    status.observed_generation = generation;
}

fn ready_of(conditions: &[Condition], type_: &str) -> Condition {
    let ready = find_condition(conditions, READY);
    condition(
        type_,
        ready.map_or(ConditionStatus::Unknown, |c| c.status),
        ready.and_then(|c| c.reason.as_deref()),
        ready.and_then(|c| c.message.clone()),
    )
}

fn out_of_date(type_: &str, kind: &str) -> Condition {
    condition(
        type_,
        ConditionStatus::Unknown,
        Some(OUT_OF_DATE),
        Some(format!(
            "The {kind} is still working to reflect the latest desired specification."
        )),
    )
}

fn configurations_ready(config: &Configuration) -> Condition {
    let status = config.status.clone().unwrap_or_default();
    if status.observed_generation != config.metadata.generation {
        return out_of_date(CONFIGURATIONS_READY, "Configuration");
    }
    ready_of(&status.conditions, CONFIGURATIONS_READY)
}

fn routes_ready(
    configuration: &Configuration,
    route: &Route,
    name_taken: Option<&str>,
) -> Condition {
    let status = route.status.clone().unwrap_or_default();
    if status.observed_generation != route.metadata.generation {
        return out_of_date(ROUTES_READY, "Route");
    }
    if let Some(name) = name_taken {
        let message = format!(
            "The revision name {name:?} is taken by a conflicting Revision, so traffic will not be migrated"
        );
        return condition(
            ROUTES_READY,
            ConditionStatus::False,
            Some(REVISION_NAME_TAKEN),
            Some(message),
        );
    }
    let ready = ready_of(&status.conditions, ROUTES_READY);
    if ready.status != ConditionStatus::False && !traffic_migrated(configuration, route) {
        return condition(
            ROUTES_READY,
            ConditionStatus::Unknown,
            Some(TRAFFIC_NOT_MIGRATED),
            Some("Traffic is not yet migrated to the latest revision.".to_owned()),
        );
    }
    ready
}

/// Whether the Route's status traffic is its spec with configuration targets replaced
/// by the latest ready revision.
pub(super) fn traffic_migrated(configuration: &Configuration, route: &Route) -> bool {
    let latest_ready = configuration
        .status
        .as_ref()
        .and_then(|s| s.latest_ready_revision_name.clone());
    let mut want = Vec::new();
    for target in &route.spec.traffic {
        let revision = if target.configuration_name().is_empty() {
            target.revision_name().to_owned()
        } else {
            match &latest_ready {
                Some(name) => name.clone(),
                None => return false,
            }
        };
        merge(&mut want, target, revision);
    }
    let got = route
        .status
        .as_ref()
        .map(|s| s.traffic.as_slice())
        .unwrap_or_default();
    let key = |t: &TrafficTarget| (t.tag.clone(), t.revision_name().to_owned(), t.percent());
    want.len() == got.len() && want.iter().map(key).eq(got.iter().map(key))
}
