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

use std::process::ExitCode;

#[macro_use]
#[path = "../harness/mod.rs"]
mod harness;

mod env;
mod gc;
mod install;
mod serving;
mod smoke;

use env::Cluster;

/// A scenario against the cluster.
pub type Test = harness::Test<Cluster>;

/// Every scenario, in the order they run.
fn all_tests() -> Vec<Test> {
    [
        smoke::tests(),
        serving::tests(),
        gc::tests(),
        install::tests(),
    ]
    .concat()
}

impl harness::Environment for Cluster {
    const WHAT: &'static str = "test cluster";

    async fn start() -> anyhow::Result<Self> {
        Cluster::start().await
    }

    fn describe(&self) -> String {
        self.kubeconfig_path().display().to_string()
    }

    fn stop(self) -> anyhow::Result<()> {
        Cluster::stop(self)
    }
}

fn main() -> ExitCode {
    harness::main("cluster", all_tests())
}
