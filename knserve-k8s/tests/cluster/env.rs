//! The cluster the scenarios run against: a real kube-apiserver (with etcd,
//! kube-controller-manager, kube-scheduler and a kwok fake node) started by
//! `scripts/kube-testenv.sh up`, or an existing cluster named by `KNSERVE_TEST_KUBECONFIG`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};

use crate::harness::client_for;
use tokio::process::Command;

/// Env var naming the kubeconfig of an existing cluster to test against instead of starting one.
pub const EXTERNAL_KUBECONFIG: &str = "KNSERVE_TEST_KUBECONFIG";

/// The field manager of everything the harness applies.
const FIELD_MANAGER: &str = "knserve-tests";

/// How long a CRD may take to become `Established`.
const CRD_ESTABLISH_TIMEOUT: Duration = Duration::from_secs(30);

/// A running cluster and an admin client for it.
///
/// Started by [`Cluster::start`]; a cluster this harness started is torn down by
/// [`Cluster::stop`] or, failing that, on drop. An external cluster is never touched.
pub struct Cluster {
    /// The run dir of the cluster we started; `None` for an external one or once stopped.
    run_dir: Option<PathBuf>,
    kubeconfig: PathBuf,
    /// Where the built `kubectl` lives; `None` means `kubectl` from `PATH`.
    bin_dir: Option<PathBuf>,
    client: Client,
}

impl Cluster {
    /// Starts a fresh cluster with `kube-testenv.sh up` (about 5 s with cached binaries; the
    /// first run on a machine builds them, several minutes), or connects to the cluster of
    /// `KNSERVE_TEST_KUBECONFIG` when that is set.
    ///
    /// # Errors
    /// When the script fails (the error carries its output: which component failed and the
    /// tail of every log; the run dir is kept) or the kubeconfig cannot be turned into a client.
    pub async fn start() -> anyhow::Result<Cluster> {
        if let Some(path) = std::env::var_os(EXTERNAL_KUBECONFIG) {
            let kubeconfig = PathBuf::from(path);
            let bin_dir = testenv(["bin-dir"]).await.ok().map(PathBuf::from);
            let client = client_for(&kubeconfig).await?;
            return Ok(Cluster {
                run_dir: None,
                kubeconfig,
                bin_dir,
                client,
            });
        }
        let run_dir = PathBuf::from(testenv(["up"]).await?);
        match connect(&run_dir).await {
            Ok((bin_dir, client)) => Ok(Cluster {
                kubeconfig: run_dir.join("kubeconfig"),
                bin_dir: Some(bin_dir),
                run_dir: Some(run_dir),
                client,
            }),
            Err(e) => {
                if let Err(down_error) = down(&run_dir) {
                    eprintln!("error: stopping the test cluster: {down_error:#}");
                }
                Err(e)
            }
        }
    }

