//! `apply`: a user's Service becomes its Configuration, Route and new Revision (§1.1, §1.3).

use std::collections::BTreeSet;

use super::conditions::derive_uid;
use super::revision::initial_status;
use super::service::reconcile_service;
use super::types::{Applied, ApplyAction, ApplyContext, ServiceSet};
use crate::api::keys::{self, RoutingState};
use crate::api::{
    Configuration, ObjectMeta, OwnerReference, Resource, Revision, Route, Service,
    template_revision_name,
};
use crate::autoscaler::unknown_annotations;
use crate::error::ValidationErrors;

/// The namespace of a Service applied without one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Validates, defaults and applies `service` over `previous` (the set the backend holds
/// for the same namespace/name, if any).
///
/// - Generation 1 on create, +1 when the defaulted spec changed; a change of labels or
///   annotations only is `Configured` without a generation bump; nothing changed is
///   `Unchanged` with the previous set returned as is.
/// - A template change stamps out exactly one Revision (`<name>-<generation:05>` or the
///   BYO name). A BYO name kept across a template change is rejected
///   (`spec.template.metadata.name`). A name held by another service (`name_taken`), or
///   by one of this service's revisions with a different spec, stamps out nothing and
///   is reported through the statuses (`RevisionFailed`, `RevisionNameTaken`); the Route
///   then keeps its previous spec. A name held by this service's revision with the same
///   spec makes that revision the latest created again (a roll-back).
/// - Statuses of the children are left for [`super::observe`]; the Service's own status
///   shows them as `OutOfDate` until then.
pub fn apply(
    previous: Option<&ServiceSet>,
    mut service: Service,
    ctx: &ApplyContext<'_>,
) -> Result<Applied, ValidationErrors> {
    if service.metadata.namespace().is_empty() {
        service.metadata.namespace = Some(DEFAULT_NAMESPACE.to_owned());
    }
    service.status = None;
    if let Some(prev) = previous {
        keep_stored_template(&prev.service, &mut service, ctx);
    }
    let old = previous.map(|p| Resource::Service(p.service.clone()));
    let mut resource = Resource::Service(service);
    resource.admit(old.as_ref(), None, ctx.config)?;
    let Resource::Service(service) = resource else {
        unreachable!("admission keeps the kind");
    };
    let warnings = unknown_annotations(&service.spec.template.metadata.annotations)
        .into_iter()
        .map(|e| e.under("spec.template.metadata").to_string())
        .collect();
    if let Some(prev) = previous.filter(|p| is_unchanged(p, &service)) {
        return Ok(Applied {
            set: prev.clone(),
            action: ApplyAction::Unchanged,
            new_revision: None,
            warnings,
        });
    }
    let (set, new_revision) = build(previous, service, ctx);
    let action = match previous {
        None => ApplyAction::Created,
        Some(_) => ApplyAction::Configured,
    };
    Ok(Applied {
        set,
        action,
        new_revision,
        warnings,
    })
}

/// What `kubectl apply` does before Knative's webhook sees an update: the stored
/// object's defaults come back with the merge. Knative does not default a template whose
/// BYO name is unchanged, so a re-applied manifest must carry them to compare equal: when
/// the new template, defaulted, is the stored one, the stored one is used.
fn keep_stored_template(stored: &Service, service: &mut Service, ctx: &ApplyContext<'_>) {
    let name = service.spec.template.metadata.name.as_deref().unwrap_or("");
    if name.is_empty() || stored.spec.template.metadata.name.as_deref() != Some(name) {
        return;
    }
    let mut defaulted = service.clone();
    defaulted.set_defaults(&ctx.config.defaults);
    if defaulted.spec.template == stored.spec.template {
        service.spec.template = stored.spec.template.clone();
    }
}

fn is_unchanged(prev: &ServiceSet, service: &Service) -> bool {
    let (old, new) = (&prev.service.metadata, &service.metadata);
    prev.service.spec == service.spec
        && old.labels == new.labels
        && old.annotations == new.annotations
}

