//! Route → Ingress (§1.6, §1.7, §6.1): targets resolved to ready revisions, URLs, and the
//! networking Ingress that programs the data path; `IngressReady` follows the Ingress.
//! The route's own and its tags' Kubernetes Services point at the ingress
//! ([`route_services`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service as CoreService;
use knserve_core::api::keys::{CONFIGURATION_LABEL, ROUTE_LABEL, ROUTES_ANNOTATION, SERVICE_LABEL};
use kube::api::ListParams;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use super::kube_io::{apply, drain, error_policy, succeeded, write_status};
use super::{Context, Error, RESYNC, now};
use crate::crd;
use crate::desired::ingress::desired_ingress;
use crate::desired::route_services::{keeping_live_metadata, route_services};
use crate::desired::serving;

/// Runs the Route reconciler.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let results = Controller::new(
        Api::<crd::Route>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<crd::Ingress>::all(client.clone()),
        watcher::Config::default(),
    )
    .watches(
        Api::<crd::Configuration>::all(client.clone()),
        watcher::Config::default(),
        routes_of_configuration,
    )
    .watches(
        Api::<crd::Revision>::all(client),
        watcher::Config::default(),
        routes_of_revision,
    )
    .run(reconcile, error_policy, ctx);
    drain("Route", results).await;
}

/// The Routes that name a Configuration: its `serving.knative.dev/routes` annotation
/// and the Route of the same name (a Service's).
fn routes_of_configuration(configuration: crd::Configuration) -> Vec<ObjectRef<crd::Route>> {
    let namespace = configuration.namespace().unwrap_or_default();
    let mut names: BTreeSet<String> = configuration
        .annotations()
        .get(ROUTES_ANNOTATION)
        .map(|list| list.split(',').map(|s| s.trim().to_owned()).collect())
        .unwrap_or_default();
    names.insert(configuration.name_any());
    names
        .into_iter()
        .filter(|n| !n.is_empty())
        .map(|n| ObjectRef::new(&n).within(&namespace))
        .collect()
}

/// The Route of a revision's Service, or of the Route named like its Configuration.
fn routes_of_revision(revision: crd::Revision) -> Vec<ObjectRef<crd::Route>> {
    let namespace = revision.namespace().unwrap_or_default();
    let labels = revision.labels();
    [SERVICE_LABEL, CONFIGURATION_LABEL]
        .iter()
        .filter_map(|k| labels.get(*k))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|n| ObjectRef::new(n).within(&namespace))
        .collect()
}

/// Applies the route's Services ([`route_services`], keeping labels and annotations the
/// live ones have) where they differ from the live ones, and deletes the ones the route owns that it no longer wants (a removed tag's), as
/// Knative's `reconcilePlaceholderServices` does.
///
/// Choice: a Service of the same name that the route does not own is left alone and the
/// reconcile fails naming it (Knative also marks the route `NotOwned`).
async fn reconcile_services(
    route: &crd::Route,
    api: &Api<CoreService>,
    wanted: &[CoreService],
) -> Result<(), Error> {
    let uid = route.uid().unwrap_or_default();
    let owned = |s: &CoreService| {
        s.owner_references()
            .iter()
            .any(|o| o.uid == uid && o.controller == Some(true))
    };
    let params = ListParams::default().labels(&format!("{ROUTE_LABEL}={}", route.name_any()));
    let live = api.list(&params).await?.items;
    for service in wanted {
        let name = service.name_any();
        let live = api.get_opt(&name).await?;
        let service = &match &live {
            Some(live) => keeping_live_metadata(service, live),
            None => service.clone(),
        };
        match live {
            Some(existing) if !owned(&existing) => {
                return Err(Error::Build(format!(
                    "route {:?} does not own Service {name:?}",
                    route.name_any()
                )));
            }
            Some(existing)
                if existing
                    .spec
                    .as_ref()
                    .map(|s| (&s.type_, &s.external_name, &s.ports))
                    == service
                        .spec
                        .as_ref()
                        .map(|s| (&s.type_, &s.external_name, &s.ports))
                    && existing.labels() == service.labels()
                    && existing.annotations() == service.annotations() => {}
            _ => {
                apply(api, service).await?;
            }
        }
    }
    for stale in live.iter().filter(|s| owned(s)) {
        let name = stale.name_any();
        if !wanted.iter().any(|w| w.name_any() == name) {
            api.delete(&name, &Default::default()).await?;
        }
    }
    Ok(())
}

async fn reconcile(route: Arc<crd::Route>, ctx: Arc<Context>) -> Result<Action, Error> {
    if route.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = route.namespace().unwrap_or_default();
    let client = ctx.client.clone();
    let configurations: Api<crd::Configuration> = Api::namespaced(client.clone(), &namespace);
    let revisions: Api<crd::Revision> = Api::namespaced(client.clone(), &namespace);
    let ingresses: Api<crd::Ingress> = Api::namespaced(client.clone(), &namespace);
    let configurations = configurations.list(&Default::default()).await?.items;
    let revisions = revisions.list(&Default::default()).await?.items;
    let ingress = ingresses.get_opt(&route.name_any()).await?;
    let config = ctx.config();
    let status = serving::route_status(
        &route,
        &configurations,
        &revisions,
        ingress.as_ref(),
        &config.routing,
        &now(),
    );
    if !status.traffic.is_empty() {
        let mut resolved = (*route).clone();
        resolved.status = Some(status.clone());
        let is_h2c = |name: &str| {
            revisions
                .iter()
                .find(|r| r.name_any() == name)
                .is_some_and(|r| r.spec.is_h2c())
        };
        let wanted = desired_ingress(&resolved, &config.ingress, &is_h2c)
            .map_err(|e| Error::Build(e.to_string()))?;
        let changed = ingress.as_ref().is_none_or(|live| {
            live.spec != wanted.spec || live.annotations() != wanted.annotations()
        });
        if changed {
            apply(&ingresses, &wanted).await?;
        }
        let services = route_services(&route, &status, &config.routing, ingress.as_ref())
            .map_err(Error::Build)?;
        reconcile_services(
            &route,
            &Api::namespaced(client.clone(), &namespace),
            &services,
        )
        .await?;
    }
    let routes: Api<crd::Route> = Api::namespaced(client, &namespace);
    write_status(&routes, &route, route.status.as_ref(), &status).await?;
    succeeded(&*route, &ctx);
    Ok(Action::requeue(RESYNC))
}
