//! Knative's sample Service on a real API server, reconciled by knserve's controller,
//! autoscaler and ingress running in this process (kwok plays the kubelet, so pods become
//! Ready with fake IPs and nothing is ever sent to them).
//!
//! The scenarios build on one another, in order: create, Ready, revision 2 with a 50/50
//! split, scale up, scale to zero, a controller restart, an invalid Service (without and
//! with the admission webhook), deletion.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service as CoreService;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use knserve_k8s::crd::{self, PodAutoscaler, ServerlessService};
use knserve_k8s::servers::autoscaler::{Autoscaler, AutoscalerOptions};
use knserve_k8s::servers::ingress::{self, IngressOptions};
use knserve_k8s::servers::wire::{STATS_PATH, StatMessage};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::{Mutex, OnceCell};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};

use crate::Test;
use crate::env::Cluster;

/// The serving scenarios, in order.
pub fn tests() -> Vec<Test> {
    tests![
        helloworld_go_creates_its_configuration_revision_deployment_pa_sks_and_services,
        kwok_readies_the_pods_and_the_service_reports_ready_with_its_url,
        a_template_change_makes_revision_2_and_a_50_50_split_shows_in_the_ingress,
        an_autoscaler_decision_changes_the_deployments_replicas,
        scale_to_zero_moves_the_sks_to_proxy_with_activator_endpoints,
        restarting_the_controller_creates_no_duplicates,
        without_the_webhook_an_invalid_service_reports_the_field_in_its_status,
        with_the_webhook_an_invalid_service_is_rejected_naming_the_field,
        class_hpa_makes_a_horizontal_pod_autoscaler_on_cpu,
        deleting_the_service_removes_everything_it_owned,
    ]
}

const NS: &str = "example";
const NAME: &str = "helloworld-go";
const REV1: &str = "helloworld-go-00001";
const REV2: &str = "helloworld-go-00002";
const SYSTEM: &str = "knative-serving";
const WAIT: Duration = Duration::from_secs(60);

/// The servers under test, started once for the module.
pub(crate) struct Servers {
    controller: Mutex<Option<JoinHandle<()>>>,
    autoscaler: Autoscaler,
    _ingress: JoinHandle<()>,
    http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
}

/// Knative's default list and the registries the scenarios' images name.
const SKIPPED_REGISTRIES: &str = "kind.local,ko.local,dev.local,registry.invalid,\
    registry.cn-hangzhou.aliyuncs.com,ghcr.io";

static SERVERS: OnceCell<Servers> = OnceCell::const_new();

pub(crate) async fn servers(cluster: &Cluster) -> anyhow::Result<&'static Servers> {
    SERVERS.get_or_try_init(|| start_servers(cluster)).await
}

/// CRDs, the system namespace with Knative's ConfigMaps (short windows so scale to zero
/// takes seconds), two fake activator pods behind `activator-service`, then the
/// controller, the autoscaler and the ingress.
async fn start_servers(cluster: &Cluster) -> anyhow::Result<Servers> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    cluster.install_crds().await?;
    cluster.ensure_namespace(SYSTEM).await?;
    cluster.ensure_namespace(NS).await?;
    let client = cluster.client();
    let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), SYSTEM);
    let autoscaler_config = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "config-autoscaler", "namespace": SYSTEM },
        "data": {
            "stable-window": "6s",
            "panic-window-percentage": "20",
            "scale-to-zero-grace-period": "6s"
        }
    });
    config_maps
        .patch(
            "config-autoscaler",
            &ssa(),
            &Patch::Apply(&autoscaler_config),
        )
        .await?;
    // kwok's node pulls no image, and this machine reaches no registry: the test images'
    // registries skip tag-to-digest resolution, as Knative's own kind setup skips
    // `kind.local` (resolution itself is tested against a real registry in
    // `tests/registry_digest.rs` and on the real node).
    let deployment_config = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "config-deployment", "namespace": SYSTEM },
        "data": { "registries-skipping-tag-resolving": SKIPPED_REGISTRIES }
    });
    config_maps
        .patch(
            "config-deployment",
            &ssa(),
            &Patch::Apply(&deployment_config),
        )
        .await?;
    start_activator_pods(&client).await?;
    let controller = spawn_controller(client.clone());
    let autoscaler = Autoscaler::start(
        client.clone(),
        AutoscalerOptions {
            stats_listen: "127.0.0.1:0".parse()?,
            metrics_listen: "127.0.0.1:0".parse()?,
            ..AutoscalerOptions::default()
        },
    )
    .await?;
    let options = IngressOptions {
        listen: "127.0.0.1:0".parse()?,
        ..IngressOptions::default()
    };
    let ingress_client = client.clone();
    let ingress = tokio::spawn(async move {
        if let Err(e) = ingress::run_until(ingress_client, options, std::future::pending()).await {
            eprintln!("ingress stopped: {e:#}");
        }
    });
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    Ok(Servers {
        controller: Mutex::new(Some(controller)),
        autoscaler,
        _ingress: ingress,
        http,
    })
}

