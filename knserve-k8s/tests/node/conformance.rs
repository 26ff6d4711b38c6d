//! Knative's own conformance suites against knserve-k8s on the node.
//!
//! `scripts/knative-conformance.sh build` compiles Knative Serving v0.50.0's
//! `test/conformance/api/v1` and `test/conformance/runtime`, networking's
//! `test/conformance/ingress`, and their test images (packed as ko packs them) into a cache
//! outside the repository. This scenario pushes the images to the node's registry
//! (`up-node` runs one at `10.244.0.1:5000`, so revisions pull by tag and the controller
//! resolves the tag to a digest as Knative does), then runs the suites' binaries as Knative's
//! CI runs them against an installation: `-dockerrepo` the registry, `-ingressendpoint` the
//! node (the suites map port 80 to the `knserve-ingress` Service's node port),
//! `-resolvabledomain=false` (requests carry the route's Host), and
//! `GATEWAY_OVERRIDE`/`GATEWAY_NAMESPACE_OVERRIDE` naming `knserve-ingress`.
//!
//! Which tests run: `KNSERVE_CONFORMANCE` = `all` runs every test of every suite (give it
//! `KNSERVE_TEST_TIMEOUT_SECS=3600`: the default 300 s per scenario is too short for all three);
//! `KNSERVE_CONFORMANCE='api-v1=^TestRouteCreation$ runtime=Env'` runs the tests of each
//! named suite that match its `-test.run` expression; unset, the [`CI_SUBSET`] runs (tests
//! knserve-k8s passes today, so that a regression fails the build). Every test's verdict
//! is printed, the suites' output is kept in the run dir while the node runs, and the
//! counts are recorded in the results file (`conformance_<suite>_{passed,failed,skipped}`).
//! A run of `all` also writes `conformance/results.md` (every test's verdict, the
//! versions, knserve's revision, the date), which the repository keeps from its last run.
//!
//! Before the suites, [`revisions_report_image_digests`] checks that a ksvc's Revision
//! reports the digest its tag resolved to in the node's registry.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, ensure};
use tokio::process::Command;

use knserve_k8s::crd;
use serde_json::Value;

use crate::env::{Node, condition, wait_for};

/// The tests `.ci/run` runs, by suite: a `-test.run` expression each. The ingress
/// suite's features are subtests of one test; all of them run (`tls` is skipped by the
/// suite's own flag, see [`SUITES`]).
const CI_SUBSET: [(&str, &str); 3] = [
    (
        "api-v1",
        "^(TestServiceCreateListAndDelete|TestServiceCreateAndUpdate|TestRouteCreation|\
         TestServiceWithTrafficSplit|TestContainerExitingMsg|TestBlueGreenRoute|\
         TestServiceAccountValidation|TestConfigMapVolume|TestConfigurationGetAndList|\
         TestContainerErrorMsg|TestCustomResourcesLimits|TestProjectedComplex|\
         TestProjectedConfigMapVolume|TestProjectedSecretVolume|\
         TestProjectedServiceAccountToken|TestRevisionGetAndList|\
         TestRouteAndConfigGenerateName|TestRouteGetAndList|TestSecretVolume|\
         TestServiceBYOName|TestServiceGenerateName|TestUpdateConfigurationMetadata|\
         TestRevisionTimeout|TestLabelPropagation|TestAnnotationPropagation)$",
    ),
    (
        "runtime",
        "^(TestMustEnvVars|TestShouldEnvVars|TestCmdArgs|TestMustHaveHeadersSet|\
         TestShouldHaveHeadersSet|TestConfigsViaEnv|TestSecretsViaEnv)$",
    ),
    ("ingress", INGRESS_CI_RUN),
];

/// The ingress features `.ci/run` runs: every one the suite has (`tls` skipped by flag).
const INGRESS_CI_RUN: &str = "^TestIngressConformance$";

/// The node's registry, from inside its network namespace (`up-node`).
const REGISTRY_FILE: &str = "registry-address";

/// How long one suite may run (Knative's own CI allows about an hour for all of them).
const SUITE_TIMEOUT: Duration = Duration::from_secs(1800);

/// One suite's binary and the module directory its package came from.
struct Suite {
    name: &'static str,
    /// The package directory, relative to its module, the binary runs in.
    package: &'static str,
    /// `serving` or `networking`: the module, and the registry path of its images.
    module: &'static str,
    /// Extra flags.
    flags: &'static [&'static str],
    /// Whether its verdicts are its tests' first-level subtests: the ingress suite is
    /// one Go test (`TestIngressConformance`) whose subtests are the features.
    subtests: bool,
}