/// The new set: the service stamped with generation/uid/time, its children rewritten
/// ("clobbered") from it, at most one new revision.
fn build(
    previous: Option<&ServiceSet>,
    mut service: Service,
    ctx: &ApplyContext<'_>,
) -> (ServiceSet, Option<String>) {
    let prev_service = previous.map(|p| &p.service);
    let spec_changed = prev_service.is_none_or(|p| p.spec != service.spec);
    stamp_meta(
        &mut service.metadata,
        prev_service.map(|p| &p.metadata),
        spec_changed,
        Service::KIND,
        ctx.now,
    );
    service.status = prev_service.and_then(|p| p.status.clone());

    let prev_config = previous.map(|p| &p.configuration);
    let (mut configuration, template_changed) = make_configuration(prev_config, &service, ctx.now);

    let mut revisions = previous.map(|p| p.revisions.clone()).unwrap_or_default();
    let mut name_taken = previous.and_then(|p| p.revision_name_taken.clone());
    let mut new_revision = None;
    if template_changed {
        name_taken = None;
        let routes_annotated =
            prev_config.is_some_and(|c| c.metadata.annotation(keys::ROUTES_ANNOTATION).is_some());
        let taken = |name: &str| (ctx.name_taken)(configuration.metadata.namespace(), name);
        match stamp_revision(
            &configuration,
            &revisions,
            routes_annotated,
            &taken,
            ctx.now,
        ) {
            Stamp::New(revision) => {
                new_revision = Some(revision.metadata.name().to_owned());
                set_latest_created(&mut configuration, revision.metadata.name());
                revisions.push(*revision);
            }
            Stamp::Reuse(name) => set_latest_created(&mut configuration, &name),
            Stamp::Taken(name) => name_taken = Some(name),
        }
    }

    let route = make_route(previous, &service, name_taken.is_some(), ctx.now);
    if route
        .spec
        .traffic
        .iter()
        .any(|t| !t.configuration_name().is_empty())
    {
        configuration.metadata.annotations.insert(
            keys::ROUTES_ANNOTATION.to_owned(),
            route.metadata.name().to_owned(),
        );
    }
    let foreign_revision_names = foreign_targets(&route, &revisions, ctx);
    let mut set = ServiceSet {
        service,
        configuration,
        revisions,
        route,
        revision_name_taken: name_taken,
        foreign_revision_names,
    };
    reconcile_service(&mut set, Some(ctx.now));
    (set, new_revision)
}

/// The Configuration rewritten from the service, its generation bumped when the
/// template changed (returned), its status kept.
fn make_configuration(
    prev: Option<&Configuration>,
    service: &Service,
    now: &str,
) -> (Configuration, bool) {
    let mut configuration = service.make_configuration();
    let changed = prev.is_none_or(|c| c.spec.template != configuration.spec.template);
    let prev_meta = prev.map(|c| &c.metadata);
    stamp_meta(
        &mut configuration.metadata,
        prev_meta,
        changed,
        Configuration::KIND,
        now,
    );
    configuration.status = prev.and_then(|c| c.status.clone());
    (configuration, changed)
}

/// Namespace, generation (1, or the previous one bumped when `bump`), uid (kept, given,
/// or derived) and creation time (kept or `now`).
fn stamp_meta(meta: &mut ObjectMeta, prev: Option<&ObjectMeta>, bump: bool, kind: &str, now: &str) {
    meta.generation = Some(match prev.and_then(|p| p.generation) {
        None => 1,
        Some(g) => g + i64::from(bump),
    });
    meta.uid = prev
        .and_then(|p| p.uid.clone())
        .or_else(|| meta.uid.clone().filter(|u| !u.is_empty()))
        .or_else(|| Some(derive_uid(kind, meta.namespace(), meta.name())));
    meta.creation_timestamp = prev
        .and_then(|p| p.creation_timestamp.clone())
        .or_else(|| Some(now.to_owned()));
    meta.resource_version = None;
}

fn set_latest_created(configuration: &mut Configuration, name: &str) {
    configuration
        .status
        .get_or_insert_with(Default::default)
        .latest_created_revision_name = Some(name.to_owned());
}

/// The Route: rewritten from the service, except that a taken revision name keeps the
/// previous Route spec (the Route is not reprogrammed, §1.3).
fn make_route(
    previous: Option<&ServiceSet>,
    service: &Service,
    name_taken: bool,
    now: &str,
) -> Route {
    let mut route = service.make_route();
    let prev = previous.map(|p| &p.route);
    if let Some(prev) = prev.filter(|_| name_taken) {
        route.spec = prev.spec.clone();
    }
    let changed = prev.is_none_or(|p| p.spec != route.spec);
    stamp_meta(
        &mut route.metadata,
        prev.map(|p| &p.metadata),
        changed,
        Route::KIND,
        now,
    );
    route.status = prev.and_then(|p| p.status.clone());
    route
}