fn spawn_controller(client: Client) -> JoinHandle<()> {
    tokio::spawn(async move {
        let options = knserve_k8s::controller::ControllerOptions::default();
        if let Err(e) = knserve_k8s::controller::run(client, options).await {
            eprintln!("controller stopped: {e:#}");
        }
    })
}

/// `activator-service` selecting two pods that kwok makes Ready, so its EndpointSlice
/// (written by kube-controller-manager) has two ready addresses.
async fn start_activator_pods(client: &Client) -> anyhow::Result<()> {
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "activator", "namespace": SYSTEM },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": "activator" } },
            "template": {
                "metadata": { "labels": { "app": "activator" } },
                "spec": { "containers": [{ "name": "activator", "image": "registry.invalid/knserve:test",
                    "ports": [{ "name": "http", "containerPort": 8012 }] }] }
            }
        }
    });
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": "activator-service", "namespace": SYSTEM },
        "spec": { "selector": { "app": "activator" },
                  "ports": [{ "name": "http", "port": 80, "targetPort": 8012 }] }
    });
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), SYSTEM);
    deployments
        .patch("activator", &ssa(), &Patch::Apply(&deployment))
        .await?;
    let services: Api<CoreService> = Api::namespaced(client.clone(), SYSTEM);
    services
        .patch("activator-service", &ssa(), &Patch::Apply(&service))
        .await?;
    eventually("two ready activator endpoints", || async {
        let ready = ready_addresses(client, SYSTEM, "activator-service").await?;
        Ok((ready.len() == 2).then_some(()))
    })
    .await
}

pub(crate) fn ssa() -> PatchParams {
    PatchParams::apply("knserve-cluster-tests").force()
}

/// Polls `check` every 250 ms until it returns `Some`, for at most [`WAIT`].
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + WAIT;
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => last_error = Some(e),
        }
        if Instant::now() > deadline {
            match last_error {
                Some(e) => bail!("timed out after {WAIT:?} waiting for {what}; last error: {e:#}"),
                None => bail!("timed out after {WAIT:?} waiting for {what}"),
            }
        }
        sleep(Duration::from_millis(250)).await;
    }
}

async fn ready_addresses(
    client: &Client,
    namespace: &str,
    service: &str,
) -> anyhow::Result<BTreeSet<String>> {
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().labels(&format!("kubernetes.io/service-name={service}"));
    let mut ready = BTreeSet::new();
    for slice in api.list(&params).await?.items {
        for endpoint in slice.endpoints.into_iter().flatten() {
            let is_ready = endpoint
                .conditions
                .as_ref()
                .and_then(|c| c.ready)
                .unwrap_or(true);
            if is_ready {
                ready.extend(endpoint.addresses);
            }
        }
    }
    Ok(ready)
}

fn ready_status(conditions: &[knserve_k8s::core::api::Condition]) -> Option<String> {
    conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| format!("{:?}", c.status))
}

