//! Service → Configuration + Route, Configuration → Revision, and the statuses of the
//! four `serving.knative.dev` kinds (spec §1), one object at a time.
//!
//! These are the rules of [`knserve_core::reconcile`] (the same ones the local backend
//! runs over a whole Service at once) applied to objects that live apart in the API
//! server: each function takes one object and what its reconciler observed, and returns
//! the children to apply and the status to write.
//!
//! Choices:
//! - The webhook defaults and validates at admission; the reconcilers check the same
//!   rules again, in the same order (defaults first, as Knative's webhook), so a cluster without the webhook still reports a bad object: `Ready`
//!   (and, for a Service, `ConfigurationsReady`) is `False` with reason
//!   [`INVALID_SPEC`] and the rule's message, and no children are written.
//! - Defaults are applied in memory before the children are built, so children are
//!   defaulted even when the webhook did not run.
//! - Revisions of another Configuration hold their names: a template asking for such a
//!   name stamps nothing and the Configuration reports `RevisionFailed`.

use std::collections::{BTreeMap, BTreeSet};

use knserve_core::api::condition_types::{INGRESS_READY, READY};
use knserve_core::api::keys::{self, ROUTES_ANNOTATION};
use knserve_core::api::{
    self, ConditionStatus, RoutingConfig, ValidationConfig, condition_types, find_condition,
};
use knserve_core::reconcile::{
    self, INGRESS_NOT_CONFIGURED, RevisionObservation, Stamp, Targets, condition, set_condition,
    summarize,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::crd::{self, convert};

/// The reason of `Ready=False` on an object that breaks an admission rule.
pub const INVALID_SPEC: &str = "InvalidSpec";

/// What a Service's reconciler writes.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceOutcome {
    /// The Configuration and Route to apply; `None` when the Service is invalid.
    pub children: Option<(crd::Configuration, crd::Route)>,
    /// The Service's new status.
    pub status: crd::serving::ServiceStatus,
}

/// The Service's Configuration and Route rewritten from it ("clobbered", §1.1), and its
/// status mirrored from the ones observed (`None`: not created yet).
pub fn service(
    service: &crd::Service,
    configuration: Option<&crd::Configuration>,
    route: Option<&crd::Route>,
    config: &ValidationConfig,
    now: &str,
) -> ServiceOutcome {
    let mut core: api::Service = match to_core(service) {
        Ok(core) => core,
        Err(message) => return invalid_service(service, message, now),
    };
    core.set_defaults(&config.defaults);
    if let Err(errors) = core.validate(config) {
        return invalid_service(service, errors.to_string(), now);
    }
    let mut wanted_config = core.make_configuration();
    let wanted_route = core.make_route();
    if wanted_route
        .spec
        .traffic
        .iter()
        .any(|t| !t.configuration_name().is_empty())
    {
        wanted_config.metadata.annotations.insert(
            ROUTES_ANNOTATION.to_owned(),
            wanted_route.metadata.name().to_owned(),
        );
    }
    let observed_config = observed_or_new(configuration, &wanted_config, |c| {
        c.metadata.generation = Some(1);
    });
    let mut observed_route =
        observed_or_new(route, &wanted_route, |r| r.metadata.generation = Some(1));
    if traffic_keys(&observed_route) != traffic_keys(&wanted_route) {
        // The Route seen is from before this pass's apply of the Service's new traffic:
        // its status (Ready for the old traffic) must not make the Service Ready. The
        // apply bumps its generation, which is what Knative's reconciler reads after
        // updating the Route.
        observed_route.metadata.generation = observed_route.metadata.generation.map(|g| g + 1);
    }
    reconcile::service_status(
        &mut core,
        &observed_config,
        &observed_route,
        None,
        Some(now),
    );
    let children = (
        for_apply::<_, crd::Configuration>(&wanted_config),
        for_apply::<_, crd::Route>(&wanted_route),
    );
    ServiceOutcome {
        children: children.0.zip(children.1),
        status: core.status.unwrap_or_default().into(),
    }
}

fn invalid_service(service: &crd::Service, message: String, now: &str) -> ServiceOutcome {
    let mut status = service.status.clone().unwrap_or_default();
    status.observed_generation = service.metadata.generation;
    for type_ in [condition_types::CONFIGURATIONS_READY, READY] {
        let c = condition(
            type_,
            ConditionStatus::False,
            Some(INVALID_SPEC),
            Some(message.clone()),
        );
        set_condition(&mut status.conditions, c, Some(now));
    }
    ServiceOutcome {
        children: None,
        status,
    }
}

