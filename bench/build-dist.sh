#!/usr/bin/env bash
# Builds what the benchmarks and the callgrind gate measure, as it is shipped:
#   - knserve (the local backend): cargo --profile dist (release + fat LTO, one codegen unit)
#   - knserve-queue (the sidecar): the same, linked statically (`crt-static`: a static-pie
#     with no shared libraries, as Knative's queue-proxy is a static Go binary). Only the
#     final link differs, so `cargo rustc` passes the flag to that one crate and the
#     dependencies are shared with every other dist build.
#   - bench/tools (backend, hyper floor, open-loop generator): its own cargo project,
#     release
# into $CARGO_TARGET_DIR/dist and $CARGO_TARGET_DIR/bench-tools/release (default target/).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --profile dist --locked -q -p knserve-local --bin knserve
cargo rustc --profile dist --locked -q -p knserve-k8s --bin knserve-queue -- -C target-feature=+crt-static
(cd bench/tools && CARGO_TARGET_DIR=$TARGET/bench-tools cargo build --release --locked -q)