const SUITES: [Suite; 3] = [
    Suite {
        name: "api-v1",
        package: "test/conformance/api/v1",
        module: "serving",
        // Serving's own flag (networking's binary refuses it): no pod log streaming,
        // which needs the system namespace's logs API.
        flags: &["-disable-logstream"],
        subtests: false,
    },
    Suite {
        name: "runtime",
        package: "test/conformance/runtime",
        module: "serving",
        flags: &["-disable-logstream"],
        subtests: false,
    },
    Suite {
        name: "ingress",
        package: "test/conformance/ingress",
        module: "networking",
        // `tls` is skipped through the suite's own flag: knserve-ingress serves plain
        // HTTP (TLS terminates in front of it), so it does not claim KIngress TLS.
        flags: &[
            "-ingressClass=knserve.ingress.networking.knative.dev",
            "-skip-tests=tls",
        ],
        subtests: true,
    },
];

/// The verdicts of one suite's run.
#[derive(Debug, Default)]
struct Verdicts {
    passed: Vec<String>,
    failed: Vec<String>,
    skipped: Vec<String>,
    /// Every test in output order: name, `PASS`/`FAIL`/`SKIP`, duration as Go prints it.
    rows: Vec<(String, String, String)>,
}

/// Where a run of every suite (`KNSERVE_CONFORMANCE=all`) records its verdicts, relative
/// to the repository.
const RESULTS_FILE: &str = "conformance/results.md";

/// Reads `go test -v` output: the top-level `--- PASS/FAIL/SKIP: Name (…)` lines, or
/// with `subtests` the first-level subtests' (`    --- PASS: Test/name (…)`).
fn verdicts(output: &str, subtests: bool) -> Verdicts {
    let mut v = Verdicts::default();
    for line in output.lines() {
        // Go indents a subtest's verdict by four spaces per level; a feature's name may
        // itself hold a slash (`basics/http2`), so the depth is read from the indent.
        let marked = if subtests {
            line.strip_prefix("    --- ")
        } else {
            line.strip_prefix("--- ")
        };
        let Some(rest) = marked else {
            continue;
        };
        let Some((verdict, name)) = rest.split_once(": ") else {
            continue;
        };
        let mut words = name.split(' ');
        let name = words.next().unwrap_or_default().to_owned();
        let duration = words
            .next()
            .unwrap_or_default()
            .trim_matches(|c| c == '(' || c == ')')
            .to_owned();
        if matches!(verdict, "PASS" | "FAIL" | "SKIP") {
            v.rows.push((name.clone(), verdict.to_owned(), duration));
        }
        match verdict {
            "PASS" => v.passed.push(name),
            "FAIL" => v.failed.push(name),
            "SKIP" => v.skipped.push(name),
            _ => {}
        }
    }
    v
}