/// `revisionName` targets this service does not own but another service does.
fn foreign_targets(
    route: &Route,
    revisions: &[Revision],
    ctx: &ApplyContext<'_>,
) -> BTreeSet<String> {
    let namespace = route.metadata.namespace();
    route
        .spec
        .traffic
        .iter()
        .map(|t| t.revision_name())
        .filter(|n| !n.is_empty())
        .filter(|n| !revisions.iter().any(|r| r.metadata.name() == *n))
        .filter(|n| (ctx.name_taken)(namespace, n))
        .map(str::to_owned)
        .collect()
}

/// What the current generation's template comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Stamp {
    /// A new revision.
    New(Box<Revision>),
    /// An existing revision of that name, with the same spec (a roll-back).
    Reuse(String),
    /// The name is held by something else.
    Taken(String),
}

/// The revision `configuration`'s current generation stamps out (§1.3), given the
/// revisions it already owns and whether a name is taken elsewhere in its namespace.
///
/// The new revision is named `<configuration>-<generation:05>` or the template's BYO
/// name, labelled with the configuration (name, generation, uid) and, when the
/// configuration carries them, the service's name and uid; its `routingState` is
/// `active` when `routes_annotated` (a Route already names the configuration), else
/// `pending`. Its uid is derived (a backend with an API server drops it) and its status
/// is all `Unknown` `Deploying`.
pub fn stamp_revision(
    configuration: &Configuration,
    revisions: &[Revision],
    routes_annotated: bool,
    name_taken: &dyn Fn(&str) -> bool,
    now: &str,
) -> Stamp {
    let generation = configuration.metadata.generation.unwrap_or(1);
    let template = &configuration.spec.template;
    let name = template_revision_name(configuration.metadata.name(), generation, template);
    if let Some(existing) = revisions.iter().find(|r| r.metadata.name() == name) {
        return if existing.spec == template.spec {
            Stamp::Reuse(name)
        } else {
            Stamp::Taken(name)
        };
    }
    if name_taken(&name) {
        return Stamp::Taken(name);
    }
    let state = if routes_annotated {
        RoutingState::Active
    } else {
        RoutingState::Pending
    };
    Stamp::New(Box::new(make_revision(configuration, name, state, now)))
}

fn make_revision(
    configuration: &Configuration,
    name: String,
    state: RoutingState,
    now: &str,
) -> Revision {
    let template = &configuration.spec.template;
    let config_meta = &configuration.metadata;
    let mut meta = ObjectMeta::named(name, config_meta.namespace());
    meta.labels = template.metadata.labels.clone();
    meta.annotations = template.metadata.annotations.clone();
    let uid = |m: &ObjectMeta| m.uid.clone().unwrap_or_default();
    let labels = [
        (keys::CONFIGURATION_LABEL, config_meta.name().to_owned()),
        (
            keys::CONFIGURATION_GENERATION_LABEL,
            config_meta.generation.unwrap_or(1).to_string(),
        ),
        (keys::CONFIGURATION_UID_LABEL, uid(config_meta)),
        (keys::ROUTING_STATE_LABEL, state.as_str().to_owned()),
    ];
    for (key, value) in labels {
        meta.labels.insert(key.to_owned(), value);
    }
    for key in [keys::SERVICE_LABEL, keys::SERVICE_UID_LABEL] {
        if let Some(value) = config_meta.label(key) {
            meta.labels.insert(key.to_owned(), value.to_owned());
        }
    }
    meta.annotations.insert(
        keys::ROUTING_STATE_MODIFIED_ANNOTATION.to_owned(),
        now.to_owned(),
    );
    meta.generation = Some(1);
    meta.uid = Some(derive_uid(Revision::KIND, meta.namespace(), meta.name()));
    meta.creation_timestamp = Some(now.to_owned());
    meta.owner_references.push(OwnerReference {
        api_version: configuration.api_version.clone(),
        kind: Configuration::KIND.to_owned(),
        name: config_meta.name().to_owned(),
        uid: uid(config_meta),
        controller: Some(true),
        block_owner_deletion: Some(true),
        extra: Default::default(),
    });
    let mut revision = Revision::new(meta, template.spec.clone());
    revision.status = Some(initial_status(now));
    revision
}
