#!/usr/bin/env bash
# Side-by-side proxy benchmark (issue 6): knserve-queue vs Knative's queue-proxy vs
# nginx vs HAProxy vs a bare hyper floor vs direct, on one machine.
#
#   bench/run.sh            full matrix (5 repetitions × 5 s per point, ≈ 25 min);
#                           writes bench/results/<date>.{json,md} and bench/results/latest.md
#   bench/run.sh --quick    smoke (1 repetition × 1 s, ≈ 1 min incl. start-ups); writes to
#                           $KNSERVE_BENCH_OUT (default /tmp/knserve-bench) and fails on any error
#   extra flags go to bench/harness.py (--reps N --seconds S --warmup W --out DIR)
#
# Needs root (unshare -n, apt-get). Builds/installs what it lacks:
#   - knserve-queue: cargo build --release (CARGO_TARGET_DIR honoured)
#   - bench/tools (backend, hyper floor, open-loop generator): its own cargo project
#   - Knative queue-proxy: go install knative.dev/serving/cmd/queue@$KN_VERSION into
#     $KNSERVE_BENCH_CACHE/bin (default ~/.cache/knserve-bench), never into the repository
#   - wrk, nginx-light, haproxy: apt-get (Debian)
# A target that cannot be had (no Go, no apt) is skipped and named in the results' notes.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
KN_VERSION=${KN_VERSION:-v0.50.0}   # knative-v1.23.0; builds with Go 1.26
CACHE=${KNSERVE_BENCH_CACHE:-$HOME/.cache/knserve-bench}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
QUICK=()
ARGS=()
OUT=$REPO/bench/results
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=(--quick); OUT=${KNSERVE_BENCH_OUT:-/tmp/knserve-bench} ;;
    *) ARGS+=("$arg") ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "bench/run.sh needs root (unshare -n, taskset of other users' processes)"; exit 2; }

build_start=$(date +%s.%N)
missing=()
for tool in wrk nginx haproxy; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null; then
  echo "== apt-get install wrk nginx-light haproxy (missing: ${missing[*]})"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk nginx-light haproxy >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk nginx-light haproxy >/dev/null; } \
    || echo "   apt-get failed; the missing peers are skipped"
fi
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)"; exit 2; }

KN_BIN=$CACHE/bin/queue-$KN_VERSION
if [ ! -x "$KN_BIN" ] && command -v go >/dev/null; then
  echo "== go install knative.dev/serving/cmd/queue@$KN_VERSION -> $KN_BIN"
  mkdir -p "$CACHE/gobin"
  if (cd "$CACHE" && GOTOOLCHAIN=local GOBIN=$CACHE/gobin CGO_ENABLED=0 GOFLAGS=-trimpath \
        go install "knative.dev/serving/cmd/queue@$KN_VERSION"); then
    mv "$CACHE/gobin/queue" "$KN_BIN"
  else
    echo "   go install failed; kn-queue-proxy is skipped"
  fi
fi
KN_DESC="not built"
[ -x "$KN_BIN" ] && KN_DESC="$(go version -m "$KN_BIN" 2>/dev/null | sed -n '1p;3p' | tr -s '\t ' ' ' | paste -sd';')"

echo "== cargo build --release -p knserve-k8s --bin knserve-queue"
cargo build --release --locked -q -p knserve-k8s --bin knserve-queue
echo "== cargo build --release (bench/tools)"
(cd bench/tools && CARGO_TARGET_DIR=$TARGET/bench-tools cargo build --release --locked -q)
build_s=$(echo "$(date +%s.%N) - $build_start" | bc)
GIT="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- knserve-k8s knserve-core || echo '+dirty')"

echo "== running in a private network namespace (unshare -n)"
exec unshare -n python3 bench/harness.py "${QUICK[@]}" \
  --queue "$TARGET/release/knserve-queue" --queue-version "knserve-queue $GIT" \
  --kn-queue "$KN_BIN" --kn-version "$KN_DESC" \
  --tools "$TARGET/bench-tools/release" --out "$OUT" --git "$GIT" --build-seconds "$build_s" \
  "${ARGS[@]}"
