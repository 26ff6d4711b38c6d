//! Revision garbage collection (`config-gc`) by knserve's controller on a real API
//! server: stale revisions are deleted down to the routed one and
//! `min-non-active-revisions`, and a revision a traffic split references is kept.
//!
//! Runs after the serving scenarios, on their servers; it sets `config-gc` and removes
//! it again at the end.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::ensure;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use knserve_k8s::crd;
use kube::api::{ListParams, Patch};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::time::sleep;

use crate::Test;
use crate::env::Cluster;
use crate::serving::{eventually, servers, ssa};

/// The garbage-collection scenarios, in order.
pub fn tests() -> Vec<Test> {
    tests![
        stale_revisions_are_deleted_down_to_the_routed_one_and_min_non_active,
        a_revision_a_traffic_split_references_is_never_deleted,
    ]
}

const NS: &str = "example";
const NAME: &str = "gc-demo";
const SYSTEM: &str = "knative-serving";

fn revision(n: u32) -> String {
    format!("{NAME}-{n:05}")
}

/// Writes `config-gc`: one-second retention, keeping `min` non-active revisions.
async fn set_config_gc(client: &Client, min: u32) -> anyhow::Result<()> {
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), SYSTEM);
    let map = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "config-gc", "namespace": SYSTEM },
        "data": {
            "retain-since-create-time": "1s",
            "retain-since-last-active-time": "1s",
            "min-non-active-revisions": min.to_string()
        }
    });
    config_maps
        .patch("config-gc", &ssa(), &Patch::Apply(&map))
        .await?;
    Ok(())
}

/// Applies the Service with template version `n` and `traffic`, and waits until its
/// latest ready revision is `n`'s.
async fn apply_version(client: &Client, n: u32, traffic: serde_json::Value) -> anyhow::Result<()> {
    let services: Api<crd::Service> = Api::namespaced(client.clone(), NS);
    let service = json!({
        "apiVersion": "serving.knative.dev/v1", "kind": "Service",
        "metadata": { "name": NAME, "namespace": NS },
        "spec": {
            "template": { "spec": { "containers": [{
                "image": "registry.invalid/gc-demo:1",
                "env": [{ "name": "VERSION", "value": n.to_string() }]
            }] } },
            "traffic": traffic
        }
    });
    services
        .patch(NAME, &ssa(), &Patch::Apply(&service))
        .await?;
    let want = revision(n);
    eventually(&format!("{want} latest ready and routed"), || async {
        let service = services.get(NAME).await?;
        let status = service.status.as_ref();
        let ready = status.and_then(|s| s.latest_ready_revision_name.as_deref()) == Some(&want);
        let routed = status.is_some_and(|s| {
            s.traffic
                .iter()
                .any(|t| t.revision_name.as_deref() == Some(&want))
        });
        Ok((ready && routed).then_some(()))
    })
    .await
}

fn all_to_latest() -> serde_json::Value {
    json!([{ "latestRevision": true, "percent": 100 }])
}

/// The names of the Service's revisions.
async fn revision_names(client: &Client) -> anyhow::Result<BTreeSet<String>> {
    let revisions: Api<crd::Revision> = Api::namespaced(client.clone(), NS);
    let params = ListParams::default().labels(&format!("serving.knative.dev/configuration={NAME}"));
    Ok(revisions
        .list(&params)
        .await?
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect())
}

/// Waits until the Service's revisions are exactly `want`.
async fn wait_revisions(client: &Client, want: &[u32]) -> anyhow::Result<()> {
    let want: BTreeSet<String> = want.iter().map(|&n| revision(n)).collect();
    eventually(&format!("revisions {want:?}"), || async {
        Ok((revision_names(client).await? == want).then_some(()))
    })
    .await
}

async fn stale_revisions_are_deleted_down_to_the_routed_one_and_min_non_active(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    servers(cluster).await?;
    let client = cluster.client();
    set_config_gc(&client, 1).await?;
    for n in 1..=4 {
        apply_version(&client, n, all_to_latest()).await?;
    }
    wait_revisions(&client, &[3, 4]).await?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    eventually("the collected revisions' Deployments gone", || async {
        let gone = [1, 2]
            .iter()
            .map(|&n| format!("{}-deployment", revision(n)));
        for name in gone {
            if deployments.get_opt(&name).await?.is_some() {
                return Ok(None);
            }
        }
        Ok(Some(()))
    })
    .await?;
    ensure!(
        deployments
            .get_opt(&format!("{}-deployment", revision(4)))
            .await?
            .is_some(),
        "the routed revision keeps its Deployment"
    );
    Ok(())
}

async fn a_revision_a_traffic_split_references_is_never_deleted(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    servers(cluster).await?;
    let client = cluster.client();
    let split = json!([
        { "revisionName": revision(3), "percent": 50 },
        { "latestRevision": true, "percent": 50 }
    ]);
    apply_version(&client, 5, split).await?;
    // 4 is now unreferenced but the only non-active revision: min 1 keeps it.
    wait_revisions(&client, &[3, 4, 5]).await?;
    // With min 0 (a config change revisits every Configuration) 4 goes; 3, named by
    // the split, stays.
    set_config_gc(&client, 0).await?;
    wait_revisions(&client, &[3, 5]).await?;
    sleep(Duration::from_secs(3)).await;
    let names = revision_names(&client).await?;
    ensure!(
        names == BTreeSet::from([revision(3), revision(5)]),
        "with min-non-active-revisions 0 and 1 s retention, a referenced revision is kept: {names:?}"
    );

    cluster
        .kubectl_ok(&["delete", "ksvc", NAME, "-n", NS, "--wait=true"])
        .await?;
    cluster
        .kubectl_ok(&["delete", "configmap", "config-gc", "-n", SYSTEM])
        .await?;
    Ok(())
}
