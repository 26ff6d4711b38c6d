//! The writes every reconciler makes, and its error policy.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{self, Action};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Context, Error, FIELD_MANAGER};

/// Server-side applies `object` (forcing ownership of its fields).
pub(crate) async fn apply<K>(api: &Api<K>, object: &K) -> Result<K, Error>
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned,
{
    let params = PatchParams::apply(FIELD_MANAGER).force();
    Ok(api
        .patch(&object.name_any(), &params, &Patch::Apply(object))
        .await?)
}

/// Writes `status` unless the object already has it.
pub(crate) async fn write_status<K, S>(
    api: &Api<K>,
    object: &K,
    current: Option<&S>,
    status: &S,
) -> Result<(), Error>
where
    K: Resource + Clone + Debug + DeserializeOwned,
    S: Serialize + PartialEq,
{
    if current == Some(status) {
        return Ok(());
    }
    let patch = serde_json::json!({ "status": status });
    api.patch_status(
        &object.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// Merges `labels` and `annotations` into the object's metadata.
pub(crate) async fn merge_meta<K>(
    api: &Api<K>,
    name: &str,
    labels: &std::collections::BTreeMap<String, String>,
    annotations: &std::collections::BTreeMap<String, String>,
) -> Result<(), Error>
where
    K: Resource + Clone + Debug + DeserializeOwned,
{
    let patch = serde_json::json!({ "metadata": { "labels": labels, "annotations": annotations } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// Retry with back-off: 5 s after the first failure, doubling per consecutive failure
/// of the same object up to 5 minutes; a success resets it ([`succeeded`]).
pub(crate) fn error_policy<K: Resource<DynamicType = ()>>(
    object: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let key = ObjectRef::from_obj(&*object).to_string();
    if let Error::Kube(kube::Error::Api(status)) = error {
        if status.code == 404 {
            // Deleted while it was being reconciled; its next event (if any) says more.
            tracing::debug!(object = %key, %error, "gone during reconcile");
            return Action::await_change();
        }
    }
    let mut failures = ctx.failures.lock().unwrap_or_else(|e| e.into_inner());
    let count = failures.entry(key.clone()).or_insert(0);
    *count = count.saturating_add(1);
    let delay = Duration::from_secs(5)
        .saturating_mul(1 << (*count - 1).min(6))
        .min(Duration::from_secs(300));
    tracing::warn!(object = %key, %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Forgets `object`'s failures after a successful reconcile.
pub(crate) fn succeeded<K: Resource<DynamicType = ()>>(object: &K, ctx: &Context) {
    let key = ObjectRef::from_obj(object).to_string();
    ctx.failures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&key);
}

/// Logs each reconcile's result.
pub(crate) async fn drain<K, S>(
    kind: &'static str,
    results: impl futures_util::Stream<
        Item = Result<(ObjectRef<K>, Action), controller::Error<Error, S>>,
    >,
) where
    K: Resource,
    S: std::error::Error + 'static,
{
    results
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(kind, %object, "reconciled"),
                Err(e) => tracing::debug!(kind, error = %e, "reconcile error"),
            }
        })
        .await;
}
