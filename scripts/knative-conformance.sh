#!/usr/bin/env bash
# Knative's own conformance suites, built from the Go module proxy, for the real-node test
# (knserve-k8s/tests/node/conformance.rs).
#
#   scripts/knative-conformance.sh build   build what is missing; the cache directory is the
#                                          last line of stdout (progress on stderr)
#   scripts/knative-conformance.sh path    print the cache directory if built, else exit 1
#
# What is built, into ${XDG_CACHE_HOME:-$HOME/.cache}/knserve-knative/conformance-<hash>
# (<hash> that of this script, so a change to it rebuilds and nothing else does; `conformance`
# links to the latest):
#   bin/api-v1.test, bin/runtime.test   knative.dev/serving@v0.50.0 test/conformance/{api/v1,runtime}
#   bin/ingress.test                    knative.dev/networking (the version serving pins)
#                                       test/conformance/ingress
#   images/serving/<name>.tar           every test image of serving's test/test_images, and
#   images/networking/<name>.tar        of networking's, packed as ko packs them (the binary at
#                                       /ko-app/<name>, user 65532, KO_DATA_PATH) into OCI
#                                       archives by scripts/kube-testenv.sh oci-image, named
#                                       knserve.local/<serving|networking>/<name>:latest
# The test binaries run inside the module directories they came from (the suites read files
# relative to their package); `path`'s output has them as serving-dir and networking-dir.
# Nothing of Knative's is kept in the repository.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVING_VERSION=v0.50.0
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/knserve-knative"
hash=$(sha256sum "$here/knative-conformance.sh" | cut -c1-16)
out="$cache_root/conformance-$hash"
T0=$SECONDS
log() { echo "knative-conformance [$((SECONDS - T0))s]: $*" >&2; }

module_dir() { # module_dir MODULE@VERSION : downloads it (module proxy) and prints its directory
  go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'
}

build() {
  command -v go >/dev/null || { echo "knative-conformance: 'go' is not on PATH" >&2; exit 2; }
  if [[ -f "$out/done" ]]; then log "up to date in $out"; link; echo "$out"; return; fi
  mkdir -p "$out/bin" "$out/imgbin" "$out/images/serving" "$out/images/networking"
  local serving networking_version networking
  # Outside any module: `go mod download` then needs no go.mod of ours.
  cd "$out"
  serving=$(GOFLAGS= module_dir "knative.dev/serving@$SERVING_VERSION")
  networking_version=$(awk '$1 == "knative.dev/networking" { print $2; exit }' "$serving/go.mod")
  networking=$(GOFLAGS= module_dir "knative.dev/networking@$networking_version")
  echo "$serving" > "$out/serving-dir"; echo "$networking" > "$out/networking-dir"
  log "serving $SERVING_VERSION in $serving; networking $networking_version in $networking"
  # Each module builds with its own go.mod and go.sum (read-only in the module cache; the
  # outputs go to the cache directory).
  (cd "$serving" && go test -c -tags=e2e -o "$out/bin/api-v1.test" ./test/conformance/api/v1) >&2
  (cd "$serving" && go test -c -tags=e2e -o "$out/bin/runtime.test" ./test/conformance/runtime) >&2
  (cd "$networking" && go test -c -tags=e2e -o "$out/bin/ingress.test" ./test/conformance/ingress) >&2
  log "test binaries built"
  local repo dir name
  for repo in serving networking; do
    dir=$serving; [[ $repo == serving ]] || dir=$networking
    for name in $(cd "$dir/test/test_images" && ls -d */ | tr -d /); do
      [[ -n $(ls "$dir/test/test_images/$name"/*.go 2>/dev/null) ]] || continue
      (cd "$dir" && CGO_ENABLED=0 go build -trimpath -o "$out/imgbin/$repo-$name" "./test/test_images/$name") >&2
      pack "$repo" "$name" "$dir/test/test_images/$name/kodata"
    done
  done
  log "images packed"
  touch "$out/done"
  link
  echo "$out"
}

pack() { # pack REPO NAME KODATA_DIR : the image as ko builds it
  local repo=$1 name=$2 kodata=$3 extra="" f
  if [[ -d $kodata ]]; then
    while IFS= read -r f; do
      extra+=" $kodata/$f=/var/run/ko/$f"
    done < <(cd "$kodata" && find -L . -type f | sed 's|^\./||')
  fi
  OCI_EXTRA="$extra" OCI_ENV="KO_DATA_PATH=/var/run/ko" \
    bash "$here/kube-testenv.sh" oci-image "$out/images/$repo/$name.tar" \
    "knserve.local/$repo/$name:latest" "$out/imgbin/$repo-$name" "/ko-app/$name" 65532:65532 2>/dev/null
}

link() {
  ln -sfn "$out" "$cache_root/conformance.tmp.$$"
  mv -Tf "$cache_root/conformance.tmp.$$" "$cache_root/conformance"
}

case "${1:-}" in
  build) build ;;
  path) [[ -f "$out/done" ]] || { echo "knative-conformance: not built (run: $0 build)" >&2; exit 1; }
        echo "$out" ;;
  *) echo "usage: $0 build|path" >&2; exit 2 ;;
esac
