//! The real node the scenarios run on: `scripts/kube-testenv.sh up-node` (etcd,
//! kube-apiserver, controller-manager, scheduler, containerd, runc, CNI, kubelet, kube-proxy
//! and cluster DNS in a network namespace of their own), knserve's images from
//! `scripts/knserve-images.sh` imported into containerd, and knserve-k8s installed from
//! `knserve-k8s/config/` with only its image references changed and `ghcr.io` added to
//! the registries whose tags are not resolved to digests (nothing outside the node is
//! reachable; the node's own registry is, and its images are resolved).
//!
//! This process joins the node's network namespace before its runtime starts
//! ([`Node::before_runtime`]): every socket it opens, and every `kubectl` it runs, is then
//! inside the cluster's network, where pod and Service addresses are routed. Nothing it
//! starts listens anywhere.
//!
//! `KNSERVE_TEST_NODE_RUN_DIR=<run dir>` uses a node that `up-node` already started (it is
//! neither re-imaged nor torn down), for iterating on a scenario.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service as CoreService};
use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::{Api, Client};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tokio::time::Instant;

use crate::harness::{client_for, unavailable};

/// Env var naming the run dir of a node `up-node` already started.
pub const EXISTING_RUN_DIR: &str = "KNSERVE_TEST_NODE_RUN_DIR";

/// The knserve image's reference in `knserve-k8s/config/`, and what the test build is tagged.
const PUBLISHED_IMAGE: &str = "ghcr.io/knserve/knserve:latest";
const TEST_IMAGE: &str = "ghcr.io/knserve/knserve:dev";

/// `config-deployment`'s `registries-skipping-tag-resolving` on the node: Knative's default
/// and `ghcr.io`, whose images the node has imported rather than pulled.
const SKIPPED_REGISTRIES: &str = "kind.local,ko.local,dev.local,ghcr.io";

/// How long a request may wait for its response head (a cold start included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The system namespace of the manifests.
pub const SYSTEM: &str = "knative-serving";

/// The servers of `knserve-k8s/config/500-servers.yaml`.
pub const SERVERS: [&str; 5] = [
    "controller",
    "autoscaler",
    "activator",
    "knserve-ingress",
    "webhook",
];

/// What `before_runtime` set up, for `start`.
struct Prepared {
    run_dir: PathBuf,
    /// Whether this process started the node (and so stops it).
    owned: bool,
    images: PathBuf,
}

static PREPARED: OnceLock<Prepared> = OnceLock::new();

/// A running node with knserve-k8s installed, and clients for it.
pub struct Node {
    run_dir: PathBuf,
    owned: bool,
    kubeconfig: PathBuf,
    bin_dir: PathBuf,
    node_bin_dir: PathBuf,
    client: Client,
    http: HttpClient<HttpConnector, Full<Bytes>>,
    /// Figures the scenarios measured, written to `real-node-results.json` at the end.
    results: Mutex<BTreeMap<String, Value>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("run_dir", &self.run_dir)
            .field("owned", &self.owned)
            .finish_non_exhaustive()
    }
}

/// A response from the ingress: status, body, and the time from sending the request to its
/// response head (the first byte).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub first_byte: Duration,
}

impl Node {
    /// Builds the images (`knserve-images.sh build`: instant when built), starts the node
    /// (`kube-testenv.sh up-node`, 7–10 s), and moves this process into its network
    /// namespace. Runs before any other thread exists: threads inherit the namespace of the
    /// thread that creates them.
    ///
    /// # Errors
    /// When a script fails (its output is in the error) or the namespace cannot be joined
    /// (this needs root).
    pub fn before_runtime() -> anyhow::Result<()> {
        let images = PathBuf::from(script_line("knserve-images.sh", &["build"])?);
        let (run_dir, owned) = match std::env::var_os(EXISTING_RUN_DIR) {
            Some(dir) => (PathBuf::from(dir), false),
            None => (
                PathBuf::from(script_line("kube-testenv.sh", &["up-node"])?),
                true,
            ),
        };
        let prepared = Prepared {
            run_dir,
            owned,
            images,
        };
        if let Err(e) = join_netns(&prepared.run_dir) {
            if prepared.owned {
                down(&prepared.run_dir);
            }
            return Err(e);
        }
        let _ = PREPARED.set(prepared);
        Ok(())
    }