async fn helloworld_go_creates_its_configuration_revision_deployment_pa_sks_and_services(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    servers(cluster).await?;
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cluster/testdata/helloworld-go.yaml");
    let manifest = manifest.to_str().context("a UTF-8 path")?;
    cluster.kubectl_ok(&["apply", "-f", manifest]).await?;
    let client = cluster.client();
    let configurations: Api<crd::Configuration> = Api::namespaced(client.clone(), NS);
    let configuration = eventually("Configuration helloworld-go", || async {
        Ok(configurations.get_opt(NAME).await?)
    })
    .await?;
    let owner = &configuration.owner_references()[0];
    ensure!(
        owner.kind == "Service" && owner.controller == Some(true),
        "the Configuration is controlled by its Service: {owner:?}"
    );
    let revisions: Api<crd::Revision> = Api::namespaced(client.clone(), NS);
    let revision = eventually("Revision helloworld-go-00001", || async {
        Ok(revisions.get_opt(REV1).await?)
    })
    .await?;
    ensure!(
        revision
            .labels()
            .get("serving.knative.dev/configurationGeneration")
            .map(String::as_str)
            == Some("1"),
        "the revision records its configuration generation: {:?}",
        revision.labels()
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let deployment = eventually("Deployment helloworld-go-00001-deployment", || async {
        Ok(deployments.get_opt(&format!("{REV1}-deployment")).await?)
    })
    .await?;
    let pod = deployment
        .spec
        .and_then(|s| s.template.spec)
        .context("a pod template")?;
    let names: Vec<&str> = pod.containers.iter().map(|c| c.name.as_str()).collect();
    ensure!(
        names.contains(&"queue-proxy"),
        "the pod has the queue-proxy sidecar: {names:?}"
    );
    let user = &pod.containers[0];
    ensure!(
        user.image.as_deref()
            == Some("registry.cn-hangzhou.aliyuncs.com/knative-sample/helloworld-go:160e4dc8"),
        "the user container runs the manifest's image: {:?}",
        user.image
    );
    let env: Vec<(String, Option<String>)> = user
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect();
    ensure!(
        env.contains(&("PORT".to_owned(), Some("8080".to_owned()))),
        "PORT is set: {env:?}"
    );
    ensure!(
        env.contains(&("TARGET".to_owned(), Some("Go Sample v1".to_owned()))),
        "the user's env is kept: {env:?}"
    );
    let autoscalers: Api<PodAutoscaler> = Api::namespaced(client.clone(), NS);
    let pa = eventually("PodAutoscaler", || async {
        Ok(autoscalers.get_opt(REV1).await?)
    })
    .await?;
    ensure!(
        pa.spec.scale_target_ref.name.as_deref() == Some(&*format!("{REV1}-deployment")),
        "the PA scales the Deployment"
    );
    let sks_api: Api<ServerlessService> = Api::namespaced(client.clone(), NS);
    eventually("ServerlessService", || async {
        Ok(sks_api.get_opt(REV1).await?)
    })
    .await?;
    let services: Api<CoreService> = Api::namespaced(client.clone(), NS);
    let private = eventually("private Service", || async {
        Ok(services.get_opt(&format!("{REV1}-private")).await?)
    })
    .await?;
    ensure!(
        private
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .is_some_and(
                |s| s.get("serving.knative.dev/revision").map(String::as_str) == Some(REV1)
            ),
        "the private Service selects the revision's pods"
    );
    let public = eventually("public Service", || async {
        Ok(services.get_opt(REV1).await?)
    })
    .await?;
    ensure!(
        public.spec.as_ref().is_some_and(|s| s.selector.is_none()),
        "the public Service has no selector (its endpoints are written by the SKS reconciler)"
    );
    Ok(())
}

async fn kwok_readies_the_pods_and_the_service_reports_ready_with_its_url(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    servers(cluster).await?;
    let services: Api<crd::Service> = Api::namespaced(cluster.client(), NS);
    let service = eventually("Service Ready=True", || async {
        let service = services.get(NAME).await?;
        let ready = service
            .status
            .as_ref()
            .and_then(|s| ready_status(&s.conditions));
        Ok((ready.as_deref() == Some("True")).then_some(service))
    })
    .await?;
    let status = service.status.context("a status")?;
    ensure!(
        status.url.as_deref() == Some("http://helloworld-go.example.svc.cluster.local"),
        "with no domain configured the URL is cluster-local, as in Knative: {:?}",
        status.url
    );
    ensure!(
        status.latest_ready_revision_name.as_deref() == Some(REV1),
        "latest ready is revision 1"
    );
    let printed = cluster.kubectl_ok(&["get", "ksvc", NAME, "-n", NS]).await?;
    ensure!(
        printed.contains("True") && printed.contains(REV1),
        "kubectl shows it Ready: {printed}"
    );
    Ok(())
}

async fn a_template_change_makes_revision_2_and_a_50_50_split_shows_in_the_ingress(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    servers(cluster).await?;
    let client = cluster.client();
    let services: Api<crd::Service> = Api::namespaced(client.clone(), NS);
    let change = json!({
        "spec": {
            "template": {
                "metadata": { "annotations": { "autoscaling.knative.dev/target": "10" } },
                "spec": { "containers": [{
                    "image": "registry.cn-hangzhou.aliyuncs.com/knative-sample/helloworld-go:160e4dc8",
                    "env": [{ "name": "TARGET", "value": "Go Sample v2" }]
                }] }
            },
            "traffic": [
                { "revisionName": REV1, "percent": 50 },
                { "latestRevision": true, "percent": 50 }
            ]
        }
    });
    services
        .patch(NAME, &PatchParams::default(), &Patch::Merge(&change))
        .await?;
    let revisions: Api<crd::Revision> = Api::namespaced(client.clone(), NS);
    eventually("Revision helloworld-go-00002", || async {
        Ok(revisions.get_opt(REV2).await?)
    })
    .await?;
    let ingresses: Api<crd::Ingress> = Api::namespaced(client.clone(), NS);
    let splits = eventually("a 50/50 Ingress", || async {
        let Some(ingress) = ingresses.get_opt(NAME).await? else {
            return Ok(None);
        };
        let splits: Vec<(String, i32)> = ingress
            .spec
            .rules
            .first()
            .and_then(|r| r.http.as_ref())
            .and_then(|h| h.paths.first())
            .map(|p| {
                p.splits
                    .iter()
                    .map(|s| (s.service_name.clone(), s.percent))
                    .collect()
            })
            .unwrap_or_default();
        Ok((splits.len() == 2).then_some(splits))
    })
    .await?;
    let want = vec![(REV1.to_owned(), 50), (REV2.to_owned(), 50)];
    let mut got = splits;
    got.sort();
    ensure!(
        got == want,
        "the Ingress splits 50/50 between the revisions' public Services: {got:?}"
    );
    Ok(())
}

async fn post_stat(servers: &Servers, revision: &str, concurrency: f64) -> anyhow::Result<()> {
    let message = StatMessage {
        namespace: NS.to_owned(),
        revision: revision.to_owned(),
        pod_name: "activator-test".to_owned(),
        average_concurrent_requests: concurrency,
        average_proxied_concurrent_requests: 0.0,
        request_count: concurrency,
        proxied_request_count: 0.0,
        process_uptime: 100.0,
    };
    let body = serde_json::to_vec(&[message])?;
    let uri = format!(
        "http://{}{STATS_PATH}",
        servers.autoscaler.addresses().stats
    );
    let request = http::Request::post(uri)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))?;
    let response = servers.http.request(request).await?;
    ensure!(
        response.status().is_success(),
        "the autoscaler took the stat: {}",
        response.status()
    );
    Ok(())
}

