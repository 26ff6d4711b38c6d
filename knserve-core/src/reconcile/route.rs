//! The Route's status: traffic resolved to ready revisions, URLs, conditions (§1.4,
//! §1.6, §1.7), and the revisions' `routingState` labels (§1.1).

use std::collections::BTreeSet;

use super::conditions::{condition, set_condition, summarize, true_condition};
use super::revision::readiness;
use super::types::ServiceSet;
use crate::api::condition_types::{ALL_TRAFFIC_ASSIGNED, CERTIFICATE_PROVISIONED, INGRESS_READY};
use crate::api::keys::{self, RoutingState};
use crate::api::{
    Addressable, ConditionStatus, Configuration, ObjectMeta, Revision, Route, RoutingConfig,
    TrafficTarget, find_condition,
};

/// Why a target did not resolve: a revision that is missing, not ready or failed.
pub const REVISION_MISSING: &str = "RevisionMissing";
/// Why a target did not resolve: a configuration that is not this service's.
pub const CONFIGURATION_MISSING: &str = "ConfigurationMissing";
/// Why a target did not resolve: a revision of another service.
pub const REVISION_NOT_OWNED: &str = "RevisionNotOwned";
/// `IngressReady=Unknown` before the first programming.
pub const INGRESS_NOT_CONFIGURED: &str = "IngressNotConfigured";
/// `IngressReady=False` when a host cannot be built from the templates.
pub const DOMAIN_TEMPLATE_ERROR: &str = "DomainTemplateError";
/// `CertificateProvisioned=True` without TLS.
pub const TLS_NOT_ENABLED: &str = "TLSNotEnabled";

/// A target that did not resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Unresolved {
    status: ConditionStatus,
    reason: &'static str,
    message: String,
}

impl Unresolved {
    fn new(status: ConditionStatus, reason: &'static str, message: String) -> Self {
        Self {
            status,
            reason,
            message,
        }
    }
}

/// Resolves the Route's targets; when all resolve to ready revisions, writes
/// `status.traffic` and marks the ingress programmed, else keeps the previous
/// `status.traffic` (no partial programming) and says why in `AllTrafficAssigned`.
pub(super) fn reconcile_route(set: &mut ServiceSet, routing: &RoutingConfig, now: Option<&str>) {
    let targets = Targets {
        configurations: std::slice::from_ref(&set.configuration),
        revisions: &set.revisions,
        not_owned: &set.foreign_revision_names,
        owner: set.service.metadata.name(),
    };
    route_status(&mut set.route, &targets, routing, now);
}

/// What a Route's targets can resolve to.
#[derive(Debug, Clone, Copy)]
pub struct Targets<'a> {
    /// The Configurations `configurationName` targets may name.
    pub configurations: &'a [Configuration],
    /// The Revisions `revisionName` targets (and latest ready revisions) may name.
    pub revisions: &'a [Revision],
    /// Revision names that exist but belong to another Service (`RevisionNotOwned`).
    pub not_owned: &'a BTreeSet<String>,
    /// The Service named in `RevisionNotOwned` messages.
    pub owner: &'a str,
}

