//! The scenarios, in order. Every request goes through `knserve-ingress` (its Service's
//! cluster IP) with the Knative Service's host, as a client in the cluster would send it.
//!
//! Knative Services are written here as users write them; the only configuration change is
//! `config-autoscaler`'s `scale-to-zero-grace-period` (6 s, Knative's minimum, instead of
//! 30 s) so that the runs that wait for zero take seconds, with each Service's own
//! `autoscaling.knative.dev/window: 6s` (also Knative's minimum).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use futures_util::future::join_all;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use knserve_k8s::crd::{self, ServerlessService};
use kube::Api;
use kube::api::ListParams;
use serde_json::Value;
use tokio::time::Instant;

use crate::Test;
use crate::conformance::knatives_conformance_suites_pass;
use crate::env::{Node, Reply, SERVERS, SYSTEM, condition, wait_for};

/// The scenarios, in order.
pub fn tests() -> Vec<Test> {
    tests![
        the_servers_run_as_real_pods_on_the_node,
        helloworld_and_simple_api_become_ready_and_answer,
        scale_from_zero_answers_and_records_first_byte_times,
        scale_up_under_load_adds_pods_and_takes_the_activator_out_of_the_path,
        a_50_50_split_and_tag_hosts,
        a_rollout_under_steady_load_answers_only_2xx,
        scale_down_under_load_fails_no_request,
        an_image_that_does_not_exist_is_reported_as_image_pull_back_off,
        a_container_that_exits_at_start_is_reported_with_its_exit_code,
        knatives_conformance_suites_pass,
    ]
}

/// Where the scenarios' Services live (the examples name it).
const NS: &str = "default";
/// How long a Service may take to become Ready on this node.
const READY: Duration = Duration::from_secs(90);
/// How long a revision may take to reach zero pods (window + grace + drain).
const TO_ZERO: Duration = Duration::from_secs(120);
/// The node's name (`kube-testenv.sh up-node`).
const NODE_NAME: &str = "testenv-node-0";

async fn the_servers_run_as_real_pods_on_the_node(node: &Node) -> anyhow::Result<()> {
    let pods: Api<Pod> = Api::namespaced(node.client(), SYSTEM);
    let list = pods.list(&ListParams::default()).await?;
    for server in SERVERS {
        let pod = list
            .items
            .iter()
            .find(|p| {
                p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("app"))
                    .map(String::as_str)
                    == Some(server)
            })
            .with_context(|| format!("no pod of {server}"))?;
        let spec = pod.spec.as_ref().context("a pod without spec")?;
        ensure!(
            spec.node_name.as_deref() == Some(NODE_NAME),
            "{server} runs on {:?}, not the real node",
            spec.node_name
        );
        let status = pod.status.as_ref().context("a pod without status")?;
        let container = status
            .container_statuses
            .as_ref()
            .and_then(|c| c.first())
            .context("no container status")?;
        ensure!(
            container.ready
                && container
                    .state
                    .as_ref()
                    .is_some_and(|s| s.running.is_some()),
            "{server}'s container is not running and ready: {container:?}"
        );
        ensure!(
            container.image_id.starts_with("sha256:") || container.image_id.contains("@sha256:"),
            "{server}'s container has no image digest: {:?}",
            container.image_id
        );
    }
    Ok(())
}

async fn helloworld_and_simple_api_become_ready_and_answer(node: &Node) -> anyhow::Result<()> {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    for example in ["helloworld", "simple-api"] {
        let manifest = std::fs::read_to_string(format!("{examples}/{example}/service.yaml"))?;
        node.kubectl_stdin(&["apply", "-f", "-"], &manifest).await?;
    }
    let hello = ready_host(node, "helloworld").await?;
    let reply = node.get(&hello, "/").await?;
    ensure!(
        reply.status == 200 && reply.body.trim() == "Hello knserve!",
        "helloworld answered {} {:?}",
        reply.status,
        reply.body
    );
    let api = ready_host(node, "simple-api").await?;
    for path in ["/", "/health", "/info", "/echo?msg=hi"] {
        let reply = node.get(&api, path).await?;
        ensure!(
            reply.status == 200,
            "simple-api {path} answered {} {:?}",
            reply.status,
            reply.body
        );
    }
    Ok(())
}