async fn deployment_replicas(client: &Client, revision: &str) -> anyhow::Result<i32> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let deployment = deployments.get(&format!("{revision}-deployment")).await?;
    Ok(deployment.spec.and_then(|s| s.replicas).unwrap_or(1))
}

async fn an_autoscaler_decision_changes_the_deployments_replicas(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    let servers = servers(cluster).await?;
    let client = cluster.client();
    let autoscalers: Api<PodAutoscaler> = Api::namespaced(client.clone(), NS);
    eventually("revision 2's PodAutoscaler", || async {
        Ok(autoscalers.get_opt(REV2).await?)
    })
    .await?;
    let replicas = eventually("revision 2 scaled above 1 replica", || async {
        post_stat(servers, REV2, 50.0).await?;
        let replicas = deployment_replicas(&client, REV2).await?;
        Ok((replicas > 1).then_some(replicas))
    })
    .await?;
    let pa = autoscalers.get(REV2).await?;
    let desired = pa.status.and_then(|s| s.desired_scale);
    ensure!(
        desired.is_some_and(|d| d > 1),
        "the PodAutoscaler records the decision ({desired:?}) the Deployment now has ({replicas})"
    );
    Ok(())
}

async fn scale_to_zero_moves_the_sks_to_proxy_with_activator_endpoints(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    let servers = servers(cluster).await?;
    let client = cluster.client();
    let activators = ready_addresses(&client, SYSTEM, "activator-service").await?;
    let sks_api: Api<ServerlessService> = Api::namespaced(client.clone(), NS);
    eventually("revision 1 in Proxy mode behind the activators", || async {
        post_stat(servers, REV1, 0.0).await?;
        let sks = sks_api.get(REV1).await?;
        let public = ready_addresses(&client, NS, REV1).await?;
        Ok(
            (sks.spec.mode == "Proxy" && !public.is_empty() && public.is_subset(&activators))
                .then_some(()),
        )
    })
    .await?;
    eventually("revision 1 at zero replicas", || async {
        post_stat(servers, REV1, 0.0).await?;
        Ok((deployment_replicas(&client, REV1).await? == 0).then_some(()))
    })
    .await?;
    let public = ready_addresses(&client, NS, REV1).await?;
    ensure!(
        !public.is_empty() && public.is_subset(&activators),
        "at zero the public endpoints are activators {activators:?}: {public:?}"
    );
    Ok(())
}

