//! Configuration → Revision (§1.3, §1.5): one revision per generation, the latest
//! created and ready revisions, the `routingState` of the revisions it owns, and the
//! garbage collection of those no route needs (`config-gc`).
//!
//! A Configuration with revisions that will turn stale is revisited when the first
//! of them does, rather than at the next resync; every Configuration is revisited when
//! `config-gc` changes.

use std::collections::BTreeSet;
use std::sync::Arc;

use knserve_core::api::keys::ROUTES_ANNOTATION;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use tokio::sync::watch;

use super::gc;
use super::kube_io::{apply, drain, error_policy, merge_meta, succeeded, write_status};
use super::{ClusterConfig, Context, Error, RESYNC, now};
use crate::crd;
use crate::desired::serving;

/// Runs the Configuration reconciler.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let results = Controller::new(
        Api::<crd::Configuration>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<crd::Revision>::all(client.clone()),
        watcher::Config::default(),
    )
    .watches(
        Api::<crd::Route>::all(client),
        watcher::Config::default(),
        configurations_of,
    )
    .reconcile_all_on(gc_changes(ctx.config.clone()))
    .run(reconcile, error_policy, ctx);
    drain("Configuration", results).await;
}

/// An item each time `config-gc` changes, so every Configuration is collected under
/// the new settings at once, as Knative's collector resyncs on that map.
fn gc_changes(
    config: watch::Receiver<Arc<ClusterConfig>>,
) -> impl futures_util::Stream<Item = ()> + Send + 'static {
    let last = config.borrow().gc;
    futures_util::stream::unfold((config, last), |(mut config, mut last)| async move {
        loop {
            config.changed().await.ok()?;
            let gc = config.borrow_and_update().gc;
            if gc != last {
                last = gc;
                return Some(((), (config, last)));
            }
        }
    })
}

/// The Configurations a Route's traffic names: its `configurationName` targets and the
/// Configuration of the same name (a Service's).
fn configurations_of(route: crd::Route) -> Vec<ObjectRef<crd::Configuration>> {
    let namespace = route.namespace().unwrap_or_default();
    let mut names: BTreeSet<String> = route
        .spec
        .traffic
        .iter()
        .filter_map(|t| t.configuration_name.clone())
        .collect();
    names.insert(route.name_any());
    names
        .into_iter()
        .map(|n| ObjectRef::new(&n).within(&namespace))
        .collect()
}

async fn reconcile(
    configuration: Arc<crd::Configuration>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    if configuration.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = configuration.namespace().unwrap_or_default();
    let client = ctx.client.clone();
    let revisions: Api<crd::Revision> = Api::namespaced(client.clone(), &namespace);
    let all = revisions.list(&Default::default()).await?.items;
    let uid = configuration.uid().unwrap_or_default();
    let (owned, foreign): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|r| r.owner_references().iter().any(|o| o.uid == uid));
    let taken: BTreeSet<String> = foreign.iter().map(ResourceExt::name_any).collect();
    let referenced = referenced_revisions(&ctx, &namespace, &configuration).await?;
    let config = ctx.config();
    let outcome = serving::configuration(
        &configuration,
        &owned,
        &referenced,
        &|name| taken.contains(name),
        &config.validation,
        &now(),
    );
    if let Some(revision) = &outcome.new_revision {
        apply(&revisions, revision).await?;
    }
    for (name, (labels, annotations)) in &outcome.relabel {
        merge_meta(&revisions, name, labels, annotations).await?;
    }
    let configurations: Api<crd::Configuration> = Api::namespaced(client, &namespace);
    write_status(
        &configurations,
        &configuration,
        configuration.status.as_ref(),
        &outcome.status,
    )
    .await?;
    let latest_ready = outcome.status.latest_ready_revision_name.as_deref();
    let next = gc::collect(&revisions, &owned, latest_ready, &config.gc).await?;
    succeeded(&*configuration, &ctx);
    Ok(Action::requeue(
        next.map_or(RESYNC, |next| next.min(RESYNC)),
    ))
}

/// The revision names held by the status traffic of the Routes that name this
/// Configuration (its `serving.knative.dev/routes` annotation, and the Route of the
/// same name).
async fn referenced_revisions(
    ctx: &Context,
    namespace: &str,
    configuration: &crd::Configuration,
) -> Result<BTreeSet<String>, Error> {
    let routes: Api<crd::Route> = Api::namespaced(ctx.client.clone(), namespace);
    let mut names: BTreeSet<String> = configuration
        .annotations()
        .get(ROUTES_ANNOTATION)
        .map(|list| list.split(',').map(|s| s.trim().to_owned()).collect())
        .unwrap_or_default();
    names.insert(configuration.name_any());
    let mut referenced = BTreeSet::new();
    for name in names.iter().filter(|n| !n.is_empty()) {
        if let Some(route) = routes.get_opt(name).await? {
            let traffic = route.status.iter().flat_map(|s| s.traffic.iter());
            referenced.extend(traffic.filter_map(|t| t.revision_name.clone()));
        }
    }
    Ok(referenced)
}