async fn scale_from_zero_answers_and_records_first_byte_times(node: &Node) -> anyhow::Result<()> {
    short_grace_period(node).await?;
    apply(
        node,
        &hello_service("cold", "cold", &[("autoscaling.knative.dev/window", "6s")]),
    )
    .await?;
    let host = ready_host(node, "cold").await?;
    let at_zero = wait_for_zero(node, "cold-00001").await?;
    node.record("scale_to_zero_after_ready_s", at_zero.as_secs_f64());
    ensure_sks_mode(node, "cold-00001", "Proxy").await?;
    let cold = node.get(&host, "/").await?;
    ensure!(
        cold.status == 200 && cold.body.trim() == "Hello cold!",
        "the request at zero got {} {:?}",
        cold.status,
        cold.body
    );
    let mut warm = Vec::new();
    for _ in 0..20 {
        let reply = node.get(&host, "/").await?;
        ensure!(reply.status == 200, "a warm request got {}", reply.status);
        warm.push(reply.first_byte);
    }
    warm.sort();
    node.record("cold_first_byte_ms", millis(cold.first_byte));
    node.record("warm_first_byte_median_ms", millis(warm[warm.len() / 2]));
    node.record("warm_first_byte_max_ms", millis(warm[warm.len() - 1]));
    Ok(())
}

async fn scale_up_under_load_adds_pods_and_takes_the_activator_out_of_the_path(
    node: &Node,
) -> anyhow::Result<()> {
    // Target 1 in flight per pod and no burst capacity: 4 clients want 4 pods (capped at 3),
    // and the activator leaves the path as soon as one pod serves (Knative's SKS Serve).
    let annotations = [
        ("autoscaling.knative.dev/window", "6s"),
        ("autoscaling.knative.dev/target", "1"),
        ("autoscaling.knative.dev/target-burst-capacity", "0"),
        ("autoscaling.knative.dev/max-scale", "3"),
    ];
    apply(node, &hello_service("burst", "burst", &annotations)).await?;
    let host = ready_host(node, "burst").await?;
    let ingress = node.ingress().await?;
    let (peak, load) = under_load(node, &ingress, &host, 4, async {
        let peak = wait_for(
            Duration::from_secs(90),
            "burst-00001 at 2 or more ready pods",
            || async {
                let ready = ready_pods(node, "burst-00001").await?;
                Ok(if ready >= 2 {
                    Ok(ready)
                } else {
                    Err(anyhow::anyhow!("{ready} ready"))
                })
            },
        )
        .await?;
        ensure_sks_mode(node, "burst-00001", "Serve").await?;
        // A few more seconds of load with the activator out of the path.
        tokio::time::sleep(Duration::from_secs(3)).await;
        Ok(peak)
    })
    .await;
    let peak = peak?;
    load.ensure_only_2xx("scale up")?;
    node.record("scale_up_ready_pods", peak);
    node.record("scale_up_requests", load.ok);
    wait_for_zero(node, "burst-00001").await?;
    ensure_sks_mode(node, "burst-00001", "Proxy").await?;
    Ok(())
}

async fn a_50_50_split_and_tag_hosts(node: &Node) -> anyhow::Result<()> {
    apply(node, &hello_service("split", "one", &[])).await?;
    ready_host(node, "split").await?;
    let two = r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: split, namespace: default}
spec:
  template:
    spec:
      containers:
      - image: ghcr.io/knserve/helloworld:0.1.0
        env: [{name: TARGET, value: two}]
  traffic:
  - {revisionName: split-00001, percent: 50, tag: one}
  - {latestRevision: true, percent: 50, tag: two}