pub async fn knatives_conformance_suites_pass(node: &Node) -> anyhow::Result<()> {
    let cache = conformance_cache().await?;
    let registry = std::fs::read_to_string(node.run_dir().join(REGISTRY_FILE))
        .context("the node's registry address (up-node writes it)")?
        .trim()
        .to_owned();
    push_images(node, &cache, &registry).await?;
    for namespace in ["serving-tests", "serving-tests-alt"] {
        let yaml = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n");
        node.kubectl_stdin(&["apply", "-f", "-"], &yaml).await?;
    }
    // What Knative's test set-up installs for the suites (`test/config/test-resources.yaml`:
    // the ConfigMap and Secret the runtime suite's TestConfigsViaEnv and
    // TestSecretsViaEnv read), from the serving module the suites were built from.
    let serving_dir = std::fs::read_to_string(cache.join("serving-dir"))?;
    let resources = Path::new(serving_dir.trim()).join("test/config/test-resources.yaml");
    let resources = std::fs::read_to_string(&resources)
        .with_context(|| format!("reading {}", resources.display()))?;
    node.kubectl_stdin(&["apply", "-f", "-"], &resources)
        .await?;
    // Knative's test set-up gives routes a domain (`test/config/ytt/core/
    // overlay-config-domain.yaml`: `example.com`), so that the suites' routes are
    // ExternalIP and answer on the external listener their `-ingressendpoint` reaches;
    // with no domain every route would be cluster-local, served on the internal one only.
    node.kubectl(&[
        "patch",
        "configmap",
        "config-domain",
        "-n",
        "knative-serving",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"example.com":""}}"#,
    ])
    .await?;
    revisions_report_image_digests(node, &registry).await?;
    let choice = std::env::var("KNSERVE_CONFORMANCE").unwrap_or_default();
    let all = choice == "all";
    let chosen: Vec<(String, String)> = if choice.is_empty() || all {
        CI_SUBSET
            .iter()
            .map(|(s, e)| ((*s).to_owned(), (*e).to_owned()))
            .collect()
    } else {
        choice
            .split_whitespace()
            .map(|pair| {
                pair.split_once('=')
                    .map(|(s, e)| (s.to_owned(), e.to_owned()))
                    .with_context(|| {
                        format!("KNSERVE_CONFORMANCE: {pair:?} is not suite=expression")
                    })
            })
            .collect::<anyhow::Result<_>>()?
    };
    let node_ip = registry.split(':').next().unwrap_or_default().to_owned();
    let mut failures = Vec::new();
    let mut ran = Vec::new();
    for suite in &SUITES {
        let run = if all {
            None
        } else {
            match chosen.iter().find(|(name, _)| name == suite.name) {
                Some((_, expression)) => Some(expression.as_str()),
                None => continue,
            }
        };
        let verdicts = run_suite(node, &cache, suite, &registry, &node_ip, run).await?;
        node.record(
            &format!("conformance_{}_passed", suite.name.replace('-', "_")),
            verdicts.passed.len(),
        );
        node.record(
            &format!("conformance_{}_failed", suite.name.replace('-', "_")),
            verdicts.failed.len(),
        );
        node.record(
            &format!("conformance_{}_skipped", suite.name.replace('-', "_")),
            verdicts.skipped.len(),
        );
        eprintln!(
            "  {}: {} passed, {} failed {:?}, {} skipped {:?}",
            suite.name,
            verdicts.passed.len(),
            verdicts.failed.len(),
            verdicts.failed,
            verdicts.skipped.len(),
            verdicts.skipped
        );
        ensure!(
            !verdicts.passed.is_empty() || !verdicts.failed.is_empty(),
            "suite {} ran no test",
            suite.name
        );
        failures.extend(
            verdicts
                .failed
                .iter()
                .map(|t| format!("{}/{t}", suite.name)),
        );
        ran.push((suite, verdicts));
        if all {
            // Rewritten after each suite, so that a run cut short keeps what finished.
            let path = write_results(&cache, &ran).await?;
            eprintln!("  verdicts so far in {}", path.display());
        }
    }
    ensure!(
        failures.is_empty(),
        "conformance tests failed: {failures:?}"
    );
    Ok(())
}

/// The controller resolves a tag of the node's registry to the digest the registry serves:
/// the Revision's `status.containerStatuses[0].imageDigest` is `<registry>/<repo>@sha256:…`,
/// its pod runs that reference and the kubelet reports the same image ID; a tag the
/// registry does not have fails the Revision with Knative's `ContainerMissing` before any
/// pod exists.
async fn revisions_report_image_digests(node: &Node, registry: &str) -> anyhow::Result<()> {
    const NS: &str = "serving-tests";
    let ksvc = |name: &str, image: &str| {
        format!(
            "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {{name: {name}, \
             namespace: {NS}}}\nspec:\n  template:\n    spec:\n      containers: [{{image: \
             {image}}}]\n"
        )
    };
    let image = format!("{registry}/serving/helloworld:latest");
    node.kubectl_stdin(&["apply", "-f", "-"], &ksvc("digest-check", &image))
        .await?;
    let revision = wait_for(
        Duration::from_secs(120),
        "revision digest-check-00001 Ready",
        || async {
            let revision = node
                .knative::<crd::Revision>(NS, "digest-check-00001")
                .await?;
            Ok(match revision {
                Some(r) if condition(&r, "Ready").is_some_and(|c| c.0 == "True") => Ok(r),
                other => Err(anyhow::anyhow!(
                    "Ready is {:?}",
                    other.and_then(|r| condition(&r, "Ready"))
                )),
            })
        },
    )
    .await?;
    let digest = revision
        .pointer("/status/containerStatuses/0/imageDigest")
        .and_then(Value::as_str)
        .context("the Ready revision has no status.containerStatuses[0].imageDigest")?
        .to_owned();
    let prefix = format!("{registry}/serving/helloworld@sha256:");
    ensure!(
        digest.starts_with(&prefix) && digest.len() == prefix.len() + 64,
        "imageDigest {digest:?} is not {prefix}<64 hex digits>"
    );
    let pods = node.revision_pods(NS, "digest-check-00001").await?;
    let pod = pods.first().context("the Ready revision has no pod")?;
    let user = |name: &str| name != "queue-proxy";
    let spec_image = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.iter().find(|c| user(&c.name)))
        .and_then(|c| c.image.clone());
    ensure!(
        spec_image.as_deref() == Some(digest.as_str()),
        "the pod runs {spec_image:?}, not the revision's digest {digest}"
    );
    let image_id = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.iter().find(|c| user(&c.name)))
        .map(|c| c.image_id.clone());
    ensure!(
        image_id.as_deref() == Some(digest.as_str()),
        "the kubelet reports image {image_id:?}, not {digest}"
    );
    node.record("conformance_revision_image_digest", digest.as_str());

    let missing = format!("{registry}/serving/helloworld:no-such-tag");
    node.kubectl_stdin(&["apply", "-f", "-"], &ksvc("digest-missing", &missing))
        .await?;
    let (reason, message) = wait_for(
        Duration::from_secs(60),
        "revision digest-missing-00001 ContainerHealthy=False",
        || async {
            let revision = node
                .knative::<crd::Revision>(NS, "digest-missing-00001")
                .await?;
            Ok(
                match revision.and_then(|r| condition(&r, "ContainerHealthy")) {
                    Some((status, reason, message)) if status == "False" => Ok((reason, message)),
                    other => Err(anyhow::anyhow!("ContainerHealthy is {other:?}")),
                },
            )
        },
    )
    .await?;
    let expected = format!(
        "Unable to fetch image {missing:?}: failed to resolve image to digest: HEAD \
         http://{registry}/v2/serving/helloworld/manifests/no-such-tag: unexpected status code \
         404 Not Found"
    );
    ensure!(
        reason == "ContainerMissing" && message.starts_with(&expected),
        "ContainerHealthy=False {reason}: {message:?}, not ContainerMissing {expected:?}"
    );
    let pods = node.revision_pods(NS, "digest-missing-00001").await?;
    ensure!(
        pods.is_empty(),
        "an unresolved revision has {} pods",
        pods.len()
    );
    node.kubectl(&["delete", "ksvc", "-n", NS, "digest-check", "digest-missing"])
        .await?;
    Ok(())
}

