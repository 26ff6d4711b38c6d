//! Service → Configuration + Route (§1.1): the children are rewritten from the Service
//! on every pass, and the Service's status mirrors theirs.

use std::sync::Arc;

use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use super::kube_io::{apply, drain, error_policy, succeeded, write_status};
use super::{Context, Error, RESYNC, now};
use crate::crd;
use crate::desired::serving;

/// Runs the Service reconciler.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let results = Controller::new(
        Api::<crd::Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<crd::Configuration>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(Api::<crd::Route>::all(client), watcher::Config::default())
    .run(reconcile, error_policy, ctx);
    drain("Service", results).await;
}

async fn reconcile(service: Arc<crd::Service>, ctx: Arc<Context>) -> Result<Action, Error> {
    if service.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = service.namespace().unwrap_or_default();
    let name = service.name_any();
    let client = ctx.client.clone();
    let configurations: Api<crd::Configuration> = Api::namespaced(client.clone(), &namespace);
    let routes: Api<crd::Route> = Api::namespaced(client.clone(), &namespace);
    let configuration = configurations.get_opt(&name).await?;
    let route = routes.get_opt(&name).await?;
    let config = ctx.config();
    let outcome = serving::service(
        &service,
        configuration.as_ref(),
        route.as_ref(),
        &config.validation,
        &now(),
    );
    if let Some((configuration, route)) = &outcome.children {
        apply(&configurations, configuration).await?;
        apply(&routes, route).await?;
    }
    let services: Api<crd::Service> = Api::namespaced(client, &namespace);
    write_status(
        &services,
        &service,
        service.status.as_ref(),
        &outcome.status,
    )
    .await?;
    succeeded(&*service, &ctx);
    Ok(Action::requeue(RESYNC))
}
