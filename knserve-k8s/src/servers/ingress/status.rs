//! The KIngress status this ingress writes once it has programmed an object.

use knserve_core::api::{Condition, ConditionStatus};
use kube::{
    Api,
    api::{Patch, PatchParams},
};

use super::Balancers;
use super::table::Programmed;
use crate::crd::{
    Ingress, IngressStatus,
    networking::{LoadBalancerIngressStatus, LoadBalancerStatus},
};

/// The conditions a programmed KIngress reports; `Ready` is their conjunction.
const CONDITIONS: [&str; 3] = ["NetworkConfigured", "LoadBalancerReady", "Ready"];

/// The status for `programmed`: `NetworkConfigured`, `LoadBalancerReady` and `Ready`
/// all `True`, the public and private load balancers at `balancers` (the in-cluster
/// names of the external and internal listeners' Services); or, when it could not be programmed, `NetworkConfigured` and
/// `Ready` `False` with the reason.
pub fn status_for(programmed: &Programmed, balancers: &Balancers) -> IngressStatus {
    let balancer = |domain: &str| LoadBalancerStatus {
        ingress: vec![LoadBalancerIngressStatus {
            domain_internal: Some(domain.to_owned()),
            ..LoadBalancerIngressStatus::default()
        }],
    };
    let conditions = match &programmed.error {
        None => CONDITIONS
            .iter()
            .map(|c| Condition::new(*c, ConditionStatus::True))
            .collect(),
        Some(error) => ["NetworkConfigured", "Ready"]
            .iter()
            .map(|c| Condition {
                reason: Some(reason(error).to_owned()),
                message: Some(error.to_string()),
                ..Condition::new(*c, ConditionStatus::False)
            })
            .collect(),
    };
    IngressStatus {
        observed_generation: programmed.generation,
        conditions,
        public_load_balancer: Some(balancer(&balancers.public)),
        private_load_balancer: Some(balancer(&balancers.private)),
    }
}

fn reason(error: &super::table::TableError) -> &'static str {
    match error {
        super::table::TableError::BadHeader { .. } => "BadAppendHeader",
        super::table::TableError::HostTaken { .. } => "DomainConflict",
    }
}

/// Whether `current` already says what `wanted` says (same generation, same
/// condition statuses), so no write is needed.
pub fn is_current(current: Option<&IngressStatus>, wanted: &IngressStatus) -> bool {
    let Some(current) = current else {
        return false;
    };
    let statuses = |s: &IngressStatus| -> Vec<(String, ConditionStatus)> {
        let mut v: Vec<_> = s
            .conditions
            .iter()
            .map(|c| (c.type_.clone(), c.status))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    current.observed_generation == wanted.observed_generation
        && statuses(current) == statuses(wanted)
        && current.public_load_balancer == wanted.public_load_balancer
        && current.private_load_balancer == wanted.private_load_balancer
}

/// Writes `status` to the KIngress `namespace/name` (a merge patch of the status
/// subresource).
pub async fn write(
    client: kube::Client,
    namespace: &str,
    name: &str,
    status: &IngressStatus,
) -> kube::Result<()> {
    let api: Api<Ingress> = Api::namespaced(client, namespace);
    let patch = serde_json::json!({ "status": status });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// Whether a failed status write means the KIngress no longer exists (404): such a
/// write is dropped rather than retried.
pub fn is_gone(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.is_not_found())
}