/// Writes [`RESULTS_FILE`]: every test of every suite with its verdict and duration, the
/// totals, Knative's versions (from the module directories the suites were built from),
/// knserve's git revision, the date and the command.
async fn write_results(cache: &Path, ran: &[(&Suite, Verdicts)]) -> anyhow::Result<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = |program: &'static str, args: &'static [&'static str]| {
        let repo = repo.clone();
        async move {
            let out = Command::new(program)
                .args(args)
                .current_dir(&repo)
                .output()
                .await
                .with_context(|| format!("running {program}"))?;
            ensure!(out.status.success(), "{program} {args:?} failed");
            anyhow::Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        }
    };
    let revision = output("git", &["rev-parse", "--short=12", "HEAD"]).await?;
    // The results file itself is left out: a run rewrites it after each suite.
    let dirty = !output(
        "git",
        &[
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":!conformance/results.md",
        ],
    )
    .await?
    .is_empty();
    let date = output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).await?;
    let version = |module: &str| -> anyhow::Result<String> {
        let dir = std::fs::read_to_string(cache.join(format!("{module}-dir")))?;
        Ok(dir
            .trim()
            .rsplit_once('@')
            .map(|(_, v)| v.to_owned())
            .unwrap_or_default())
    };
    let mut md = String::from("# Knative conformance on knserve-k8s\n\n");
    md.push_str(&format!(
        "Knative Serving `{}` (`test/conformance/api/v1`, `test/conformance/runtime`), \
         networking `{}` (`test/conformance/ingress`), against knserve-k8s at `{revision}`{} \
         on a real node (`scripts/kube-testenv.sh up-node`), {date}.\n\n\
         Generated by `KNSERVE_CONFORMANCE=all KNSERVE_TEST_TIMEOUT_SECS=3600 cargo test -p \
         knserve-k8s --test node -- conformance` (root); see README, \"Knative's own \
         conformance suites\".\n\n",
        version("serving")?,
        version("networking")?,
        if dirty {
            " with uncommitted changes"
        } else {
            ""
        },
    ));
    md.push_str("| suite | passed | failed | skipped |\n|---|---|---|---|\n");
    let (mut p, mut f, mut s) = (0, 0, 0);
    for (suite, v) in ran {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            suite.name,
            v.passed.len(),
            v.failed.len(),
            v.skipped.len()
        ));
        (p, f, s) = (p + v.passed.len(), f + v.failed.len(), s + v.skipped.len());
    }
    md.push_str(&format!("| **total** | {p} | {f} | {s} |\n"));
    let pending: Vec<&str> = SUITES
        .iter()
        .filter(|s| !ran.iter().any(|(r, _)| r.name == s.name))
        .map(|s| s.name)
        .collect();
    if !pending.is_empty() {
        md.push_str(&format!(
            "\nNot run (the run ended before them): {}.\n",
            pending.join(", ")
        ));
    }
    for (suite, v) in ran {
        md.push_str(&format!(
            "\n## {} (`{}`)\n\n| test | verdict | time |\n|---|---|---|\n",
            suite.name, suite.package
        ));
        let mut rows: Vec<_> = v.rows.iter().collect();
        rows.sort();
        for (name, verdict, duration) in rows {
            let verdict = match verdict.as_str() {
                "PASS" => "pass",
                "FAIL" => "**fail**",
                _ => "skip",
            };
            md.push_str(&format!("| {name} | {verdict} | {duration} |\n"));
        }
    }
    let path = repo.join(RESULTS_FILE);
    std::fs::create_dir_all(path.parent().context("results dir")?)?;
    std::fs::write(&path, md).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `scripts/knative-conformance.sh build` (instant when built).
