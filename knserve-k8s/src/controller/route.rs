//! Route → Ingress (§1.6, §1.7, §6.1): targets resolved to ready revisions, URLs, and the
//! networking Ingress that programs the data path; `IngressReady` follows the Ingress.

use std::collections::BTreeSet;
use std::sync::Arc;

use knserve_core::api::keys::{CONFIGURATION_LABEL, ROUTES_ANNOTATION, SERVICE_LABEL};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use super::kube_io::{apply, drain, error_policy, succeeded, write_status};
use super::{Context, Error, RESYNC, now};
use crate::crd;
use crate::desired::ingress::desired_ingress;
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
    }
    let routes: Api<crd::Route> = Api::namespaced(client, &namespace);
    write_status(&routes, &route, route.status.as_ref(), &status).await?;
    succeeded(&*route, &ctx);
    Ok(Action::requeue(RESYNC))
}
