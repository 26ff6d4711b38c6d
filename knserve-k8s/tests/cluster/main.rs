//! Scenarios against a real Kubernetes API server (v1.36.3, see `scripts/kube-testenv.sh`).
//!
//! One cluster is started for the whole run and the scenarios run one after another on it.
//! Each scenario module exposes `pub fn tests() -> Vec<Test>` built with [`tests!`]; to add
//! one, declare the module below and append its `tests()` in [`all_tests`].
//!
//! Arguments, as libtest takes them: name filters (substring; `--exact` for whole names),
//! `--skip FILTER`, `--list`. Other libtest flags are accepted and ignored. When no scenario
//! is selected, no cluster is started. `KNSERVE_TEST_KUBECONFIG=<path>` runs against that
//! cluster instead of starting one. Each scenario may take at most
//! `KNSERVE_TEST_TIMEOUT_SECS` (default 300) seconds.

use std::future::Future;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::Instant;

/// Builds a `Vec<Test>` from async fns `async fn(&Cluster) -> anyhow::Result<()>`, each named
/// `<module>::<fn>`.
macro_rules! tests {
    ($($test:ident),* $(,)?) => {
        vec![$($crate::Test {
            name: concat!(module_path!(), "::", stringify!($test)),
            run: |cluster| Box::pin($test(cluster)),
        }),*]
    };
}

mod env;
mod install;
mod serving;
mod smoke;

use env::Cluster;

/// Every scenario, in the order they run.
fn all_tests() -> Vec<Test> {
    [smoke::tests(), serving::tests(), install::tests()].concat()
}

/// What a scenario returns: a boxed future borrowing the cluster.
pub type TestFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>>;

/// One named scenario.
#[derive(Debug, Clone, Copy)]
pub struct Test {
    /// `<module path>::<fn>`; printed without the leading crate name.
    pub name: &'static str,
    /// Runs the scenario.
    pub run: for<'a> fn(&'a Cluster) -> TestFuture<'a>,
}

impl Test {
    fn display_name(&self) -> &'static str {
        self.name.strip_prefix("cluster::").unwrap_or(self.name)
    }
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

fn main() -> ExitCode {
    let args = Args::parse(std::env::args().skip(1));
    let all = all_tests();
    let total = all.len();
    let selected: Vec<Test> = all
        .into_iter()
        .filter(|t| args.selects(t.display_name()))
        .collect();
    if args.list {
        for test in &selected {
            println!("{}: test", test.display_name());
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
    let failed = runtime.block_on(run_all(&selected, total - selected.len()));
    // Servers the scenarios started in-process are still running; don't wait for them.
    runtime.shutdown_timeout(Duration::from_secs(5));
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Starts the cluster, runs `tests` in order, stops the cluster, prints libtest's summary;
/// returns the number of failures (a cluster that does not start counts as all failed).
async fn run_all(tests: &[Test], filtered_out: usize) -> usize {
    let started = Instant::now();
    let cluster = match Cluster::start().await {
        Ok(cluster) => cluster,
        Err(e) => {
            println!("error: the test cluster did not start: {}", chain(&e));
            return tests.len().max(1);
        }
    };
    eprintln!(
        "cluster up in {:.1?} ({})",
        started.elapsed(),
        cluster.kubeconfig_path().display()
    );
    let timeout = scenario_timeout();
    let mut failures = Vec::new();
    for test in tests {
        print!("test {} ... ", test.display_name());
        let _ = std::io::stdout().flush(); // show which scenario is running while it runs
        let outcome = run_one(test, &cluster, timeout).await;
        match outcome {
            Ok(()) => println!("ok"),
            Err(e) => {
                println!("FAILED");
                failures.push((test.display_name(), e));
            }
        }
    }
    let stop = cluster.stop();
    print_summary(tests.len(), &failures, filtered_out, started);
    if let Err(e) = stop {
        println!("error: stopping the test cluster: {}", chain(&e));
        return failures.len().max(1);
    }
    failures.len()
}

/// Runs one scenario; a panic or the timeout is a failure like an `Err`.
async fn run_one(test: &Test, cluster: &Cluster, timeout: Duration) -> anyhow::Result<()> {
    let run = AssertUnwindSafe((test.run)(cluster)).catch_unwind();
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
fn chain(error: &anyhow::Error) -> String {
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