/// The status reconcile of a Route (what `apply` runs for a Service's), for one
/// Route on its own, resolving its targets in `targets`.
pub fn route_status(
    route: &mut Route,
    targets: &Targets<'_>,
    routing: &RoutingConfig,
    now: Option<&str>,
) {
    let resolved = resolve(&route.spec.traffic, targets);
    let status = route.status.get_or_insert_with(Default::default);
    let conditions = &mut status.conditions;
    match resolved {
        Ok(traffic) => {
            status.traffic = traffic;
            set_condition(conditions, true_condition(ALL_TRAFFIC_ASSIGNED), now);
            set_condition(conditions, true_condition(INGRESS_READY), now);
        }
        Err(why) => {
            let c = condition(
                ALL_TRAFFIC_ASSIGNED,
                why.status,
                Some(why.reason),
                Some(why.message),
            );
            set_condition(conditions, c, now);
            if find_condition(conditions, INGRESS_READY).is_none() {
                let c = condition(
                    INGRESS_READY,
                    ConditionStatus::Unknown,
                    Some(INGRESS_NOT_CONFIGURED),
                    Some("Ingress has not yet been reconciled.".to_owned()),
                );
                set_condition(conditions, c, now);
            }
        }
    }
    let tls = condition(
        CERTIFICATE_PROVISIONED,
        ConditionStatus::True,
        Some(TLS_NOT_ENABLED),
        Some("external-domain-tls is not enabled".to_owned()),
    );
    set_condition(conditions, tls, now);
    if let Err(message) = write_urls(&route.metadata, status, routing) {
        let c = condition(
            INGRESS_READY,
            ConditionStatus::False,
            Some(DOMAIN_TEMPLATE_ERROR),
            Some(message),
        );
        set_condition(&mut status.conditions, c, now);
    }
    let ready = summarize(
        &status.conditions,
        &[ALL_TRAFFIC_ASSIGNED, INGRESS_READY, CERTIFICATE_PROVISIONED],
    );
    set_condition(&mut status.conditions, ready, now);
    status.observed_generation = route.metadata.generation;
}

/// `status.url`, `status.address.url` and each tagged target's `url` (§1.7). No TLS:
/// the scheme is `default-external-scheme`, or `http` for cluster-local routes.
fn write_urls(
    meta: &ObjectMeta,
    status: &mut crate::api::RouteStatus,
    routing: &RoutingConfig,
) -> Result<(), String> {
    let url = routing.url(meta, None, false);
    status.url = url.as_ref().ok().cloned();
    status.address = Some(Addressable {
        url: Some(routing.address_url(meta)),
        ..Addressable::default()
    });
    let mut problem = url.err().map(|e| e.to_string());
    for target in &mut status.traffic {
        target.url = match target.tag.as_deref().filter(|t| !t.is_empty()) {
            None => None,
            Some(tag) => match routing.url(meta, Some(tag), false) {
                Ok(url) => Some(url),
                Err(e) => {
                    problem.get_or_insert_with(|| e.to_string());
                    None
                }
            },
        };
    }
    problem.map_or(Ok(()), Err)
}

/// Every spec target resolved to a ready revision and merged, or the first problem
/// (a `False` one before an `Unknown` one).
fn resolve(
    spec: &[TrafficTarget],
    targets: &Targets<'_>,
) -> Result<Vec<TrafficTarget>, Unresolved> {
    let mut traffic = Vec::new();
    let mut problem: Option<Unresolved> = None;
    for target in spec {
        match resolve_target(targets, target) {
            Ok(revision) => merge(&mut traffic, target, revision),
            Err(why) => {
                let worse = problem.as_ref().is_none_or(|p| {
                    p.status != ConditionStatus::False && why.status == ConditionStatus::False
                });
                if worse {
                    problem = Some(why);
                }
            }
        }
    }
    problem.map_or(Ok(traffic), Err)
}

/// Adds `target`, now pointing at `revision`, merging it into an entry with the same
/// (tag, revision, latestRevision) by summing percents.
pub(super) fn merge(traffic: &mut Vec<TrafficTarget>, target: &TrafficTarget, revision: String) {
    let latest = target.is_latest_revision();
    let same = |t: &&mut TrafficTarget| {
        t.tag == target.tag && t.revision_name() == revision && t.latest_revision == Some(latest)
    };
    match traffic.iter_mut().find(same) {
        Some(existing) => existing.percent = Some(existing.percent() + target.percent()),
        None => traffic.push(TrafficTarget {
            tag: target.tag.clone(),
            revision_name: Some(revision),
            latest_revision: Some(latest),
            percent: Some(target.percent()),
            ..TrafficTarget::default()
        }),
    }
}