/// What a Route's spec traffic says, target by target: tag, revision, configuration,
/// percent (defaulting may add `latestRevision`, so it is left out).
fn traffic_keys(route: &api::Route) -> Vec<(&str, &str, &str, i64)> {
    route
        .spec
        .traffic
        .iter()
        .map(|t| {
            (
                t.tag(),
                t.revision_name(),
                t.configuration_name(),
                t.percent(),
            )
        })
        .collect()
}

/// The observed child as a core object, or the wanted one with no status and a
/// generation (`stamp`) ahead of it: not created yet, so it reads as out of date.
fn observed_or_new<K: Serialize, C: DeserializeOwned + Clone>(
    observed: Option<&K>,
    wanted: &C,
    stamp: impl FnOnce(&mut C),
) -> C {
    observed.and_then(|o| convert(o).ok()).unwrap_or_else(|| {
        let mut new = wanted.clone();
        stamp(&mut new);
        new
    })
}

/// Labels or annotations.
pub type Labels = BTreeMap<String, String>;

/// What a Configuration's reconciler writes.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigurationOutcome {
    /// A revision to create for the current generation.
    pub new_revision: Option<crd::Revision>,
    /// Revisions whose `routingState` label (and `routingStateModified` annotation)
    /// changed: name → (labels, annotations) to merge-patch.
    pub relabel: BTreeMap<String, (Labels, Labels)>,
    /// The Configuration's new status.
    pub status: crd::serving::ConfigurationStatus,
}

/// The revision the Configuration's current generation stamps out (§1.3), its latest
/// created and ready revisions and `Ready` (§1.5), and the `routingState` of the
/// revisions it owns given the revision names Routes' status traffic holds
/// (`referenced`). `taken` says whether a revision of that name exists in the namespace
/// but is not this Configuration's.
pub fn configuration(
    configuration: &crd::Configuration,
    owned: &[crd::Revision],
    referenced: &BTreeSet<String>,
    taken: &dyn Fn(&str) -> bool,
    config: &ValidationConfig,
    now: &str,
) -> ConfigurationOutcome {
    let mut core: api::Configuration = match to_core(configuration) {
        Ok(core) => core,
        Err(message) => return invalid_configuration(configuration, message, now),
    };
    core.set_defaults(&config.defaults);
    if let Err(errors) = core.validate(config) {
        return invalid_configuration(configuration, errors.to_string(), now);
    }
    let mut revisions: Vec<api::Revision> = owned.iter().filter_map(|r| convert(r).ok()).collect();
    let routes_annotated = core.metadata.annotation(ROUTES_ANNOTATION).is_some();
    let mut name_taken = None;
    let mut new_revision = None;
    match reconcile::stamp_revision(&core, &revisions, routes_annotated, taken, now) {
        Stamp::New(revision) => {
            set_latest_created(&mut core, revision.metadata.name());
            new_revision = for_apply::<_, crd::Revision>(&*revision);
        }
        Stamp::Reuse(name) => set_latest_created(&mut core, &name),
        Stamp::Taken(name) => name_taken = Some(name),
    }
    reconcile::configuration_status(&mut core, &revisions, name_taken.as_deref(), Some(now));
    let latest_created = core
        .status
        .as_ref()
        .and_then(|s| s.latest_created_revision_name.clone());
    let before = revisions.clone();
    reconcile::routing_states(
        referenced,
        latest_created.as_deref(),
        &mut revisions,
        Some(now),
    );
    let relabel = before
        .iter()
        .zip(&revisions)
        .filter(|(old, new)| old.metadata.labels != new.metadata.labels)
        .map(|(_, new)| {
            let state = |map: &BTreeMap<String, String>, key: &str| {
                map.get(key)
                    .map(|v| (key.to_owned(), v.clone()))
                    .into_iter()
                    .collect()
            };
            let meta = &new.metadata;
            let labels = state(&meta.labels, keys::ROUTING_STATE_LABEL);
            let annotations = state(&meta.annotations, keys::ROUTING_STATE_MODIFIED_ANNOTATION);
            (meta.name().to_owned(), (labels, annotations))
        })
        .collect();
    ConfigurationOutcome {
        new_revision,
        relabel,
        status: core.status.unwrap_or_default().into(),
    }
}

fn set_latest_created(configuration: &mut api::Configuration, name: &str) {
    configuration
        .status
        .get_or_insert_with(Default::default)
        .latest_created_revision_name = Some(name.to_owned());
}

