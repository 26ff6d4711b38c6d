//! Revision garbage collection (`config-gc`), run as part of each Configuration's
//! reconcile as Knative's `gc` reconciler runs on Configurations.

use std::time::Duration;

use knserve_core::api;
use knserve_core::config::GcConfig;
use knserve_core::reconcile::{collect_revisions, next_collection};
use kube::Api;
use kube::api::DeleteParams;

use super::Error;
use crate::crd::{self, convert};

/// Deletes the revisions among `owned` that `gc` says to, given the Configuration's
/// latest ready revision; returns how long until another may become collectable.
///
/// The decision reads the revisions as listed, so a `routingState` this reconcile has
/// just changed counts from the next one (the label change triggers it), as Knative's
/// collector reads its informer. A revision already gone counts as deleted. Its
/// children go with it through their owner references.
pub(super) async fn collect(
    revisions: &Api<crd::Revision>,
    owned: &[crd::Revision],
    latest_ready: Option<&str>,
    gc: &GcConfig,
) -> Result<Option<Duration>, Error> {
    if gc.is_disabled() {
        return Ok(None);
    }
    let core: Vec<api::Revision> = owned.iter().filter_map(|r| convert(r).ok()).collect();
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    for name in collect_revisions(&core, latest_ready, gc, now) {
        tracing::info!(revision = %name, "deleting stale revision");
        match revisions.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    let next = next_collection(&core, latest_ready, gc, now);
    Ok(next.map(|at| Duration::from_secs(u64::try_from(at - now).unwrap_or(0).max(1))))
}