async fn conformance_cache() -> anyhow::Result<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/knative-conformance.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("build")
        .stderr(Stdio::inherit())
        .output()
        .await
        .context("running knative-conformance.sh")?;
    ensure!(out.status.success(), "knative-conformance.sh build failed");
    let stdout = String::from_utf8(out.stdout)?;
    Ok(PathBuf::from(
        stdout.lines().last().unwrap_or_default().trim(),
    ))
}

/// Every test image into the node's registry as `<registry>/<module>/<name>:latest`.
async fn push_images(node: &Node, cache: &Path, registry: &str) -> anyhow::Result<()> {
    for module in ["serving", "networking"] {
        let dir = cache.join("images").join(module);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".tar"))
                    .map(str::to_owned)
            })
            .collect();
        names.sort();
        for name in names {
            let tar = dir.join(format!("{name}.tar"));
            let tar = tar.to_str().context("image path is not UTF-8")?;
            let local = format!("knserve.local/{module}/{name}:latest");
            let remote = format!("{registry}/{module}/{name}:latest");
            node.ctr(&["images", "import", "--platform", "linux/amd64", tar])
                .await?;
            node.ctr(&["images", "tag", "--force", &local, &remote])
                .await?;
            node.ctr(&["images", "push", "--plain-http", &remote])
                .await?;
        }
    }
    Ok(())
}

async fn run_suite(
    node: &Node,
    cache: &Path,
    suite: &Suite,
    registry: &str,
    node_ip: &str,
    run: Option<&str>,
) -> anyhow::Result<Verdicts> {
    let module_dir = std::fs::read_to_string(cache.join(format!("{}-dir", suite.module)))?;
    let package = Path::new(module_dir.trim()).join(suite.package);
    let binary = cache.join("bin").join(format!("{}.test", suite.name));
    let mut command = Command::new(&binary);
    command
        .current_dir(&package)
        .arg("-test.v")
        .arg(format!("-test.timeout={}s", SUITE_TIMEOUT.as_secs()))
        .arg(format!("-kubeconfig={}", node.kubeconfig().display()))
        .arg(format!("-dockerrepo={registry}/{}", suite.module))
        .arg(format!("-ingressendpoint={node_ip}"))
        .arg("-resolvabledomain=false")
        .args(suite.flags)
        .env("GATEWAY_OVERRIDE", "knserve-ingress")
        .env("GATEWAY_NAMESPACE_OVERRIDE", "knative-serving")
        // The suites' Go HTTP clients must not look for a proxy outside the namespace.
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(expression) = run {
        command.arg(format!("-test.run={expression}"));
    }
    let output = tokio::time::timeout(SUITE_TIMEOUT + Duration::from_secs(60), command.output())
        .await
        .with_context(|| format!("suite {} ran past {SUITE_TIMEOUT:?}", suite.name))?
        .with_context(|| format!("running {}", binary.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let log = node
        .run_dir()
        .join(format!("conformance-{}.log", suite.name));
    std::fs::write(&log, stdout.as_bytes())?;
    eprintln!("  {} output in {}", suite.name, log.display());
    let verdicts = verdicts(&stdout, suite.subtests);
    if !verdicts.failed.is_empty() {
        // What failed, in the test log's words (the last lines of each failure).
        for line in stdout.lines().filter(|l| {
            l.contains(".go:") && (l.contains("Error") || l.contains("Fatal") || l.contains("want"))
        }) {
            eprintln!("    {}", line.trim());
        }
    }
    Ok(verdicts)
}