"#;
    apply(node, two).await?;
    let host = wait_for(
        READY,
        "split-00002 Ready with both tags in the status",
        || async {
            let ksvc = node.knative::<crd::Service>(NS, "split").await?;
            let Some(ksvc) = ksvc else {
                bail!("ksvc split is gone")
            };
            let ready = condition(&ksvc, "Ready").is_some_and(|c| c.0 == "True");
            let latest = ksvc.pointer("/status/latestReadyRevisionName")
                == Some(&Value::from("split-00002"));
            let tags = ksvc
                .pointer("/status/traffic")
                .and_then(Value::as_array)
                .map(|t| t.iter().filter(|t| t.get("url").is_some()).count())
                .unwrap_or(0);
            Ok(if ready && latest && tags == 2 {
                Ok(url_host(&ksvc)?)
            } else {
                Err(anyhow::anyhow!(
                    "ready {ready}, latest {latest}, tagged urls {tags}"
                ))
            })
        },
    )
    .await?;
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for _ in 0..200 {
        let reply = node.get(&host, "/").await?;
        ensure!(reply.status == 200, "the split answered {}", reply.status);
        *counts.entry(reply.body.trim().to_owned()).or_default() += 1;
    }
    let one = counts.get("Hello one!").copied().unwrap_or(0);
    let two = counts.get("Hello two!").copied().unwrap_or(0);
    ensure!(
        one + two == 200 && (60..=140).contains(&one),
        "200 requests split as {counts:?}"
    );
    node.record("split_50_50_of_200", format!("{one}/{two}"));
    let domain = host
        .strip_prefix("split.")
        .context("a host not starting split.")?;
    for (tag, body) in [("one", "Hello one!"), ("two", "Hello two!")] {
        let tag_host = format!("{tag}-split.{domain}");
        for _ in 0..10 {
            let reply = node.get(&tag_host, "/").await?;
            ensure!(
                reply.status == 200 && reply.body.trim() == body,
                "{tag_host} answered {} {:?}",
                reply.status,
                reply.body
            );
        }
    }
    Ok(())
}

async fn a_rollout_under_steady_load_answers_only_2xx(node: &Node) -> anyhow::Result<()> {
    apply(
        node,
        &hello_service("roll", "v1", &[("autoscaling.knative.dev/min-scale", "1")]),
    )
    .await?;
    let host = ready_host(node, "roll").await?;
    let ingress = node.ingress().await?;
    let (rolled, load) = under_load(node, &ingress, &host, 2, async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        apply(
            node,
            &hello_service("roll", "v2", &[("autoscaling.knative.dev/min-scale", "1")]),
        )
        .await?;
        wait_for(READY, "roll-00002 Ready and serving", || async {
            let reply = node.get(&host, "/").await?;
            Ok(if reply.body.trim() == "Hello v2!" {
                Ok(())
            } else {
                Err(anyhow::anyhow!("still {:?}", reply.body))
            })
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(())
    })
    .await;
    rolled?;
    load.ensure_only_2xx("the rollout")?;
    ensure!(
        load.bodies.contains("Hello v1!") && load.bodies.contains("Hello v2!"),
        "the load saw {:?}, not both revisions",
        load.bodies
    );
    node.record("rollout_requests_all_2xx", load.ok);
    Ok(())
}

async fn scale_down_under_load_fails_no_request(node: &Node) -> anyhow::Result<()> {
    // As scale_up: 4 clients take it to 3 pods; then 3 of them stop and the autoscaler takes
    // it back to 1 while the last client goes on. The pods removed drain (the queue-proxy's
    // preStop /wait-for-drain) and no request fails.
    let annotations = [
        ("autoscaling.knative.dev/window", "6s"),
        ("autoscaling.knative.dev/target", "1"),
        ("autoscaling.knative.dev/target-burst-capacity", "0"),
        ("autoscaling.knative.dev/max-scale", "3"),
    ];
    apply(node, &hello_service("shrink", "shrink", &annotations)).await?;
    let host = ready_host(node, "shrink").await?;
    let ingress = node.ingress().await?;
    let (shrunk, steady) = under_load(node, &ingress, &host, 1, async {
        let (grown, burst) = under_load(node, &ingress, &host, 3, async {
            wait_for(READY, "shrink-00001 at 3 ready pods", || async {
                let ready = ready_pods(node, "shrink-00001").await?;
                Ok(if ready >= 3 {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!("{ready} ready"))
                })
            })
            .await
        })
        .await;
        grown?;
        burst.ensure_only_2xx("scale-up to 3")?;
        let began = Instant::now();
        wait_for(TO_ZERO, "shrink-00001 back to 1 pod", || async {
            let all = all_pods(node, "shrink").await?;
            Ok(if all == 1 {
                Ok(())
            } else {
                Err(anyhow::anyhow!("{all} pods"))
            })
        })
        .await?;
        Ok(began.elapsed())
    })
    .await;
    let took = shrunk?;
    steady.ensure_only_2xx("scale-down from 3 to 1")?;
    node.record("scale_down_3_to_1_s", took.as_secs_f64());
    node.record("scale_down_requests_all_2xx", steady.ok);
    Ok(())
}

