//! The harness of the scenario test targets (`cluster`, `node`): scenarios are async fns
//! run one after another against one environment (a cluster or a real node) started once
//! for the whole run, with libtest's command line and summary.
//!
//! Arguments, as libtest takes them: name filters (substring; `--exact` for whole names),
//! `--skip FILTER`, `--list`. Other libtest flags are accepted and ignored. When no scenario
//! is selected, no environment is started. Each scenario may take at most
//! `KNSERVE_TEST_TIMEOUT_SECS` (default 300) seconds.

use std::future::Future;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::FutureExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use tokio::time::Instant;

/// Builds a `Vec<Test<E>>` from async fns `async fn(&E) -> anyhow::Result<()>`, each named
/// `<module>::<fn>`.
macro_rules! tests {
    ($($test:ident),* $(,)?) => {
        vec![$($crate::harness::Test {
            name: concat!(module_path!(), "::", stringify!($test)),
            run: |env| Box::pin($test(env)),
        }),*]
    };
}

/// What a scenario returns: a boxed future borrowing the environment.
pub type TestFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>>;

/// One named scenario against an environment `E`.
#[derive(Debug)]
pub struct Test<E: 'static> {
    /// `<module path>::<fn>`; printed without the leading crate name.
    pub name: &'static str,
    /// Runs the scenario.
    pub run: for<'a> fn(&'a E) -> TestFuture<'a>,
}

// By hand: a derive would ask `E: Clone`, which a fn pointer taking `&E` does not need.
impl<E> Clone for Test<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Test<E> {}

/// How a test target brings its environment up and down.
pub trait Environment: Sized + 'static {
    /// What it is called in messages ("test cluster", "real node").
    const WHAT: &'static str;

    /// Runs on the main thread before the tokio runtime exists (no other thread yet).
    ///
    /// # Errors
    /// Counted as every scenario failing.
    fn before_runtime() -> anyhow::Result<()> {
        Ok(())
    }

    /// Starts (or connects to) the environment.
    fn start() -> impl Future<Output = anyhow::Result<Self>>;

    /// Where a person can look at it (a kubeconfig path).
    fn describe(&self) -> String;

    /// Tears it down.
    ///
    /// # Errors
    /// When something could not be stopped.
    fn stop(self) -> anyhow::Result<()>;
}

/// The command line, as far as this harness honours libtest's.
#[derive(Debug, Default)]
struct Args {
    filters: Vec<String>,
    skip: Vec<String>,
    exact: bool,
    list: bool,
    ignored_only: bool,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Args {
        let mut parsed = Args::default();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--exact" => parsed.exact = true,
                "--list" => parsed.list = true,
                "--ignored" => parsed.ignored_only = true,
                "--skip" => parsed.skip.extend(args.next()),
                // libtest flags that take a separate value.
                "--test-threads" | "--color" | "--format" | "--logfile" | "-Z" => {
                    args.next();
                }
                flag if flag.starts_with('-') => {}
                filter => parsed.filters.push(filter.to_owned()),
            }
        }
        parsed
    }

    fn selects(&self, name: &str) -> bool {
        let matches = |filter: &String| {
            if self.exact {
                name == filter
            } else {
                name.contains(filter.as_str())
            }
        };
        // There are no ignored scenarios, so `--ignored` selects none.
        !self.ignored_only
            && (self.filters.is_empty() || self.filters.iter().any(matches))
            && !self.skip.iter().any(|skip| name.contains(skip.as_str()))
    }
}

/// The name a scenario is listed and filtered by: without the target's crate name.
fn display_name<E>(test: &Test<E>, target: &str) -> &'static str {
    test.name
        .strip_prefix(target)
        .and_then(|rest| rest.strip_prefix("::"))
        .unwrap_or(test.name)
}

