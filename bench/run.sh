#!/usr/bin/env bash
# The side-by-side benchmarks of issue 6, in one run with one record:
#   proxy       knserve-queue vs Knative's queue-proxy vs nginx vs HAProxy vs a bare hyper
#               floor vs direct (bench/harness.py), and the breaker's 200/503 parity
#   fullpath    router → activator → queue-proxy (`knserve serve`) vs nginx chains vs
#               direct (bench/fullpath.py)
#   coldstart   cold start on the local backend, per phase (bench/coldstart.py)
#   autoscaler  CPU per decision tick, memory per revision, stat ingestion, against
#               Knative's Go benchmarks (bench/autoscaler.py)
#   thousand    `knserve serve` with 1,000 idle Services: apply throughput, memory per
#               Service, idle CPU, 100 cold starts at once; the router's lookup cost from
#               10 to 10,000 hosts (bench/thousand.py; --quick: 200 Services, no router bench)
# then bench/report.py merges them into one dated record with the targets met or missed.
#
#   bench/run.sh            full run (≈ 55 min with builds); writes bench/results/<date>.{json,md}
#                           and bench/results/latest.md
#   bench/run.sh --quick    smoke (≈ 5 min incl. start-ups); writes to $KNSERVE_BENCH_OUT
#                           (default /tmp/knserve-bench) and fails on any error
#   --out DIR               where the record goes
#   --only a,b              run only these of proxy,fullpath,coldstart,autoscaler,thousand
#   other flags go to bench/harness.py (--reps N --seconds S --warmup W)
#
# Needs root (unshare -n, apt-get). Builds/installs what it lacks:
#   - knserve-queue (linked statically), knserve, bench/tools (backend, hyper floor,
#     open-loop generator): bench/build-dist.sh (CARGO_TARGET_DIR honoured)
#   - the autoscaler bench: cargo bench --profile dist (release + LTO)
#   - Knative queue-proxy: go install knative.dev/serving/cmd/queue@$KN_VERSION into
#     $KNSERVE_BENCH_CACHE/bin (default ~/.cache/knserve-bench), never into the repository;
#     Knative's autoscaler benchmarks: `go test -c` into the same cache (full run only)
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
ONLY=proxy,fullpath,coldstart,autoscaler,thousand
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=(--quick); OUT=${KNSERVE_BENCH_OUT:-/tmp/knserve-bench} ;;
    --out) OUT=$2; shift ;;
    --only) ONLY=$2; shift ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done
wants() { [[ ",$ONLY," == *",$1,"* ]]; }
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
  mkdir -p "$CACHE/gobin" "$CACHE/bin"
  if (cd "$CACHE" && GOTOOLCHAIN=local GOBIN=$CACHE/gobin CGO_ENABLED=0 GOFLAGS=-trimpath \
        go install "knative.dev/serving/cmd/queue@$KN_VERSION"); then
    mv "$CACHE/gobin/queue" "$KN_BIN"
  else
    echo "   go install failed; kn-queue-proxy is skipped"
  fi
fi
KN_DESC="not built"
[ -x "$KN_BIN" ] && KN_DESC="$(go version -m "$KN_BIN" 2>/dev/null | sed -n '1p;3p' | tr -s '\t ' ' ' | paste -sd';')"

echo "== bench/build-dist.sh: knserve, knserve-queue (static), bench/tools"
bash bench/build-dist.sh
AUTOSCALER_BENCH=
if wants autoscaler; then
  echo "== cargo bench --profile dist --no-run -p knserve-tests --bench autoscaler_load"
  AUTOSCALER_BENCH=$(cargo bench --profile dist --locked -q -p knserve-tests --bench autoscaler_load --no-run \
      --message-format=json | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "autoscaler_load":
        print(m["executable"])')
fi
build_s=$(echo "$(date +%s.%N) - $build_start" | bc)
GIT="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- knserve-k8s knserve-core knserve-local || echo '+dirty')"
RUN=$(mktemp -d /tmp/knserve-bench-run.XXXXXX)
status=0
step() { # step NAME CMD...: runs one benchmark; a failure is reported and the rest go on
  local name=$1; shift
  echo "== $name"
  "$@" || { echo "!! $name failed (exit $?)"; status=1; }
}

if wants proxy; then
  step "proxy: harness.py in a private network namespace (unshare -n)" \
    unshare -n python3 bench/harness.py "${QUICK[@]}" \
      --queue "$TARGET/dist/knserve-queue" --queue-version "knserve-queue $GIT (static-pie)" \
      --kn-queue "$KN_BIN" --kn-version "$KN_DESC" \
      --tools "$TARGET/bench-tools/release" --out "$RUN" --git "$GIT" --build-seconds "$build_s" \
      "${ARGS[@]}"
fi
if wants fullpath; then
  step "fullpath: fullpath.py" python3 bench/fullpath.py "${QUICK[@]}" --out "$RUN" --git "$GIT" \
    --tools "$TARGET/bench-tools/release" --knserve "$TARGET/dist/knserve"
fi
if wants coldstart; then
  step "coldstart: coldstart.py" python3 bench/coldstart.py "${QUICK[@]}" --out "$RUN" --git "$GIT" \
    --tools "$TARGET/bench-tools/release" --knserve "$TARGET/dist/knserve"
fi
if wants autoscaler; then
  step "autoscaler: autoscaler.py" python3 bench/autoscaler.py "${QUICK[@]}" --out "$RUN" \
    --bench-bin "$AUTOSCALER_BENCH"
fi
if wants thousand; then
  THOUSAND=()
  [ ${#QUICK[@]} -gt 0 ] && THOUSAND=(--no-router)
  step "thousand: thousand.py" python3 bench/thousand.py "${QUICK[@]}" "${THOUSAND[@]}" --out "$RUN" \
    --git "$GIT" --tools "$TARGET/bench-tools/release" --knserve "$TARGET/dist/knserve"
fi
step "report: report.py -> $OUT" python3 bench/report.py "${QUICK[@]}" --run "$RUN" --out "$OUT" \
  --git "$GIT" --build-seconds "$build_s"
rm -rf "$RUN"
exit $status