fn invalid_configuration(
    configuration: &crd::Configuration,
    message: String,
    now: &str,
) -> ConfigurationOutcome {
    let mut status = configuration.status.clone().unwrap_or_default();
    status.observed_generation = configuration.metadata.generation;
    let c = condition(
        READY,
        ConditionStatus::False,
        Some(INVALID_SPEC),
        Some(message),
    );
    set_condition(&mut status.conditions, c, Some(now));
    ConfigurationOutcome {
        new_revision: None,
        relabel: BTreeMap::new(),
        status,
    }
}

/// A Revision's status from what its Deployment and PodAutoscaler show (§1.4).
pub fn revision_status(
    revision: &crd::Revision,
    observation: &RevisionObservation,
    now: &str,
) -> crd::serving::RevisionStatus {
    let mut core: api::Revision = match convert(revision) {
        Ok(core) => core,
        Err(e) => {
            let mut status = revision.status.clone().unwrap_or_default();
            let c = condition(
                READY,
                ConditionStatus::False,
                Some(INVALID_SPEC),
                Some(e.to_string()),
            );
            set_condition(&mut status.conditions, c, Some(now));
            return status;
        }
    };
    reconcile::revision_status(&mut core, observation, Some(now));
    core.status.unwrap_or_default().into()
}

/// A Route's status: its targets resolved against the Configurations and Revisions of
/// its namespace, URLs from `routing` (§1.6, §1.7), and `IngressReady` from the
/// Ingress that programs it (`Ready` on the Ingress, else `Unknown`
/// `IngressNotConfigured`).
pub fn route_status(
    route: &crd::Route,
    configurations: &[crd::Configuration],
    revisions: &[crd::Revision],
    ingress: Option<&crd::Ingress>,
    routing: &RoutingConfig,
    now: &str,
) -> crd::serving::RouteStatus {
    let invalid = |message: String| {
        let mut status = route.status.clone().unwrap_or_default();
        status.observed_generation = route.metadata.generation;
        let c = condition(
            READY,
            ConditionStatus::False,
            Some(INVALID_SPEC),
            Some(message),
        );
        set_condition(&mut status.conditions, c, Some(now));
        status
    };
    let mut core: api::Route = match to_core(route) {
        Ok(core) => core,
        Err(message) => return invalid(message),
    };
    core.set_defaults();
    if let Err(errors) = core.validate() {
        return invalid(errors.to_string());
    }
    let configurations: Vec<api::Configuration> = configurations
        .iter()
        .filter_map(|c| convert(c).ok())
        .collect();
    let revisions: Vec<api::Revision> = revisions.iter().filter_map(|r| convert(r).ok()).collect();
    let owner = core.metadata.name().to_owned();
    let targets = Targets {
        configurations: &configurations,
        revisions: &revisions,
        not_owned: &BTreeSet::new(),
        owner: &owner,
    };
    reconcile::route_status(&mut core, &targets, routing, Some(now));
    let mut status = core.status.unwrap_or_default();
    let programmed = ingress.is_some_and(|i| {
        i.status.as_ref().is_some_and(|s| {
            s.observed_generation == i.metadata.generation
                && find_condition(&s.conditions, READY)
                    .is_some_and(|c| c.status == ConditionStatus::True)
        })
    });
    if !programmed && !status.traffic.is_empty() {
        let c = condition(
            INGRESS_READY,
            ConditionStatus::Unknown,
            Some(INGRESS_NOT_CONFIGURED),
            Some("Ingress has not yet been reconciled.".to_owned()),
        );
        set_condition(&mut status.conditions, c, Some(now));
        let ready = summarize(
            &status.conditions,
            &[
                condition_types::ALL_TRAFFIC_ASSIGNED,
                INGRESS_READY,
                condition_types::CERTIFICATE_PROVISIONED,
            ],
        );
        set_condition(&mut status.conditions, ready, Some(now));
    }
    status.into()
}

/// `object` as its core type, or the message naming the field that did not fit.
fn to_core<K: Serialize, C: DeserializeOwned>(object: &K) -> Result<C, String> {
    convert(object).map_err(|e| format!("the object does not fit its schema: {e}"))
}

/// A core child as the kube object to server-side apply: no status and none of the
/// fields the API server owns (uid, generation, creation time, resource version).
fn for_apply<C: Serialize, K: DeserializeOwned>(child: &C) -> Option<K> {
    let mut value = serde_json::to_value(child).ok()?;
    if let Some(object) = value.as_object_mut() {
        object.remove("status");
        if let Some(meta) = object.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            for field in ["uid", "generation", "creationTimestamp", "resourceVersion"] {
                meta.remove(field);
            }
        }
    }
    serde_json::from_value(value).ok()
}

#[cfg(test)]
#[path = "serving_tests.rs"]
mod tests;
