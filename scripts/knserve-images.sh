#!/usr/bin/env bash
# knserve-images.sh — knserve's container images, built without a daemon, as OCI archives that
# `ctr -n k8s.io images import` takes as they are (the real node of scripts/kube-testenv.sh).
#
# usage: knserve-images.sh build [OUT_DIR]   (default OUT_DIR: $CARGO_TARGET_DIR/images, or
#                                             target/images)
#
# Builds the release binaries with the profile the Dockerfiles use (`--profile dist`: release,
# fat LTO, one codegen unit) and packs each with `kube-testenv.sh oci-image` into the content its
# Dockerfile describes (the Dockerfiles stay the public recipe; keep the two in step):
#   knserve.tar     ghcr.io/knserve/knserve:$TAG     knserve-k8s/Dockerfile: /knserve-k8s,
#                   entrypoint /knserve-k8s, user 65532 (every server and the queue-proxy sidecar)
#   helloworld.tar  ghcr.io/knserve/helloworld:0.1.0 examples/helloworld/Dockerfile:
#                   /usr/local/bin/helloworld, entrypoint `helloworld`, BIND_ADDRESS=0.0.0.0,
#                   port 8080, user 65532
#   simple-api.tar  ghcr.io/knserve/simple-api:0.1.0 examples/simple-api/Dockerfile: likewise
# on the runtime the Dockerfiles name (distroless/cc-debian12: Debian 12's glibc and libgcc, CA
# certificates, /etc/passwd with nonroot) taken from this machine, which is Debian 12 too.
# The examples' tags are the ones their service.yaml names, so those manifests apply unchanged
# (pull policy IfNotPresent: the imported image is used). The knserve image is tagged $TAG
# (default `dev`) rather than `latest`, whose default pull policy is Always; the real-node tests
# substitute it for `ghcr.io/knserve/knserve:latest` in knserve-k8s/config/, the only change
# they make to the manifests.
#
# Writing the OCI layout directly (python3, see kube-testenv.sh's oci_image) rather than with
# buildah: no storage driver, no user namespace or chroot questions, reproducible digests.
# Prints OUT_DIR on stdout. Measured here (2 cores): the dist build of knserve-k8s from warm
# dependencies about 4 minutes (fat LTO); packing 3 images about 10 s; nothing to do <2 s.
set -euo pipefail
cd "$(dirname "$0")/.."
SELF_DIR=$(pwd)/scripts

TARGET=${CARGO_TARGET_DIR:-$(pwd)/target}
TAG=${KNSERVE_IMAGE_TAG:-dev}

build() {
  local out=${1:-$TARGET/images}
  mkdir -p "$out"
  cargo build --profile dist --locked -q -p knserve-k8s --bin knserve-k8s >&2
  cargo build --profile dist --locked -q -p knserve-examples --bin helloworld --bin simple-api >&2
  local bin=$TARGET/dist
  # name  ref  binary  path  entrypoint  env
  pack "$out/knserve.tar" "ghcr.io/knserve/knserve:$TAG" "$bin/knserve-k8s" /knserve-k8s "" ""
  pack "$out/helloworld.tar" ghcr.io/knserve/helloworld:0.1.0 "$bin/helloworld" \
    /usr/local/bin/helloworld helloworld BIND_ADDRESS=0.0.0.0 8080/tcp
  pack "$out/simple-api.tar" ghcr.io/knserve/simple-api:0.1.0 "$bin/simple-api" \
    /usr/local/bin/simple-api simple-api BIND_ADDRESS=0.0.0.0 8080/tcp
  echo "$out"
}

# pack OUT REF BINARY PATH ENTRYPOINT ENV [PORT]: repacks only when the binary, this script or
# the packer changed (a stamp beside OUT records their hashes).
pack() {
  local out=$1 ref=$2 binary=$3 path=$4 entrypoint=$5 env=$6 port=${7:-}
  local stamp
  stamp=$(cat "$binary" "$SELF_DIR/knserve-images.sh" "$SELF_DIR/kube-testenv.sh" | sha256sum | cut -c1-64)
  stamp="$stamp $ref"
  if [ -f "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  OCI_ENTRYPOINT=$entrypoint OCI_ENV=$env \
    bash "$SELF_DIR/kube-testenv.sh" oci-image "$out" "$ref" "$binary" "$path" 65532:65532 $port
  echo "$stamp" > "$out.stamp"
}

case "${1:-}" in
  build) build "${2:-}" ;;
  *) echo "usage: $0 build [OUT_DIR]" >&2; exit 2 ;;
esac