async fn an_image_that_does_not_exist_is_reported_as_image_pull_back_off(
    node: &Node,
) -> anyhow::Result<()> {
    let manifest = r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: missing, namespace: default}
spec:
  template:
    metadata:
      annotations: {serving.knative.dev/progress-deadline: 10s}
    spec:
      containers:
      - image: ghcr.io/knserve/does-not-exist:0.1.0
"#;
    apply(node, manifest).await?;
    let (reason, message) = failed(node, "missing", "missing-00001").await?;
    ensure!(
        reason == "ImagePullBackOff" || reason == "ErrImagePull",
        "the revision failed with {reason}: {message}"
    );
    ensure!(
        message.contains("ghcr.io/knserve/does-not-exist:0.1.0"),
        "the message does not name the image: {message}"
    );
    service_shows_failure(node, "missing", "ghcr.io/knserve/does-not-exist:0.1.0").await?;
    Ok(())
}

async fn a_container_that_exits_at_start_is_reported_with_its_exit_code(
    node: &Node,
) -> anyhow::Result<()> {
    let manifest = r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: crash, namespace: default}
spec:
  template:
    spec:
      containers:
      - image: ghcr.io/knserve/helloworld:0.1.0
        env: [{name: BIND_ADDRESS, value: not-an-address}]
"#;
    apply(node, manifest).await?;
    let (reason, message) = failed(node, "crash", "crash-00001").await?;
    ensure!(
        reason == "ExitCode1",
        "the revision failed with {reason}: {message}"
    );
    ensure!(
        message.starts_with("Container failed with: ") && message.contains("BIND_ADDRESS"),
        "the message does not say why: {message}"
    );
    service_shows_failure(node, "crash", "BIND_ADDRESS").await?;
    Ok(())
}

// ---------------------------------------------------------------------------- helpers

/// `kubectl get ksvc` shows the Service not ready, and its `ConfigurationsReady` carries
/// the revision's message (`Revision "x" failed with message: ...`) naming `detail`.
async fn service_shows_failure(node: &Node, name: &str, detail: &str) -> anyhow::Result<()> {
    // The Revision's failure reaches the Configuration and then the Service in later
    // reconciles: wait for it as a user watching `kubectl get ksvc` would.
    wait_for(
        Duration::from_secs(60),
        &format!("ksvc {name} showing the failure"),
        || async {
            let columns = node.kubectl(&["get", "ksvc", name, "-n", NS]).await?;
            let row = columns.lines().nth(1).unwrap_or_default();
            if !row.split_whitespace().any(|c| c == "False") {
                return Ok(Err(anyhow::anyhow!(
                    "kubectl get ksvc shows no failure:\n{columns}"
                )));
            }
            let ksvc = node
                .knative::<crd::Service>(NS, name)
                .await?
                .context("the ksvc is gone")?;
            let (status, _, message) =
                condition(&ksvc, "ConfigurationsReady").context("no ConfigurationsReady")?;
            Ok(if status == "False" && message.contains(detail) {
                Ok(())
            } else {
                Err(anyhow::anyhow!(
                    "ConfigurationsReady is {status}: {message:?}, not naming {detail}"
                ))
            })
        },
    )
    .await
}

