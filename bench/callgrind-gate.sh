#!/usr/bin/env bash
# CI gate (issue 6 §4): callgrind instructions per request of knserve-queue and of
# the warm activator path (`knserve serve`: router → activator → queue-proxy, the
# Service at target-burst-capacity -1) at concurrency 1, against a bare hyper proxy
# floor measured in the same run; fails when over bench/callgrind-budget.json.
# Needs root (unshare -n) and valgrind.
#   bench/callgrind-gate.sh                      check against the budget
#   bench/callgrind-gate.sh --write-budget       re-baseline every subject (commit the
#                                                budget file with the why)
#   bench/callgrind-gate.sh --write-budget knserve-queue   re-baseline that one only
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
[ "$(id -u)" = 0 ] || { echo "bench/callgrind-gate.sh needs root (unshare -n)"; exit 2; }
if ! command -v valgrind >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind >/dev/null \
    || { echo "valgrind is required (apt-get install valgrind)"; exit 2; }
fi
bash bench/build-dist.sh
exec unshare -n python3 bench/callgrind_gate.py --queue "$TARGET/dist/knserve-queue" \
  --knserve "$TARGET/dist/knserve" --tools "$TARGET/bench-tools/release" --budget bench/callgrind-budget.json "$@"