    /// Connects to the node `before_runtime` started, imports the images and installs
    /// knserve-k8s; returns once every server's Deployment is available and the webhook
    /// admits a Service.
    ///
    /// # Errors
    /// A step that failed, with what the tool said.
    pub async fn start() -> anyhow::Result<Node> {
        let prepared = PREPARED.get().context("Node::before_runtime did not run")?;
        let run_dir = prepared.run_dir.clone();
        let read = |name: &str| -> anyhow::Result<PathBuf> {
            let text = std::fs::read_to_string(run_dir.join(name))
                .with_context(|| format!("reading {}/{name}", run_dir.display()))?;
            Ok(PathBuf::from(text.trim()))
        };
        let kubeconfig = run_dir.join("kubeconfig");
        let node = Node {
            bin_dir: read("bin-dir")?,
            node_bin_dir: read("node-bin-dir")?,
            client: client_for(&kubeconfig).await?,
            kubeconfig,
            http: HttpClient::builder(TokioExecutor::new()).build_http(),
            run_dir,
            owned: prepared.owned,
            results: Mutex::new(BTreeMap::new()),
        };
        let began = Instant::now();
        node.import_images(&prepared.images).await?;
        node.record("images_imported_s", began.elapsed().as_secs_f64());
        let began = Instant::now();
        node.install().await?;
        node.record("install_to_available_s", began.elapsed().as_secs_f64());
        Ok(node)
    }

