//! The install manifests (`knserve-k8s/config/`) on a real API server: they apply
//! unchanged, every server's Deployment comes up (kwok plays the kubelet), and each
//! ServiceAccount may do what its server does and no more.
//!
//! Runs after the serving scenarios: it replaces their stand-in activator with the
//! manifests' own.

use anyhow::ensure;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;

use crate::Test;
use crate::env::Cluster;

/// The install scenarios, in order.
pub fn tests() -> Vec<Test> {
    tests![
        the_manifests_apply_and_every_server_comes_up,
        each_service_account_may_do_what_its_server_does_and_no_more,
        the_readmes_helloworld_deploys_and_becomes_ready,
    ]
}

const SYSTEM: &str = "knative-serving";

async fn the_manifests_apply_and_every_server_comes_up(cluster: &Cluster) -> anyhow::Result<()> {
    cluster.install_crds().await?;
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config");
    cluster
        .kubectl_ok(&["apply", "--server-side", "--force-conflicts", "-f", config])
        .await?;
    let deployments: Api<Deployment> = Api::namespaced(cluster.client(), SYSTEM);
    let servers = [
        "controller",
        "autoscaler",
        "activator",
        "knserve-ingress",
        "webhook",
    ];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let waiting = crate::harness::unavailable(&deployments, &servers).await?;
        if waiting.is_empty() {
            return Ok(());
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "these servers' Deployments never became available: {waiting:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

async fn can(cluster: &Cluster, account: &str, args: &[&str]) -> anyhow::Result<bool> {
    let who = format!("--as=system:serviceaccount:{SYSTEM}:{account}");
    let mut full = vec!["auth", "can-i", who.as_str()];
    full.extend_from_slice(args);
    let out = cluster.kubectl(&full).await?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "yes")
}

async fn each_service_account_may_do_what_its_server_does_and_no_more(
    cluster: &Cluster,
) -> anyhow::Result<()> {
    // (account, verb and resource, allowed?)
    let cases: &[(&str, &[&str], bool)] = &[
        (
            "controller",
            &["create", "deployments.apps", "-n", "example"],
            true,
        ),
        (
            "controller",
            &[
                "patch",
                "services.serving.knative.dev",
                "--subresource=status",
                "-n",
                "example",
            ],
            true,
        ),
        (
            "controller",
            &[
                "create",
                "ingresses.networking.internal.knative.dev",
                "-n",
                "example",
            ],
            true,
        ),
        (
            "controller",
            &[
                "create",
                "horizontalpodautoscalers.autoscaling",
                "-n",
                "example",
            ],
            true,
        ),
        ("controller", &["watch", "configmaps", "-n", SYSTEM], true),
        ("controller", &["list", "pods", "-n", "example"], true),
        ("controller", &["watch", "pods", "-n", "example"], true),
        ("controller", &["delete", "pods", "-n", "example"], false),
        (
            "controller",
            &["delete", "revisions.serving.knative.dev", "-n", "example"],
            true,
        ),
        (
            "controller",
            &["delete", "services.serving.knative.dev", "-n", "example"],
            false,
        ),
        ("controller", &["create", "pods", "-n", "example"], false),
        ("controller", &["get", "secrets", "-n", SYSTEM], false),
        (
            "controller",
            &["delete", "deployments.apps", "-n", "example"],
            false,
        ),
        (
            "autoscaler",
            &[
                "patch",
                "deployments.apps",
                "--subresource=scale",
                "-n",
                "example",
            ],
            true,
        ),
        (
            "autoscaler",
            &[
                "patch",
                "podautoscalers.autoscaling.internal.knative.dev",
                "--subresource=status",
                "-n",
                "example",
            ],
            true,
        ),
        (
            "autoscaler",
            &[
                "create",
                "serverlessservices.networking.internal.knative.dev",
                "-n",
                "example",
            ],
            true,
        ),
        (
            "autoscaler",
            &["patch", "deployments.apps", "-n", "example"],
            false,
        ),
        (
            "activator",
            &["watch", "revisions.serving.knative.dev", "-n", "example"],
            true,
        ),
        (
            "activator",
            &["watch", "endpointslices.discovery.k8s.io", "-n", "example"],
            true,
        ),
        (
            "activator",
            &["patch", "revisions.serving.knative.dev", "-n", "example"],
            false,
        ),
        (
            "ingress",
            &[
                "patch",
                "ingresses.networking.internal.knative.dev",
                "--subresource=status",
                "-n",
                "example",
            ],
            true,
        ),
        ("ingress", &["watch", "services", "-n", "example"], true),
        (
            "ingress",
            &[
                "create",
                "ingresses.networking.internal.knative.dev",
                "-n",
                "example",
            ],
            false,
        ),
        ("webhook", &["create", "secrets", "-n", SYSTEM], true),
        (
            "webhook",
            &[
                "patch",
                "validatingwebhookconfigurations.admissionregistration.k8s.io",
            ],
            true,
        ),
        ("webhook", &["get", "secrets", "-n", "example"], false),
    ];
    let mut wrong = Vec::new();
    for (account, args, allowed) in cases {
        if can(cluster, account, args).await? != *allowed {
            wrong.push(format!(
                "{account} {} should be {}",
                args.join(" "),
                if *allowed { "allowed" } else { "denied" }
            ));
        }
    }
    ensure!(
        wrong.is_empty(),
        "RBAC is not least privilege as intended: {wrong:#?}"
    );
    Ok(())
}

/// The README's Kubernetes section deploys `examples/helloworld/service.yaml` with
/// kubectl; with knserve's servers running it becomes Ready at its cluster-local URL.
async fn the_readmes_helloworld_deploys_and_becomes_ready(cluster: &Cluster) -> anyhow::Result<()> {
    crate::serving::servers(cluster).await?;
    let manifest = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/helloworld/service.yaml"
    );
    cluster.kubectl_ok(&["apply", "-f", manifest]).await?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = cluster
            .kubectl_ok(&[
                "get",
                "ksvc",
                "helloworld",
                "-n",
                "default",
                "-o",
                "jsonpath={.status.conditions[?(@.type=='Ready')].status} {.status.url}",
            ])
            .await?;
        if out.trim() == "True http://helloworld.default.svc.cluster.local" {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "helloworld never became Ready at its cluster-local URL: {out:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    cluster.kubectl_ok(&["delete", "-f", manifest]).await?;
    Ok(())
}