fn resolve_target(targets: &Targets<'_>, target: &TrafficTarget) -> Result<String, Unresolved> {
    use ConditionStatus::{False, Unknown};
    let config = target.configuration_name();
    let configuration = targets
        .configurations
        .iter()
        .find(|c| c.metadata.name() == config);
    let name = if config.is_empty() {
        target.revision_name().to_owned()
    } else if let Some(configuration) = configuration {
        let status = configuration.status.clone().unwrap_or_default();
        match status.latest_ready_revision_name {
            Some(name) => name,
            None => {
                let failed = configuration.status.as_ref().is_some_and(|s| {
                    find_condition(&s.conditions, crate::api::condition_types::READY)
                        .is_some_and(|c| c.status == False)
                });
                let (status, message) = if failed {
                    (
                        False,
                        format!("Configuration {config:?} does not have any ready Revision."),
                    )
                } else {
                    (
                        Unknown,
                        format!(
                            "Configuration {config:?} is waiting for a Revision to become ready."
                        ),
                    )
                };
                return Err(Unresolved::new(status, REVISION_MISSING, message));
            }
        }
    } else {
        let message = format!("Configuration {config:?} referenced in traffic not found.");
        return Err(Unresolved::new(False, CONFIGURATION_MISSING, message));
    };
    let revision = targets.revisions.iter().find(|r| r.metadata.name() == name);
    let Some(revision) = revision else {
        if targets.not_owned.contains(&name) {
            let message = format!(
                "Revision {name:?} is not owned by Service {:?}.",
                targets.owner
            );
            return Err(Unresolved::new(False, REVISION_NOT_OWNED, message));
        }
        let message = format!("Revision {name:?} referenced in traffic not found.");
        return Err(Unresolved::new(False, REVISION_MISSING, message));
    };
    match readiness(revision) {
        ConditionStatus::True => Ok(name),
        ConditionStatus::False => {
            let message = format!("Revision {name:?} failed to become ready.");
            Err(Unresolved::new(False, REVISION_MISSING, message))
        }
        ConditionStatus::Unknown => {
            let message = format!("Revision {name:?} is not yet ready.");
            Err(Unresolved::new(Unknown, REVISION_MISSING, message))
        }
    }
}

/// `routingState`: `active` while the Route's status traffic references a revision;
/// the latest created revision keeps `pending`/`active` while it waits for traffic;
/// any other unreferenced revision is `reserve`. `routingStateModified` is set to
/// `now` on a change (removed when the time is not known).
pub(super) fn update_routing_states(set: &mut ServiceSet, now: Option<&str>) {
    let referenced: BTreeSet<String> = set
        .route
        .status
        .iter()
        .flat_map(|s| &s.traffic)
        .map(|t| t.revision_name().to_owned())
        .collect();
    let latest_created = set
        .configuration
        .status
        .as_ref()
        .and_then(|s| s.latest_created_revision_name.clone());
    routing_states(
        &referenced,
        latest_created.as_deref(),
        &mut set.revisions,
        now,
    );
}

/// The `serving.knative.dev/routingState` labelling `apply` does, for a
/// Configuration's revisions on their own: `referenced`
/// are the revision names some Route's status traffic holds.
pub fn routing_states(
    referenced: &BTreeSet<String>,
    latest_created: Option<&str>,
    revisions: &mut [Revision],
    now: Option<&str>,
) {
    for revision in revisions {
        let meta = &mut revision.metadata;
        let current = meta
            .label(keys::ROUTING_STATE_LABEL)
            .and_then(RoutingState::from_label);
        let next = if referenced.contains(meta.name()) {
            RoutingState::Active
        } else if latest_created == Some(meta.name()) && current.is_some() {
            continue;
        } else {
            RoutingState::Reserve
        };
        if current == Some(next) {
            continue;
        }
        meta.labels.insert(
            keys::ROUTING_STATE_LABEL.to_owned(),
            next.as_str().to_owned(),
        );
        match now {
            Some(now) => meta.annotations.insert(
                keys::ROUTING_STATE_MODIFIED_ANNOTATION.to_owned(),
                now.to_owned(),
            ),
            None => meta
                .annotations
                .remove(keys::ROUTING_STATE_MODIFIED_ANNOTATION),
        };
    }
}
