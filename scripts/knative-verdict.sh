#!/usr/bin/env bash
# Builds and finds the differential test's Knative side (tests/knative-diff/verdict).
#
#   scripts/knative-verdict.sh build   build if needed; the binary's absolute path is
#                                      the last line of stdout (progress on stderr)
#   scripts/knative-verdict.sh path    print the binary's path if built, else exit 1
#
# The binary lives in ${XDG_CACHE_HOME:-$HOME/.cache}/knserve-knative/<hash>/knative-verdict,
# <hash> being that of main.go, go.mod and go.sum, so a change to the program makes a new
# build and an unchanged one is never rebuilt. knserve-knative/knative-verdict links to the
# latest. Needs only `go` (Knative comes from the Go module proxy on the first build).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/../tests/knative-diff/verdict"
src="$(cd "$src" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/knserve-knative"

hash_of_sources() {
    local f
    for f in main.go go.mod go.sum; do
        [[ -f "$src/$f" ]] || { echo "knative-verdict: missing $src/$f" >&2; exit 2; }
    done
    if command -v sha256sum >/dev/null 2>&1; then
        (cd "$src" && cat main.go go.mod go.sum | sha256sum | cut -c1-16)
    else
        (cd "$src" && cat main.go go.mod go.sum | shasum -a 256 | cut -c1-16)
    fi
}

bin="$cache/$(hash_of_sources)/knative-verdict"

case "${1:-}" in
build)
    if [[ ! -x "$bin" ]]; then
        command -v go >/dev/null 2>&1 || { echo "knative-verdict: 'go' is not on PATH" >&2; exit 2; }
        mkdir -p "$(dirname "$bin")"
        echo "knative-verdict: building $bin (Knative Serving v0.50.0; the first build downloads and compiles it)" >&2
        start=$(date +%s)
        tmp="$bin.tmp.$$"
        trap 'rm -f "$tmp"' EXIT
        (cd "$src" && go build -trimpath -o "$tmp" .) >&2
        mv -f "$tmp" "$bin"
        trap - EXIT
        echo "knative-verdict: built in $(( $(date +%s) - start ))s" >&2
    else
        echo "knative-verdict: up to date" >&2
    fi
    ln -sfn "$bin" "$cache/knative-verdict.tmp.$$"
    mv -Tf "$cache/knative-verdict.tmp.$$" "$cache/knative-verdict" 2>/dev/null \
        || { rm -f "$cache/knative-verdict"; mv -f "$cache/knative-verdict.tmp.$$" "$cache/knative-verdict"; }
    echo "$bin"
    ;;
path)
    [[ -x "$bin" ]] || { echo "knative-verdict: not built (run: $0 build)" >&2; exit 1; }
    echo "$bin"
    ;;
*)
    echo "usage: $0 build|path" >&2
    exit 2
    ;;
esac
