//! ServerlessService → the private Service over the pods, the selectorless public
//! Service, and the public EndpointSlice pointing at the pods (Serve) or at a subset of
//! the activators (Proxy) (§5).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::ListParams;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};

use super::kube_io::{apply, drain, error_policy, succeeded, write_status};
use super::{Context, Error, RESYNC, now};
use crate::crd::ServerlessService;
use crate::desired::sks::{
    SERVICE_TYPE_LABEL, SKS_LABEL, desired_sks, private_service_name, ready_endpoints,
};

/// The activators' Service in the system namespace.
pub const ACTIVATOR_SERVICE: &str = "activator-service";

const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Runs the ServerlessService reconciler.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let system = ctx.options.system_namespace.clone();
    let controller = Controller::new(
        Api::<ServerlessService>::all(client.clone()),
        watcher::Config::default(),
    );
    let store = controller.store();
    let results = controller
        .owns(
            Api::<Service>::all(client.clone()),
            watcher::Config::default(),
        )
        .watches(
            Api::<EndpointSlice>::all(client),
            watcher::Config::default(),
            move |slice| {
                let namespace = slice.namespace().unwrap_or_default();
                let service = slice
                    .labels()
                    .get(SERVICE_NAME_LABEL)
                    .cloned()
                    .unwrap_or_default();
                if namespace == system && service == ACTIVATOR_SERVICE {
                    return store
                        .state()
                        .iter()
                        .map(|s| ObjectRef::from_obj(&**s))
                        .collect();
                }
                // The private Service's slices carry its labels, the SKS's name among
                // them; a name shortened with a hash no longer ends in `-private`.
                let private =
                    slice.labels().get(SERVICE_TYPE_LABEL).map(String::as_str) == Some("Private");
                match slice.labels().get(SKS_LABEL) {
                    Some(sks) if private => vec![ObjectRef::new(sks).within(&namespace)],
                    _ => match service.strip_suffix("-private") {
                        Some(revision) => vec![ObjectRef::new(revision).within(&namespace)],
                        None => Vec::new(),
                    },
                }
            },
        )
        .run(reconcile, error_policy, ctx);
    drain("ServerlessService", results).await;
}

async fn reconcile(sks: Arc<ServerlessService>, ctx: Arc<Context>) -> Result<Action, Error> {
    if sks.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = sks.namespace().unwrap_or_default();
    let client = ctx.client.clone();
    let private = slices(&ctx, &namespace, &private_service_name(&sks.name_any())).await?;
    let activators = slices(&ctx, &ctx.options.system_namespace, ACTIVATOR_SERVICE).await?;
    let desired = desired_sks(
        &sks,
        &ready_endpoints(&private),
        &ready_endpoints(&activators),
        &now(),
    )
    .map_err(|e| Error::Build(e.to_string()))?;
    let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
    apply(&services, &desired.private_service).await?;
    apply(&services, &desired.public_service).await?;
    let endpoint_slices: Api<EndpointSlice> = Api::namespaced(client.clone(), &namespace);
    apply(&endpoint_slices, &desired.public_endpoints).await?;
    let api: Api<ServerlessService> = Api::namespaced(client, &namespace);
    write_status(&api, &sks, sks.status.as_ref(), &desired.status).await?;
    succeeded(&*sks, &ctx);
    Ok(Action::requeue(RESYNC))
}

async fn slices(
    ctx: &Context,
    namespace: &str,
    service: &str,
) -> Result<Vec<EndpointSlice>, Error> {
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), namespace);
    let params = ListParams::default().labels(&format!("{SERVICE_NAME_LABEL}={service}"));
    Ok(api.list(&params).await?.items)
}
