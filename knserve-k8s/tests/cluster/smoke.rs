//! The control plane is the one we built, and the CRDs are what Knative users expect of
//! the real API server: they are established, kubectl resolves their short names and prints
//! Knative's columns, and Knative's sample manifest is accepted unchanged.

use std::path::PathBuf;

use anyhow::{Context, ensure};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DeleteParams, DynamicObject};
use kube::{Api, Resource};
use serde_json::Value;

use crate::Test;
use crate::env::Cluster;

/// The smoke scenarios, in order.
pub fn tests() -> Vec<Test> {
    tests![
        the_api_server_reports_v1_36_3,
        install_crds_establishes_all_seven_crds,
        kubectl_resolves_the_short_names_ksvc_rev_kpa_sks,
        helloworld_go_is_accepted_unchanged_and_reads_back_with_its_image,
        kubectl_get_ksvc_prints_knatives_columns,
    ]
}

/// Knative's sample Service `helloworld-go`, exactly as users apply it (kept in
/// `testdata/`). Its namespace is `example`.
fn helloworld_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/testdata/helloworld-go.yaml")
}

const HELLOWORLD_NAMESPACE: &str = "example";
const HELLOWORLD_NAME: &str = "helloworld-go";

async fn the_api_server_reports_v1_36_3(cluster: &Cluster) -> anyhow::Result<()> {
    let version = cluster.client().apiserver_version().await?;
    ensure!(
        version.git_version == "v1.36.3",
        "the test cluster runs the Kubernetes the k8s-openapi v1_36 feature targets, v1.36.3; \
         the server reports {}",
        version.git_version
    );
    Ok(())
}

async fn install_crds_establishes_all_seven_crds(cluster: &Cluster) -> anyhow::Result<()> {
    cluster.install_crds().await?;
    let api: Api<CustomResourceDefinition> = Api::all(cluster.client());
    let expected = knserve_k8s::crd::all();
    ensure!(
        expected.len() == 7,
        "knserve serves 7 CRDs, crd::all() has {}",
        expected.len()
    );
    for crd in expected {
        let name = crd.metadata.name.context("a CRD without a name")?;
        let served = api
            .get(&name)
            .await
            .with_context(|| format!("reading CRD {name}"))?;
        let conditions = served.status.and_then(|s| s.conditions).unwrap_or_default();
        let established = conditions
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        ensure!(
            established,
            "CRD {name} is Established=True after install_crds: {conditions:?}"
        );
    }
    Ok(())
}

async fn kubectl_resolves_the_short_names_ksvc_rev_kpa_sks(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    cluster.install_crds().await?;
    for short in ["ksvc", "rev", "kpa", "sks"] {
        // An unknown resource type is exit status 1 ("the server doesn't have a resource type").
        cluster
            .kubectl_ok(&["get", short, "--all-namespaces"])
            .await
            .with_context(|| format!("`kubectl get {short}` resolves the Knative short name"))?;
    }
    Ok(())
}

async fn helloworld_go_is_accepted_unchanged_and_reads_back_with_its_image(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    let manifest = apply_helloworld(cluster).await?;
    let result = check_helloworld_read_back(cluster, &manifest).await;
    delete_helloworld(cluster).await?;
    result
}

async fn check_helloworld_read_back(cluster: &Cluster, manifest: &Value) -> anyhow::Result<()> {
    let image = manifest
        .pointer("/spec/template/spec/containers/0/image")
        .and_then(Value::as_str)
        .context("helloworld-go.yaml names an image")?;
    let typed: Api<knserve_k8s::crd::Service> =
        Api::namespaced(cluster.client(), HELLOWORLD_NAMESPACE);
    let service = typed
        .get(HELLOWORLD_NAME)
        .await
        .context("reading the ksvc as crd::Service")?;
    let container = service.spec.template.spec.containers.first();
    ensure!(
        container.map(|c| c.image.as_str()) == Some(image),
        "the ksvc reads back through Api<crd::Service> with the manifest's image {image}: {container:?}"
    );
    // The spec is stored as written: nothing pruned, nothing added.
    let resource = ApiResource::erase::<knserve_k8s::crd::Service>(&());
    let raw: Api<DynamicObject> =
        Api::namespaced_with(cluster.client(), HELLOWORLD_NAMESPACE, &resource);
    let stored = raw.get(HELLOWORLD_NAME).await?;
    ensure!(
        stored.data.get("spec") == manifest.get("spec"),
        "the API server stores helloworld-go's spec unchanged:\nstored   {}\nmanifest {}",
        stored.data.get("spec").unwrap_or(&Value::Null),
        manifest.get("spec").unwrap_or(&Value::Null)
    );
    Ok(())
}

async fn kubectl_get_ksvc_prints_knatives_columns(cluster: &Cluster) -> anyhow::Result<()> {
    apply_helloworld(cluster).await?;
    let listed = cluster
        .kubectl_ok(&["get", "ksvc", "-n", HELLOWORLD_NAMESPACE])
        .await;
    delete_helloworld(cluster).await?;
    let listed = listed?;
    let header: Vec<&str> = listed
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let expected = [
        "NAME",
        "URL",
        "LATESTCREATED",
        "LATESTREADY",
        "READY",
        "REASON",
    ];
    ensure!(
        header == expected,
        "`kubectl get ksvc` prints Knative's columns {expected:?}; it printed:\n{listed}"
    );
    ensure!(
        listed
            .lines()
            .nth(1)
            .is_some_and(|row| row.starts_with(HELLOWORLD_NAME)),
        "`kubectl get ksvc` lists helloworld-go:\n{listed}"
    );
    Ok(())
}

/// Installs the CRDs, creates namespace `example` and `kubectl apply`s helloworld-go.yaml;
/// returns the manifest as JSON.
async fn apply_helloworld(cluster: &Cluster) -> anyhow::Result<Value> {
    let path = helloworld_path();
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let manifest: Value = serde_yaml_ng::from_str(&text)?;
    cluster.install_crds().await?;
    cluster.ensure_namespace(HELLOWORLD_NAMESPACE).await?;
    let path = path.to_str().context("a non-UTF-8 path")?;
    cluster
        .kubectl_ok(&["apply", "-f", path])
        .await
        .context("the API server accepts helloworld-go.yaml as users apply it")?;
    Ok(manifest)
}

async fn delete_helloworld(cluster: &Cluster) -> anyhow::Result<()> {
    let api: Api<knserve_k8s::crd::Service> =
        Api::namespaced(cluster.client(), HELLOWORLD_NAMESPACE);
    api.delete(HELLOWORLD_NAME, &DeleteParams::default())
        .await
        .with_context(|| {
            format!(
                "deleting {} {HELLOWORLD_NAME}",
                knserve_k8s::crd::Service::kind(&())
            )
        })?;
    Ok(())
}