async fn counts(client: &Client) -> anyhow::Result<(usize, usize, usize, usize, usize)> {
    let lp = ListParams::default();
    Ok((
        Api::<crd::Configuration>::namespaced(client.clone(), NS)
            .list(&lp)
            .await?
            .items
            .len(),
        Api::<crd::Revision>::namespaced(client.clone(), NS)
            .list(&lp)
            .await?
            .items
            .len(),
        Api::<Deployment>::namespaced(client.clone(), NS)
            .list(&lp)
            .await?
            .items
            .len(),
        Api::<PodAutoscaler>::namespaced(client.clone(), NS)
            .list(&lp)
            .await?
            .items
            .len(),
        Api::<crd::Ingress>::namespaced(client.clone(), NS)
            .list(&lp)
            .await?
            .items
            .len(),
    ))
}

async fn restarting_the_controller_creates_no_duplicates(cluster: &Cluster) -> anyhow::Result<()> {
    let servers = servers(cluster).await?;
    let client = cluster.client();
    let before = counts(&client).await?;
    ensure!(
        before == (1, 2, 2, 2, 1),
        "one configuration, two revisions, deployments and PAs, one ingress: {before:?}"
    );
    let mut controller = servers.controller.lock().await;
    if let Some(old) = controller.take() {
        old.abort();
        let _ = old.await;
    }
    *controller = Some(spawn_controller(client.clone()));
    drop(controller);
    let services: Api<crd::Service> = Api::namespaced(client.clone(), NS);
    let generation = services.get(NAME).await?.metadata.generation;
    // The restarted controller lists everything and reconciles it; wait until it has
    // rewritten the Service's status for the current generation, then a little longer.
    eventually("the restarted controller's first pass", || async {
        let service = services.get(NAME).await?;
        let observed = service.status.as_ref().and_then(|s| s.observed_generation);
        Ok((observed == generation).then_some(()))
    })
    .await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let after = counts(&client).await?;
        ensure!(
            after == before,
            "a restart duplicates nothing: before {before:?}, after {after:?}"
        );
        sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

async fn deleting_the_service_removes_everything_it_owned(cluster: &Cluster) -> anyhow::Result<()> {
    servers(cluster).await?;
    let client = cluster.client();
    cluster
        .kubectl_ok(&["delete", "ksvc", NAME, "-n", NS, "--wait=true"])
        .await?;
    eventually("every owned object gone", || async {
        let (configurations, revisions, deployments, pas, ingresses) = counts(&client).await?;
        let sks = Api::<ServerlessService>::namespaced(client.clone(), NS)
            .list(&ListParams::default())
            .await?
            .items
            .len();
        let routes = Api::<crd::Route>::namespaced(client.clone(), NS)
            .list(&ListParams::default())
            .await?
            .items
            .len();
        let services = Api::<CoreService>::namespaced(client.clone(), NS)
            .list(&ListParams::default())
            .await?
            .items
            .len();
        let left =
            configurations + revisions + deployments + pas + ingresses + sks + routes + services;
        Ok((left == 0).then_some(()))
    })
    .await
}

/// A Service whose container uses the queue-proxy's reserved port 8012.
fn invalid_service(name: &str) -> serde_json::Value {
    json!({
        "apiVersion": "serving.knative.dev/v1", "kind": "Service",
        "metadata": { "name": name, "namespace": NS },
        "spec": { "template": { "spec": { "containers": [{
            "image": "registry.invalid/hello:1",
            "ports": [{ "containerPort": 8012 }]
        }] } } }
    })
}

// Knative's path names the serving port without its index.
const BAD_FIELD: &str = "spec.template.spec.containers[0].ports.containerPort";

async fn without_the_webhook_an_invalid_service_reports_the_field_in_its_status(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    servers(cluster).await?;
    let services: Api<crd::Service> = Api::namespaced(cluster.client(), NS);
    let name = "invalid-no-webhook";
    services
        .patch(name, &ssa(), &Patch::Apply(&invalid_service(name)))
        .await
        .context("the API server alone accepts it: the schema keeps unknown fields")?;
    let message = eventually("Ready=False InvalidSpec", || async {
        let service = services.get(name).await?;
        let ready = service
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready").cloned());
        Ok(ready
            .filter(|c| c.reason.as_deref() == Some("InvalidSpec"))
            .and_then(|c| c.message))
    })
    .await?;
    ensure!(
        message.contains(BAD_FIELD),
        "the status names the field: {message}"
    );
    let configurations: Api<crd::Configuration> = Api::namespaced(cluster.client(), NS);
    ensure!(
        configurations.get_opt(name).await?.is_none(),
        "nothing is built from an invalid Service"
    );
    services.delete(name, &Default::default()).await?;
    Ok(())
}

async fn with_the_webhook_an_invalid_service_is_rejected_naming_the_field(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    servers(cluster).await?;
    let client = cluster.client();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let options = knserve_k8s::webhook::WebhookOptions::new(SYSTEM).on_loopback(port);
    let webhook_client = client.clone();
    let webhook = tokio::spawn(async move {
        if let Err(e) = knserve_k8s::webhook::run(webhook_client, options).await {
            eprintln!("webhook stopped: {e:#}");
        }
    });
    let result = rejected_by_webhook(cluster).await;
    webhook.abort();
    unregister_webhook(&client).await?;
    result
}

async fn rejected_by_webhook(cluster: &Cluster) -> anyhow::Result<()> {
    let services: Api<crd::Service> = Api::namespaced(cluster.client(), NS);
    let name = "invalid-webhook";
    let error = eventually("the webhook to deny the Service", || async {
        match services
            .patch(name, &ssa(), &Patch::Apply(&invalid_service(name)))
            .await
        {
            Err(kube::Error::Api(status)) if status.message.contains("denied the request") => {
                Ok(Some(status))
            }
            Err(e) => Err(e.into()),
            Ok(_) => {
                // Not registered yet: undo and retry.
                services.delete(name, &Default::default()).await?;
                Ok(None)
            }
        }
    })
    .await?;
    ensure!(
        error.message.contains(BAD_FIELD) && error.code == 400,
        "the denial names the field with code 400: {error:?}"
    );
    let good = eventually("the webhook to default a valid Service", || async {
        let manifest = json!({
            "apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": { "name": "defaulted", "namespace": NS },
            "spec": { "template": { "spec": { "containers": [{ "image": "registry.invalid/hello:1" }] } } }
        });
        let created = services.patch("defaulted", &ssa(), &Patch::Apply(&manifest)).await?;
        Ok(Some(created))
    })
    .await?;
    let container = &good.spec.template.spec.containers[0];
    ensure!(
        container.name == "user-container" && good.spec.template.spec.timeout_seconds == Some(300),
        "the mutating webhook applied Knative's defaults: {container:?}"
    );
    services.delete("defaulted", &Default::default()).await?;
    Ok(())
}

async fn unregister_webhook(client: &Client) -> anyhow::Result<()> {
    use k8s_openapi::api::admissionregistration::v1::{
        MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
    };
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let _ = mutating
        .delete(knserve_k8s::webhook::DEFAULTING_NAME, &Default::default())
        .await;
    let _ = validating
        .delete(knserve_k8s::webhook::VALIDATION_NAME, &Default::default())
        .await;
    Ok(())
}

async fn class_hpa_makes_a_horizontal_pod_autoscaler_on_cpu(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
    servers(cluster).await?;
    let client = cluster.client();
    let name = "hello-hpa";
    let manifest = json!({
        "apiVersion": "serving.knative.dev/v1", "kind": "Service",
        "metadata": { "name": name, "namespace": NS },
        "spec": { "template": {
            "metadata": { "annotations": {
                "autoscaling.knative.dev/class": "hpa.autoscaling.knative.dev",
                "autoscaling.knative.dev/metric": "cpu",
                "autoscaling.knative.dev/target": "70",
                "autoscaling.knative.dev/min-scale": "1",
                "autoscaling.knative.dev/max-scale": "5"
            } },
            "spec": { "containers": [{ "image": "registry.invalid/hello:1" }] }
        } }
    });
    let services: Api<crd::Service> = Api::namespaced(client.clone(), NS);
    services
        .patch(name, &ssa(), &Patch::Apply(&manifest))
        .await?;
    let revision = format!("{name}-00001");
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), NS);
    let hpa = eventually("the HorizontalPodAutoscaler", || async {
        Ok(hpas.get_opt(&revision).await?)
    })
    .await?;
    let spec = hpa.spec;
    ensure!(
        spec.min_replicas == Some(1) && spec.max_replicas == 5,
        "min/max come from the annotations: {:?}/{}",
        spec.min_replicas,
        spec.max_replicas
    );
    ensure!(
        spec.scale_target_ref.name == format!("{revision}-deployment"),
        "the HPA scales the revision's Deployment"
    );
    let metric = spec
        .metrics
        .unwrap_or_default()
        .into_iter()
        .next()
        .context("a metric")?;
    let resource = metric.resource.context("a resource metric")?;
    ensure!(
        resource.name == "cpu" && resource.target.average_utilization == Some(70),
        "CPU at 70% utilization: {resource:?}"
    );
    let sks_api: Api<ServerlessService> = Api::namespaced(client.clone(), NS);
    let sks = eventually("the SKS", || async {
        Ok(sks_api.get_opt(&revision).await?)
    })
    .await?;
    ensure!(
        sks.spec.mode == "Serve",
        "an HPA revision is always served by its pods"
    );
    services.delete(name, &Default::default()).await?;
    Ok(())
}