/// A helloworld Service named `name` greeting `target`, with revision annotations.
fn hello_service(name: &str, target: &str, annotations: &[(&str, &str)]) -> String {
    let annotations: String = annotations
        .iter()
        .map(|(k, v)| format!("        {k}: \"{v}\"\n"))
        .collect();
    let metadata = if annotations.is_empty() {
        String::new()
    } else {
        format!("    metadata:\n      annotations:\n{annotations}")
    };
    format!(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {{name: {name}, namespace: {NS}}}\nspec:\n  template:\n{metadata}    spec:\n      containers:\n      - image: ghcr.io/knserve/helloworld:0.1.0\n        env: [{{name: TARGET, value: \"{target}\"}}]\n"
    )
}

async fn apply(node: &Node, manifest: &str) -> anyhow::Result<()> {
    node.kubectl_stdin(&["apply", "-f", "-"], manifest).await?;
    Ok(())
}

/// `config-autoscaler`'s `scale-to-zero-grace-period` at Knative's minimum, 6 s.
async fn short_grace_period(node: &Node) -> anyhow::Result<()> {
    node.kubectl(&[
        "patch",
        "configmap",
        "config-autoscaler",
        "-n",
        SYSTEM,
        "--type=merge",
        "-p",
        r#"{"data":{"scale-to-zero-grace-period":"6s"}}"#,
    ])
    .await?;
    Ok(())
}

/// Waits until the Service is Ready; returns the host of its URL.
async fn ready_host(node: &Node, name: &str) -> anyhow::Result<String> {
    wait_for(READY, &format!("ksvc {name} Ready"), || async {
        let Some(ksvc) = node.knative::<crd::Service>(NS, name).await? else {
            return Ok(Err(anyhow::anyhow!("not created")));
        };
        Ok(match condition(&ksvc, "Ready") {
            Some((status, _, _)) if status == "True" => Ok(url_host(&ksvc)?),
            other => Err(anyhow::anyhow!("Ready is {other:?}")),
        })
    })
    .await
}

fn url_host(ksvc: &Value) -> anyhow::Result<String> {
    let url = ksvc
        .pointer("/status/url")
        .and_then(Value::as_str)
        .context("a Ready ksvc without status.url")?;
    Ok(url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .to_owned())
}

/// Waits until the revision's Revision reports `Ready=False`; returns its reason and message.
async fn failed(node: &Node, service: &str, revision: &str) -> anyhow::Result<(String, String)> {
    wait_for(
        Duration::from_secs(120),
        &format!("revision {revision} of {service} Ready=False"),
        || async {
            let Some(rev) = node.knative::<crd::Revision>(NS, revision).await? else {
                return Ok(Err(anyhow::anyhow!("not created")));
            };
            Ok(match condition(&rev, "Ready") {
                Some((status, reason, message)) if status == "False" => Ok((reason, message)),
                other => Err(anyhow::anyhow!("Ready is {other:?}")),
            })
        },
    )
    .await
}

/// Ready pods of a revision.
async fn ready_pods(node: &Node, revision: &str) -> anyhow::Result<usize> {
    let pods = node.revision_pods(NS, revision).await?;
    Ok(pods
        .iter()
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .count())
}

/// Every pod of a Service's revisions, terminating ones included.
async fn all_pods(node: &Node, service: &str) -> anyhow::Result<usize> {
    let pods: Api<Pod> = Api::namespaced(node.client(), NS);
    let list = pods
        .list(&ListParams::default().labels(&format!("serving.knative.dev/service={service}")))
        .await?;
    Ok(list.items.len())
}

/// Waits until the revision's Deployment asks for 0 and no pod of it is left (terminating
/// ones included); returns how long that took.
async fn wait_for_zero(node: &Node, revision: &str) -> anyhow::Result<Duration> {
    let began = Instant::now();
    let deployments: Api<Deployment> = Api::namespaced(node.client(), NS);
    let pods: Api<Pod> = Api::namespaced(node.client(), NS);
    let name = format!("{revision}-deployment");
    wait_for(TO_ZERO, &format!("{revision} at zero pods"), || async {
        let replicas = deployments
            .get(&name)
            .await?
            .spec
            .and_then(|s| s.replicas)
            .unwrap_or(-1);
        let left = pods
            .list(
                &ListParams::default().labels(&format!("serving.knative.dev/revision={revision}")),
            )
            .await?
            .items
            .len();
        Ok(if replicas == 0 && left == 0 {
            Ok(())
        } else {
            Err(anyhow::anyhow!("spec.replicas {replicas}, {left} pods"))
        })
    })
    .await?;
    Ok(began.elapsed())
}

/// Waits until the revision's ServerlessService is in `mode` (`Serve` or `Proxy`).
async fn ensure_sks_mode(node: &Node, revision: &str, mode: &str) -> anyhow::Result<()> {
    let api: Api<ServerlessService> = Api::namespaced(node.client(), NS);
    wait_for(
        Duration::from_secs(60),
        &format!("SKS {revision} in {mode}"),
        || async {
            let sks = serde_json::to_value(api.get(revision).await?)?;
            let now = sks
                .pointer("/spec/mode")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            Ok(if now == mode {
                Ok(())
            } else {
                Err(anyhow::anyhow!("mode {now}"))
            })
        },
    )
    .await
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// What the load saw.
#[derive(Debug, Default)]
struct Load {
    ok: usize,
    failures: Vec<String>,
    bodies: std::collections::BTreeSet<String>,
}

impl Load {
    fn ensure_only_2xx(&self, during: &str) -> anyhow::Result<()> {
        ensure!(
            self.failures.is_empty(),
            "during {during}, {} of {} requests failed; first ones: {:?}",
            self.failures.len(),
            self.failures.len() + self.ok,
            &self.failures[..self.failures.len().min(5)]
        );
        Ok(())
    }
}

/// Runs `clients` closed-loop clients against `host` through `ingress` while `during` runs;
/// returns what `during` returned and what the clients saw.
async fn under_load<T>(
    node: &Node,
    ingress: &str,
    host: &str,
    clients: usize,
    during: impl Future<Output = anyhow::Result<T>>,
) -> (anyhow::Result<T>, Load) {
    let stop = AtomicBool::new(false);
    let driver = async {
        let result = during.await;
        stop.store(true, Ordering::Relaxed);
        result
    };
    let client = |_| async {
        let mut load = Load::default();
        while !stop.load(Ordering::Relaxed) {
            match node.get_via(ingress, host, "/").await {
                Ok(Reply { status, body, .. }) if (200..300).contains(&status) => {
                    load.ok += 1;
                    load.bodies.insert(body.trim().to_owned());
                }
                Ok(Reply { status, body, .. }) => load.failures.push(format!("{status} {body:?}")),
                Err(e) => load.failures.push(format!("{e:#}")),
            }
        }
        load
    };
    let (result, loads) = tokio::join!(driver, join_all((0..clients).map(client)));
    let mut total = Load::default();
    for load in loads {
        total.ok += load.ok;
        total.failures.extend(load.failures);
        total.bodies.extend(load.bodies);
    }
    (result, total)
}