    /// The run dir (`kube-testenv.sh exec RUN_DIR ...` reaches the node from a shell).
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// A client authenticated as the admin.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Records a measured figure under `key` for the results file.
    pub fn record(&self, key: &str, value: impl Into<Value>) {
        let value = value.into();
        eprintln!("  result {key} = {value}");
        self.results
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.to_owned(), value);
    }

    /// Tears the node down (if this process started it) and writes the results to
    /// `$CARGO_TARGET_DIR/real-node-results.json` (or `target/`).
    ///
    /// # Errors
    /// When the results cannot be written.
    pub fn stop(self) -> anyhow::Result<()> {
        if self.owned {
            down(&self.run_dir);
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let path = target.join("real-node-results.json");
        let results = self
            .results
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        std::fs::write(&path, serde_json::to_string_pretty(&results)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("results in {}", path.display());
        Ok(())
    }

    async fn import_images(&self, dir: &Path) -> anyhow::Result<()> {
        for image in ["knserve", "helloworld", "simple-api"] {
            let tar = dir.join(format!("{image}.tar"));
            let tar = tar.to_str().context("image path is not UTF-8")?;
            self.ctr(&["images", "import", "--platform", "linux/amd64", tar])
                .await?;
        }
        Ok(())
    }

    /// Runs the node's `ctr` on containerd's `k8s.io` namespace (the kubelet's images),
    /// inside the node's network and mount namespaces; returns stdout.
    ///
    /// # Errors
    /// When it exits non-zero: the error names the arguments and carries its stderr.
    pub async fn ctr(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(script("kube-testenv.sh"))
            .arg("exec")
            .arg(&self.run_dir)
            .arg(self.node_bin_dir.join("ctr"))
            .arg("--address")
            .arg(self.run_dir.join("containerd/containerd.sock"))
            .args(["-n", "k8s.io"])
            .args(args)
            .output()
            .await
            .context("running ctr")?;
        ensure!(
            out.status.success(),
            "ctr {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The admin kubeconfig of the node's API server.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// `knserve-k8s/config/*.yaml` with the knserve image reference swapped for the test
    /// build's, applied server-side; then waits for the servers and the webhook.
    async fn install(&self) -> anyhow::Result<()> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        files.sort();
        let mut all = String::new();
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "yaml"))
        {
            let text = std::fs::read_to_string(file)?;
            ensure!(
                text.contains(PUBLISHED_IMAGE) || !text.contains("image:"),
                "{} names an image other than {PUBLISHED_IMAGE}",
                file.display()
            );
            all.push_str("---\n");
            all.push_str(&text.replace(PUBLISHED_IMAGE, TEST_IMAGE));
            all.push('\n');
        }
        // The node reaches no registry outside it: ghcr.io's images (knserve's, the
        // examples') are imported into containerd, so their tags are not resolved.
        let sidecar = format!("  queue-sidecar-image: {TEST_IMAGE}\n");
        ensure!(
            all.contains(&sidecar),
            "config-deployment no longer sets queue-sidecar-image as {sidecar:?}"
        );
        let all = all.replace(
            &sidecar,
            &format!("{sidecar}  registries-skipping-tag-resolving: {SKIPPED_REGISTRIES}\n"),
        );
        self.kubectl_stdin(&["apply", "--server-side", "-f", "-"], &all)
            .await?;
        let deployments: Api<Deployment> = Api::namespaced(self.client(), SYSTEM);
        wait_for(
            Duration::from_secs(120),
            "every server available",
            || async {
                let waiting = unavailable(&deployments, &SERVERS).await?;
                Ok(waiting.is_empty().then_some(()).ok_or_else(|| {
                    anyhow::anyhow!("these servers' Deployments are not available: {waiting:?}")
                }))
            },
        )
        .await?;
        // The webhook registers itself once serving; a dry-run create goes through it.
        let probe = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: probe, namespace: default}\nspec:\n  template:\n    spec:\n      containers: [{image: ghcr.io/knserve/helloworld:0.1.0}]\n";
        wait_for(
            Duration::from_secs(60),
            "the webhook admitting a Service",
            || async {
                let out = self
                    .kubectl_stdin_output(&["create", "--dry-run=server", "-f", "-"], probe)
                    .await?;
                Ok(if out.0 {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!(
                        "kubectl create --dry-run=server: {}",
                        out.1
                    ))
                })
            },
        )
        .await
    }

    /// Runs the cluster's `kubectl` (v1.36.3) with `args`; returns stdout.
    ///
    /// # Errors
    /// When it exits non-zero: the error names the arguments and carries its stderr.
    pub async fn kubectl(&self, args: &[&str]) -> anyhow::Result<String> {
        self.kubectl_stdin(args, "").await
    }

    /// [`Node::kubectl`] with `input` on its stdin (`apply -f -`).
    ///
    /// # Errors
    /// As [`Node::kubectl`].
    pub async fn kubectl_stdin(&self, args: &[&str], input: &str) -> anyhow::Result<String> {
        let (ok, stderr, stdout) = self.kubectl_stdin_output(args, input).await?;
        ensure!(ok, "kubectl {} failed: {stderr}", args.join(" "));
        Ok(stdout)
    }

    /// kubectl's success, stderr and stdout.
    ///
    /// # Errors
    /// When kubectl cannot be started.
    pub async fn kubectl_stdin_output(
        &self,
        args: &[&str],
        input: &str,
    ) -> anyhow::Result<(bool, String, String)> {
        let mut child = Command::new(self.bin_dir.join("kubectl"))
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.run_dir.join("kubectl-cache"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting kubectl")?;
        let mut stdin = child.stdin.take().context("kubectl's stdin")?;
        stdin.write_all(input.as_bytes()).await?;
        drop(stdin);
        let out = child.wait_with_output().await?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ))
    }

    /// The `knserve-ingress-internal` Service's cluster IP and port: where requests are
    /// sent, as a client inside the cluster would (kube-proxy routes it to the ingress
    /// pod's internal listener, which serves cluster-local routes, as the node's routes
    /// are: its `config-domain` names no domain).
    ///
    /// # Errors
    /// When the Service has no cluster IP.
    pub async fn ingress(&self) -> anyhow::Result<String> {
        const NAME: &str = "knserve-ingress-internal";
        let services: Api<CoreService> = Api::namespaced(self.client(), SYSTEM);
        let service = services.get(NAME).await?;
        let spec = service
            .spec
            .with_context(|| format!("{NAME} has no spec"))?;
        let ip = spec
            .cluster_ip
            .filter(|ip| !ip.is_empty() && ip != "None")
            .with_context(|| format!("{NAME} has no cluster IP"))?;
        let port = spec
            .ports
            .unwrap_or_default()
            .first()
            .map(|p| p.port)
            .with_context(|| format!("{NAME} has no port"))?;
        Ok(format!("{ip}:{port}"))
    }

    /// GET `path` with `Host: host` through the ingress.
    ///
    /// # Errors
    /// When the request fails without a response.
    pub async fn get(&self, host: &str, path: &str) -> anyhow::Result<Reply> {
        let ingress = self.ingress().await?;
        self.get_via(&ingress, host, path).await
    }

    /// GET `path` with `Host: host` from `addr` (`ip:port`).
    ///
    /// # Errors
    /// When the request fails without a response.
    pub async fn get_via(&self, addr: &str, host: &str, path: &str) -> anyhow::Result<Reply> {
        let request = http::Request::get(format!("http://{addr}{path}"))
            .header(http::header::HOST, host)
            .body(Full::new(Bytes::new()))?;
        let sent = Instant::now();
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| anyhow::anyhow!("no response within {REQUEST_TIMEOUT:?}"))
            .and_then(|r| r.map_err(anyhow::Error::from))
            .with_context(|| format!("GET http://{host}{path} via {addr}"))?;
        let first_byte = sent.elapsed();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            first_byte,
        })
    }

    /// A Knative resource (`ksvc`, `revision`, ...) as JSON, `None` when absent.
    ///
    /// # Errors
    /// When the API server fails.
    pub async fn knative<K>(&self, namespace: &str, name: &str) -> anyhow::Result<Option<Value>>
    where
        K: kube::Resource<DynamicType = ()>,
    {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client(), namespace, &ApiResource::erase::<K>(&()));
        Ok(api
            .get_opt(name)
            .await?
            .map(serde_json::to_value)
            .transpose()?)
    }

    /// The pods of a revision (label `serving.knative.dev/revision`) that are not being
    /// deleted.
    ///
    /// # Errors
    /// When the API server fails.
    pub async fn revision_pods(&self, namespace: &str, revision: &str) -> anyhow::Result<Vec<Pod>> {
        let pods: Api<Pod> = Api::namespaced(self.client(), namespace);
        let list = pods
            .list(
                &ListParams::default().labels(&format!("serving.knative.dev/revision={revision}")),
            )
            .await?;
        Ok(list
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect())
    }
}

