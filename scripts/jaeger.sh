#!/usr/bin/env bash
# Builds and finds the trace test's collector: Jaeger v1.75.0's all-in-one `jaeger`
# (github.com/jaegertracing/jaeger/cmd/jaeger), the tool of the module in tests/jaeger.
#
#   scripts/jaeger.sh build   build if needed; the binary's absolute path is the last
#                             line of stdout (progress on stderr)
#   scripts/jaeger.sh path    print the binary's path if built, else exit 1
#
# The binary lives in ${XDG_CACHE_HOME:-$HOME/.cache}/knserve-jaeger/<hash>/jaeger, <hash>
# being that of tests/jaeger/go.mod and go.sum, so changing them makes a new build and
# an unchanged pair is never rebuilt. Needs only `go` (Jaeger comes from the Go module
# proxy on the first build: about 9 minutes cold on 2 cores).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/../tests/jaeger" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/knserve-jaeger"

hash="$(cd "$src" && cat go.mod go.sum | sha256sum | cut -c1-16)"
bin="$cache/$hash/jaeger"

case "${1:-}" in
build)
    if [[ ! -x "$bin" ]]; then
        command -v go >/dev/null 2>&1 || { echo "jaeger: 'go' is not on PATH" >&2; exit 2; }
        mkdir -p "$(dirname "$bin")"
        echo "jaeger: building $bin (Jaeger v1.75.0; the first build downloads and compiles it)" >&2
        start=$(date +%s)
        tmp="$bin.tmp.$$"
        trap 'rm -f "$tmp"' EXIT
        (cd "$src" && go build -trimpath -o "$tmp" github.com/jaegertracing/jaeger/cmd/jaeger) >&2
        mv -f "$tmp" "$bin"
        trap - EXIT
        echo "jaeger: built in $(( $(date +%s) - start ))s" >&2
    else
        echo "jaeger: up to date" >&2
    fi
    echo "$bin"
    ;;
path)
    [[ -x "$bin" ]] || { echo "jaeger: not built (run: $0 build)" >&2; exit 1; }
    echo "$bin"
    ;;
*)
    echo "usage: $0 build|path" >&2
    exit 2
    ;;
esac