    /// The admin kubeconfig (group `system:masters`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A client authenticated as the admin.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Server-side applies every CRD of [`knserve_k8s::crd::all`] and waits until each is
    /// `Established=True`. Idempotent: scenarios call it for themselves.
    ///
    /// # Errors
    /// The API server's own words when it rejects a CRD (e.g. a non-structural schema), or
    /// a timeout naming the CRD that did not become established.
    pub async fn install_crds(&self) -> anyhow::Result<()> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client());
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let mut names = Vec::new();
        for crd in knserve_k8s::crd::all() {
            let name = crd.metadata.name.clone().context("a CRD without a name")?;
            api.patch(&name, &params, &Patch::Apply(&crd))
                .await
                .with_context(|| format!("the API server rejected CRD {name}"))?;
            names.push(name);
        }
        for name in names {
            let established = await_condition(api.clone(), &name, conditions::is_crd_established());
            tokio::time::timeout(CRD_ESTABLISH_TIMEOUT, established)
                .await
                .with_context(|| {
                    format!("CRD {name} not Established within {CRD_ESTABLISH_TIMEOUT:?}")
                })?
                .with_context(|| format!("watching CRD {name}"))?;
        }
        Ok(())
    }

    /// Creates namespace `name` unless it exists (server-side apply).
    ///
    /// # Errors
    /// When the API server refuses it (e.g. the namespace is still terminating).
    pub async fn ensure_namespace(&self, name: &str) -> anyhow::Result<()> {
        let api: Api<Namespace> = Api::all(self.client());
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name }
        }))?;
        api.patch(name, &PatchParams::apply(FIELD_MANAGER), &Patch::Apply(&ns))
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        Ok(())
    }

    /// Runs the cluster's `kubectl` (v1.36.3, built with the control plane) with `args`
    /// against this cluster, and returns what it did, whatever its exit status.
    ///
    /// # Errors
    /// Only when kubectl cannot be started.
    pub async fn kubectl<I, S>(&self, args: I) -> anyhow::Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let program = match &self.bin_dir {
            Some(dir) => dir.join("kubectl"),
            None => PathBuf::from("kubectl"),
        };
        let mut command = Command::new(&program);
        command.arg("--kubeconfig").arg(&self.kubeconfig);
        if let Some(run_dir) = &self.run_dir {
            // Discovery cache per cluster, not in ~/.kube.
            command
                .arg("--cache-dir")
                .arg(run_dir.join("kubectl-cache"));
        }
        command
            .args(args)
            .output()
            .await
            .with_context(|| format!("running {}", program.display()))
    }

    /// [`Cluster::kubectl`], requiring success; returns its stdout.
    ///
    /// # Errors
    /// When kubectl exits non-zero: the error names the arguments and carries its stderr.
    pub async fn kubectl_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.kubectl(args).await?;
        ensure!(
            out.status.success(),
            "kubectl {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8(out.stdout)?)
    }

    /// Tears the cluster down (`kube-testenv.sh down`); a no-op for an external cluster.
    ///
    /// # Errors
    /// When the script fails; the processes are then left to the script's watchdog, which
    /// stops them once this test process exits.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.down()
    }

    fn down(&mut self) -> anyhow::Result<()> {
        match self.run_dir.take() {
            Some(run_dir) => down(&run_dir),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("run_dir", &self.run_dir)
            .field("kubeconfig", &self.kubeconfig)
            .field("bin_dir", &self.bin_dir)
            .finish_non_exhaustive()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.down() {
            eprintln!("error: stopping the test cluster: {e:#}");
        }
    }
}

/// `scripts/kube-testenv.sh` of this repository.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kube-testenv.sh")
}

/// Runs the script with `args` and returns its stdout line. Its progress log (stderr) is
/// passed through on failure only.
async fn testenv<const N: usize>(args: [&str; N]) -> anyhow::Result<String> {
    let out = Command::new(script())
        .args(args)
        .env("TESTENV_OWNER_PID", std::process::id().to_string())
        .output()
        .await
        .with_context(|| format!("running {}", script().display()))?;
    if !out.status.success() {
        bail!(
            "kube-testenv.sh {} failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    let stdout = String::from_utf8(out.stdout)?;
    let line = stdout.trim();
    ensure!(
        !line.is_empty(),
        "kube-testenv.sh {} printed nothing",
        args.join(" ")
    );
    Ok(line.to_owned())
}

/// The bin dir `up` recorded in `run_dir`, and a client for its kubeconfig.
async fn connect(run_dir: &Path) -> anyhow::Result<(PathBuf, Client)> {
    let bin_dir = std::fs::read_to_string(run_dir.join("bin-dir"))
        .with_context(|| format!("reading {}/bin-dir", run_dir.display()))?;
    let client = client_for(&run_dir.join("kubeconfig")).await?;
    Ok((PathBuf::from(bin_dir.trim()), client))
}

/// `kube-testenv.sh down run_dir`: kills the cluster's processes and removes the dir.
fn down(run_dir: &Path) -> anyhow::Result<()> {
    let out = std::process::Command::new(script())
        .arg("down")
        .arg(run_dir)
        .output()
        .context("running kube-testenv.sh down")?;
    ensure!(
        out.status.success(),
        "kube-testenv.sh down {} failed ({}): {}",
        run_dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}