/// The whole test binary: parses the command line, starts `E` if any scenario is selected,
/// runs the selected ones in order, stops `E`, prints libtest's summary.
pub fn main<E: Environment>(target: &str, all: Vec<Test<E>>) -> ExitCode {
    let args = Args::parse(std::env::args().skip(1));
    let total = all.len();
    let selected: Vec<Test<E>> = all
        .into_iter()
        .filter(|t| args.selects(display_name(t, target)))
        .collect();
    if args.list {
        for test in &selected {
            println!("{}: test", display_name(test, target));
        }
        return ExitCode::SUCCESS;
    }
    println!("\nrunning {} tests", selected.len());
    if selected.is_empty() {
        println!(
            "\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; {total} filtered out\n"
        );
        return ExitCode::SUCCESS;
    }
    if let Err(e) = E::before_runtime() {
        println!("error: the {} did not start: {}", E::WHAT, chain(&e));
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: building the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let failed = runtime.block_on(run_all(target, &selected, total - selected.len()));
    // Servers the scenarios started in-process are still running; don't wait for them.
    runtime.shutdown_timeout(Duration::from_secs(5));
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Starts the environment, runs `tests` in order, stops it, prints libtest's summary;
/// returns the number of failures (an environment that does not start counts as all failed).
async fn run_all<E: Environment>(target: &str, tests: &[Test<E>], filtered_out: usize) -> usize {
    let started = Instant::now();
    let env = match E::start().await {
        Ok(env) => env,
        Err(e) => {
            println!("error: the {} did not start: {}", E::WHAT, chain(&e));
            return tests.len().max(1);
        }
    };
    eprintln!(
        "{} up in {:.1?} ({})",
        E::WHAT,
        started.elapsed(),
        env.describe()
    );
    let timeout = scenario_timeout();
    let mut failures = Vec::new();
    for test in tests {
        let name = display_name(test, target);
        print!("test {name} ... ");
        let _ = std::io::stdout().flush(); // show which scenario is running while it runs
        let began = Instant::now();
        match run_one(test, &env, timeout).await {
            Ok(()) => println!("ok ({:.1?})", began.elapsed()),
            Err(e) => {
                println!("FAILED ({:.1?})", began.elapsed());
                failures.push((name, e));
            }
        }
    }
    let stop = env.stop();
    print_summary(tests.len(), &failures, filtered_out, started);
    if let Err(e) = stop {
        println!("error: stopping the {}: {}", E::WHAT, chain(&e));
        return failures.len().max(1);
    }
    failures.len()
}

/// Runs one scenario; a panic or the timeout is a failure like an `Err`.
async fn run_one<E>(test: &Test<E>, env: &E, timeout: Duration) -> anyhow::Result<()> {
    let run = AssertUnwindSafe((test.run)(env)).catch_unwind();
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(non-string panic payload)".to_owned());
            Err(anyhow::anyhow!("panicked: {message}"))
        }
        Err(_) => Err(anyhow::anyhow!("did not finish within {timeout:?}")),
    }
}

fn print_summary(
    ran: usize,
    failures: &[(&str, anyhow::Error)],
    filtered_out: usize,
    started: Instant,
) {
    if !failures.is_empty() {
        println!("\nfailures:\n");
        for (name, error) in failures {
            println!("---- {name} ----\n{}\n", chain(error));
        }
        println!("failures:");
        for (name, _) in failures {
            println!("    {name}");
        }
    }
    let verdict = if failures.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {} passed; {} failed; 0 ignored; 0 measured; {filtered_out} filtered out; finished in {:.2}s\n",
        ran - failures.len(),
        failures.len(),
        started.elapsed().as_secs_f64()
    );
}

/// The error and its causes, one per line (no backtrace, whatever `RUST_BACKTRACE` says).
pub fn chain(error: &anyhow::Error) -> String {
    let mut lines = error.to_string();
    for cause in error.chain().skip(1) {
        lines.push_str(&format!("\n  caused by: {cause}"));
    }
    lines
}

/// `KNSERVE_TEST_TIMEOUT_SECS`, default 300 s.
fn scenario_timeout() -> Duration {
    let secs = std::env::var("KNSERVE_TEST_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok());
    Duration::from_secs(secs.unwrap_or(300))
}

/// A client for the current context of the kubeconfig at `path`.
///
/// # Errors
/// When the file cannot be read or names no usable cluster.
pub async fn client_for(path: &std::path::Path) -> anyhow::Result<Client> {
    let kubeconfig = Kubeconfig::read_from(path)
        .with_context(|| format!("reading kubeconfig {}", path.display()))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading kubeconfig {}", path.display()))?;
    Client::try_from(config).context("building a client from the kubeconfig")
}

/// Those of `names` whose Deployment has no available replica (or does not exist).
///
/// # Errors
/// When the API server fails.
pub async fn unavailable<'n>(
    deployments: &Api<Deployment>,
    names: &[&'n str],
) -> anyhow::Result<Vec<&'n str>> {
    let mut waiting = Vec::new();
    for &name in names {
        let available = deployments
            .get_opt(name)
            .await?
            .and_then(|d| d.status)
            .and_then(|s| s.available_replicas)
            .unwrap_or(0);
        if available < 1 {
            waiting.push(name);
        }
    }
    Ok(waiting)
}