/// A condition of a Knative object's status: `(status, reason, message)`.
pub fn condition(object: &Value, kind: &str) -> Option<(String, String, String)> {
    let conditions = object.pointer("/status/conditions")?.as_array()?;
    let found = conditions.iter().find(|c| c["type"] == kind)?;
    let field = |key: &str| found[key].as_str().unwrap_or_default().to_owned();
    Some((field("status"), field("reason"), field("message")))
}

/// Polls `check` every 250 ms until it returns `Ok(Ok(value))`; `Ok(Err(why))` means not yet,
/// an outer `Err` fails at once. After `timeout` the error names `what` and the last `why`.
///
/// # Errors
/// As described.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<anyhow::Result<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await? {
            Ok(value) => return Ok(value),
            Err(why) if Instant::now() >= deadline => {
                bail!("{what}: not within {timeout:?}; last: {why:#}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// `scripts/<name>` of this repository.
fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name)
}

/// Runs `scripts/<name> args` (before the runtime: blocking), returns its one stdout line;
/// its progress log (stderr) is shown as it runs.
fn script_line(name: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new("bash")
        .arg(script(name))
        .args(args)
        .env("TESTENV_OWNER_PID", std::process::id().to_string())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {name}"))?;
    ensure!(
        out.status.success(),
        "{name} {} failed ({}); its log is above",
        args.join(" "),
        out.status
    );
    let stdout = String::from_utf8(out.stdout)?;
    let line = stdout.lines().last().unwrap_or_default().trim().to_owned();
    ensure!(
        !line.is_empty(),
        "{name} {} printed nothing",
        args.join(" ")
    );
    Ok(line)
}

/// Joins the node's network namespace (`/run/netns/<RUN_DIR/netns>`).
fn join_netns(run_dir: &Path) -> anyhow::Result<()> {
    let name = std::fs::read_to_string(run_dir.join("netns"))
        .with_context(|| format!("reading {}/netns", run_dir.display()))?;
    let path = Path::new("/run/netns").join(name.trim());
    let ns = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("joining network namespace {} (needs root)", path.display()))
}

/// `kube-testenv.sh down-node`: reports but does not fail (the watchdog is the fallback).
fn down(run_dir: &Path) {
    let out = std::process::Command::new("bash")
        .arg(script("kube-testenv.sh"))
        .arg("down-node")
        .arg(run_dir)
        .output();
    match out {
        Ok(out) if out.status.success() => {}
        Ok(out) => eprintln!(
            "error: kube-testenv.sh down-node {} failed ({}): {}",
            run_dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => eprintln!("error: running kube-testenv.sh down-node: {e}"),
    }
}
