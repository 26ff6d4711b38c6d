//! knserve-k8s on a real node: real pods from real images, every request sent through
//! `knserve-ingress` → activator → the `knserve-queue` sidecar → the app.
//!
//! One node (`scripts/kube-testenv.sh up-node`) is started for the whole run, knserve-k8s is
//! installed on it from `knserve-k8s/config/`, and the scenarios run one after another. It
//! needs root (network and mount namespaces, cgroups, containerd). The figures the
//! scenarios measure (first-byte times at zero and warm, pod counts) are printed and written
//! to `$CARGO_TARGET_DIR/real-node-results.json`.
//!
//! Arguments as the `cluster` target takes them (see `tests/harness`);
//! `KNSERVE_TEST_NODE_RUN_DIR` reuses a node started by hand (see `env`).

use std::process::ExitCode;

#[macro_use]
#[path = "../harness/mod.rs"]
mod harness;

mod conformance;
mod env;
mod scenarios;

use env::Node;

/// A scenario on the node.
pub type Test = harness::Test<Node>;

impl harness::Environment for Node {
    const WHAT: &'static str = "real node";

    fn before_runtime() -> anyhow::Result<()> {
        Node::before_runtime()
    }

    async fn start() -> anyhow::Result<Self> {
        Node::start().await
    }

    fn describe(&self) -> String {
        format!(
            "run dir {}; reach it with scripts/kube-testenv.sh exec {} CMD...",
            self.run_dir().display(),
            self.run_dir().display()
        )
    }

    fn stop(self) -> anyhow::Result<()> {
        Node::stop(self)
    }
}

fn main() -> ExitCode {
    harness::main("node", scenarios::tests())
}
