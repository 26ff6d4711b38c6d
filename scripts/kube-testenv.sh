#!/usr/bin/env bash
# kube-testenv.sh — a loopback-only Kubernetes control plane for tests: etcd + kube-apiserver +
# kube-controller-manager + kube-scheduler + kwok (one fake node whose pods turn Running/Ready),
# and, with up-node, the same plus a real node (kubelet + containerd + runc + CNI bridge +
# kube-proxy + CoreDNS) inside network and mount namespaces of its own.
# Versions: Kubernetes v1.36.3 (matches k8s-openapi's v1_36), etcd v3.6.14, kwok v0.8.0; for the
# node containerd v2.4.2, CNI plugins v1.10.0, crictl v1.37.0, CoreDNS v1.15.0, runc 1.1.5
# (Debian bookworm).
#
# usage: kube-testenv.sh build | up | down RUN_DIR | bin-dir
#        kube-testenv.sh build-node | up-node | down-node RUN_DIR | exec RUN_DIR CMD...
#        kube-testenv.sh oci-image OUT.tar REF BINARY PATH USER [PORT/PROTO]
#   build    make sure the six binaries exist. With KUBEBUILDER_ASSETS naming a directory that
#            holds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and kubectl
#            (the envtest convention) those are used as they are and nothing is built; otherwise
#            they are built with Go 1.26 from the Go module proxy into
#            $TESTENV_CACHE/<versions>/bin (default ~/.cache/kube-testenv). Measured here (2 cores):
#            cold build ~7 min, cached <1 s.
#   up       (builds first if needed) starts every component on 127.0.0.1 with fresh ports, PKI and
#            etcd data in a new run dir, waits until a fake node is Ready and a 2-replica smoke
#            Deployment has 2 available pods, and prints the run dir on stdout (the only stdout
#            line). The run dir holds kubeconfig (admin, system:masters), bin-dir (a file naming the
#            binary dir), <component>.log and <component>.pid. Measured here (2 cores, warm binaries):
#            4.3–5 s with the machine busy (load 8–10): PKI 0.4 s while etcd starts, kube-apiserver
#            /readyz at ~3.5 s, controllers + node + smoke pods 0.8 s more.
#            On failure it stops what it started, prints the tail of every log on stderr and keeps
#            the run dir (path on stderr) for CI to print; exit status non-zero.
#            TESTENV_OWNER_PID=<pid>: a watchdog runs `down` when that process is gone, so a killed
#            test run leaves nothing behind.
#   down     kills every component of RUN_DIR by the PIDs recorded there (only processes whose
#            command line names RUN_DIR), waits until they are reaped and removes RUN_DIR.
#            Measured here: 1.5 s (the reaping; the kill itself is instant).
#   bin-dir  prints the directory holding the binaries (fails if they are missing).
#
#   build-node  `build`, then the node's parts into $TESTENV_CACHE/node_<versions>/bin: kubelet and
#            kube-proxy (k8s.io/kubernetes/cmd/{kubelet,kube-proxy}, one wrapper module), coredns
#            (a main package of ours importing coremain and only the plugins bind, ready, health,
#            errors, log, cache, kubernetes), containerd + containerd-shim-runc-v2 + ctr, the CNI
#            plugins bridge/host-local/loopback/portmap (in bin/cni), crictl, all built with Go from
#            the module proxy (CGO off); runc copied from Debian's package (apt-get install runc when
#            missing); images/pause.tar and images/smoke.tar, OCI archives of two tiny static Go
#            programs (see oci-image). Logs each component's build time. Measured here (2 cores,
#            nice 19, other builds running; Go module and build caches warm from `build`): CNI
#            plugins 13.6 s, crictl 80 s, images 2 s, containerd 102 s, kubelet 10–25 s (it shares
#            nearly every package with the control plane; from an empty Go build cache 392 s),
#            kube-proxy 11.3 s after the kubelet (its own packages only; 3.3 s warm; from an empty
#            Go build cache 308 s), CoreDNS 82 s (its modules downloaded and compiled: it pins
#            client-go v0.37.1; 2.0 s warm; from an empty Go build cache 275 s; 55 MB);
#            everything again from a warm Go cache 9–14 s; cached <1 s.
#   up-node  (build-node first if needed) a new run dir /tmp/kube-testenv-node.XXXXXX; a network
#            namespace kube-testenv-XXXXXX (`ip netns add`) holding only lo and the bridge cni0
#            (10.244.0.1/24, the node's InternalIP and the pods' gateway; no default route, no
#            masquerade: no packet leaves it; pods get no default route either; the service range
#            10.96.0.0/16 routed to cni0); a mount namespace kept at RUN_DIR/ns/mnt, a slave of the
#            machine's, in which /var/lib/kubelet, /var/log/containers, /run/containerd, /var/lib/cni
#            and the kernel tunables the kubelet sets are covered by run-dir files; the whole control
#            plane of `up` (with its kwok node) and containerd (root, state, sockets, runc root in the
#            run dir) and a kubelet (failCgroupV1: false, cgroupfs driver, cgroupRoot
#            /kube-testenv-XXXXXX, root dir in the run dir, no static pods) in both namespaces; the
#            pause and smoke images imported into containerd's k8s.io namespace; kube-proxy and
#            CoreDNS (below); waits until node testenv-node-0 is Ready and a smoke pod (image
#            kube-testenv.local/smoke:r2, pull policy Never) behind a ClusterIP Service `smoke` is
#            Running, answers HTTP on its pod IP from inside the namespace, as its service account
#            reads the API server's /version in-cluster (10.96.0.1 through kube-proxy), answers on
#            the Service's ClusterIP from the namespace itself (kube-proxy's nat OUTPUT chain: what
#            the API server calling a webhook Service takes), from a second pod `peer` (same image,
#            same bridge) on http://smoke.testenv-node-smoke.svc.cluster.local/ (cluster DNS, then
#            the Service to another pod of the bridge: the return path below) and from the smoke pod
#            itself on http://smoke.testenv-node-smoke/ (a DNS search path, then the Service back to
#            the pod: hairpin); prints the run dir (the only stdout line). A check that fails names
#            itself (and for the Service checks what was seen: the pod's answer, the nat rules).
#            Unlike `up`, the API server listens on :443 on every address of the namespace and
#            advertises the node IP 10.244.0.1 with the lease endpoint reconciler on, so the
#            `kubernetes` Service 10.96.0.1:443 has a real endpoint (10.244.0.1:443) that kube-proxy
#            sends pods and the namespace's own clients to, as in a real cluster (10.96.0.1 is no
#            longer put on lo: with `kubernetes` left without endpoints, kube-proxy's filter
#            OUTPUT chain REJECTs new connections to it from the namespace itself); the
#            ServiceAccount admission plugin is on (pods get projected tokens). `up` keeps
#            127.0.0.1 and no endpoint reconciler.
#            kube-proxy: iptables mode (Debian's iptables 1.8.9, nf_tables backend: the tables
#            belong to the node's network namespace and go with it; the machine's `iptables-save`
#            is the same before and after), node IP as bind address, NodePorts on the node IP only,
#            the machine-wide conntrack tunables left alone; config RUN_DIR/kube-proxy.yaml. Return
#            path: a pod calling a Service whose pod sits on the same bridge gets the reply bridged,
#            not routed; only with net.bridge.bridge-nf-call-iptables (per network namespace since
#            Linux 5.3; br_netfilter is loaded here) does that reply pass conntrack to be un-DNATed.
#            up-node sets it to 1 in the namespace (and ip_forward); checked here: with it 0 the
#            peer pod's call times out and up-node fails naming that check. Where the namespace has no such tunable, up-node sets kube-proxy's
#            masqueradeAll instead (checked to work too), and says so.
#            Cluster DNS: CoreDNS serving cluster.local and in-addr.arpa from the API server (admin
#            kubeconfig; pods insecure; ttl 5, cache 5) on 10.244.0.1:53, nothing else: other
#            names get REFUSED (nothing leaves the namespace, so no forward); config RUN_DIR/Corefile,
#            health and ready on the namespace's 127.0.0.1:10254/10255. It is reached through a real
#            Service kube-system/kube-dns at 10.96.0.10 (53/UDP, 53/TCP) whose one EndpointSlice
#            (kube-dns-node, written by up-node) names 10.244.0.1; the kubelet has clusterDNS
#            [10.96.0.10] and clusterDomain cluster.local, so pods get nameserver 10.96.0.10,
#            search <ns>.svc.cluster.local svc.cluster.local cluster.local, ndots 5.
#            The run dir holds, besides `up`'s files, netns (the network namespace's name), ns/mnt,
#            cgroup-root, node-bin-dir, crictl.yaml (for `exec RUN_DIR $(cat
#            RUN_DIR/node-bin-dir)/crictl --config RUN_DIR/crictl.yaml ps`), containerd/, kubelet/,
#            cni/, kube-proxy.yaml, Corefile and containerd.log, kubelet.log, kube-proxy.log,
#            coredns.log. The API server is reached at the namespace's 127.0.0.1:443: clients run
#            inside it (`exec`). The kwok node of `up` is there too (a pod meant for the real node
#            needs nodeSelector kubernetes.io/hostname: testenv-node-0). Measured here (warm
#            binaries): 7.6–8.8 s, also with two up-node runs started together (before kube-proxy
#            and CoreDNS 6.1–8.8 s) — API server ready ~3.5 s, node Ready ~5–6 s, smoke pod
#            answering ~7 s, the Service, DNS and hairpin checks ~1.2 s more. On failure as `up` (logs on stderr, everything stopped and unmounted, run
#            dir kept). TESTENV_OWNER_PID as for `up`.
#   down-node  kills RUN_DIR's processes by their recorded PIDs, then the containerd shims (their
#            command line names RUN_DIR) and every process in the cgroups under the kubelet's
#            cgroup root; unmounts what is mounted under RUN_DIR (RUN_DIR/ns/mnt last holds the mount
#            namespace: every mount inside it goes with it), removes the cgroups, the network
#            namespace (with it kube-proxy's iptables rules), the mount points up-node had to create
#            (once no node runs), restores any changed kernel tunable and removes RUN_DIR; a
#            following up-node starts clean. Several up-node runs may overlap (each has its own
#            namespaces, addresses, ports, iptables, cgroup root and run dir; checked: two started
#            together while a third ran). Measured here: 1.6–4.3 s (mostly init reaping the SIGKILLed processes).
#   exec     runs CMD in RUN_DIR's network and mount namespaces (nsenter; the names are in
#            RUN_DIR/netns and RUN_DIR/ns/mnt), e.g. `exec RUN_DIR kubectl --kubeconfig
#            RUN_DIR/kubeconfig get nodes` or `exec RUN_DIR curl http://POD_IP:8080/`.
#   oci-image  writes an OCI image archive (one layer: BINARY at PATH, entrypoint PATH, user USER,
#            optionally an exposed port) that `ctr -n k8s.io images import` takes as it is; the
#            image is named REF (index annotation io.containerd.image.name). Reproducible: the same
#            binary gives the same digest. No daemon, no storage driver. A dynamically linked binary
#            (the workspace's Rust binaries) also gets its `ldd` libraries and loader from this
#            machine, /etc/passwd + /etc/group (root, nonroot 65532) and the CA bundle, as
#            distroless/cc would; OCI_EXTRA="SRC=DST ..." adds files. Checked: the debug
#            examples/helloworld packed so (35 MB binary, 9.9 MB layer, 5 s), imported in 0.7 s, ran
#            as 65532 with runAsNonRoot on the real node and answered "Hello real node!".
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}
STAGING_VERSION=${STAGING_VERSION:-v0.${K8S_VERSION#v1.}}      # v1.36.3 -> v0.36.3
ETCD_VERSION=${ETCD_VERSION:-v3.6.14}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
TESTENV_CACHE=${TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-testenv}
KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_r1"
CACHE_BIN="$TESTENV_CACHE/$KEY/bin"
SRC="$TESTENV_CACHE/$KEY/src"
COMPONENTS="etcd kube-apiserver kube-controller-manager kube-scheduler kwok kubectl"
SELF=$(readlink -f "$0")
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0

T0=${EPOCHREALTIME/./}
log() { local ms=$(( (${EPOCHREALTIME/./} - T0) / 1000 )); printf 'kube-testenv [%d.%02ds]: %s\n' $((ms / 1000)) $((ms % 1000 / 10)) "$*" >&2; }

has_binaries() { # has_binaries DIR
  local b
  for b in $COMPONENTS; do [ -x "$1/$b" ] || return 1; done
}

# The binary directory: $KUBEBUILDER_ASSETS when it holds all six binaries, else the cache.
resolve_bin() {
  if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
    if has_binaries "$KUBEBUILDER_ASSETS"; then BIN=$KUBEBUILDER_ASSETS; FROM_ASSETS=1; return; fi
    log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks some of: $COMPONENTS; using $CACHE_BIN"
  fi
  BIN=$CACHE_BIN; FROM_ASSETS=
}

cache_ready() {
  has_binaries "$CACHE_BIN" \
    && "$CACHE_BIN/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes ${K8S_VERSION}"
}

build_k8s() {
  k8s_wrapper "$SRC/k8s" kube-apiserver kube-controller-manager kube-scheduler kubectl
  go build -p 2 -trimpath -tags=selinux,notest -ldflags "$(k8s_ldflags)" -o "$CACHE_BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
}

# k8s_wrapper DIR CMD... : a module in DIR (and cd there) that requires k8s.io/kubernetes with
# every staging module replaced by its published twin, and k8s.io/kubernetes/cmd/CMD as tools.
k8s_wrapper() {
  local dir=$1; shift
  mkdir -p "$dir" && cd "$dir"
  printf 'module kube-testenv/%s\n\ngo 1.26.0\n\ngodebug default=go1.26\n' "$(basename "$dir")" > go.mod
  rm -f go.sum
  local kmod staging m t
  kmod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" \
           | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  staging=$(sed -n 's#^[[:space:]]*\(replace[[:space:]]\+\)\?\(k8s\.io/[A-Za-z0-9._-]*\)[[:space:]]*=>[[:space:]]*\./staging/src/.*#\2#p' "$kmod" | sort -u)
  [ -n "$staging" ] || { log "no staging replaces found in $kmod"; return 1; }
  log "staging modules: $(echo "$staging" | wc -l)"
  {
    printf '\nrequire k8s.io/kubernetes %s\n\ntool (\n' "$K8S_VERSION"
    for t in "$@"; do
      printf '\tk8s.io/kubernetes/cmd/%s\n' "$t"
    done
    printf ')\n\nreplace (\n'
    for m in $staging; do printf '\t%s => %s %s\n' "$m" "$m" "$STAGING_VERSION"; done
    printf ')\n'
  } >> go.mod
  go mod tidy
}

k8s_ldflags() { # the version stamp hack/lib/version.sh writes
  local v=${K8S_VERSION#v} ldf="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=${v%%.*} -X $p.gitMinor=$(echo "$v" | cut -d. -f2)"
    ldf="$ldf -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$ldf"
}

build_etcd() {
  mkdir -p "$SRC/etcd" && cd "$SRC/etcd"
  printf 'module kube-testenv/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n\ntool go.etcd.io/etcd/server/v3\n' \
    "$ETCD_VERSION" > go.mod
  rm -f go.sum
  go mod tidy
  go build -p 2 -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_VERSION}" \
    -o "$CACHE_BIN/etcd" go.etcd.io/etcd/server/v3
}

build_kwok() {
  GOBIN="$CACHE_BIN" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"
}

build() {
  resolve_bin
  if [ -n "$FROM_ASSETS" ]; then log "using KUBEBUILDER_ASSETS=$BIN as it is"; return 0; fi
  if cache_ready; then log "cached binaries in $BIN"; return 0; fi
  mkdir -p "$CACHE_BIN" "$SRC"
  log "building into $CACHE_BIN (cold build: ~7 min on 2 cores)"
  ( build_k8s )      # separate statements, not `a && b`: inside an && list `set -e` is suspended
  ( build_etcd )
  ( build_kwok )
  cache_ready || { log "build finished but binaries are incomplete"; return 1; }
  # Capture before printing: `etcd --version | head -1` under pipefail dies of SIGPIPE (141).
  local ver
  ver=$("$BIN/etcd" --version)
  log "$("$BIN/kube-apiserver" --version); ${ver%%$'\n'*}"
}

# ---------------------------------------------------------------- the real node: build
# build-node: kubelet, containerd 2.x (+ its runc shim and ctr), the CNI plugins, crictl, built
# with Go from the module proxy like the control plane, plus runc and two locally built images.
# runc is Debian's package (installed with apt-get when missing) and copied into the cache: a
# runc built from the module proxy needs cgo and libseccomp-dev, and Debian's is linked with
# libseccomp already (1.1.5 on bookworm, enough for containerd 2.x's runc v2 shim).
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
CNI_VERSION=${CNI_VERSION:-v1.10.0}
CRICTL_VERSION=${CRICTL_VERSION:-v1.37.0}
COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}
NODE_KEY="node_k8s-${K8S_VERSION}_containerd-${CONTAINERD_VERSION}_cni-${CNI_VERSION}_crictl-${CRICTL_VERSION}_coredns-${COREDNS_VERSION}_runc-deb_r3"
NODE_BIN="$TESTENV_CACHE/$NODE_KEY/bin"
NODE_SRC="$TESTENV_CACHE/$NODE_KEY/src"
NODE_COMPONENTS="kubelet kube-proxy coredns containerd containerd-shim-runc-v2 ctr crictl runc cni/bridge cni/host-local cni/loopback cni/portmap images/pause.tar images/smoke.tar"
PAUSE_IMAGE=kube-testenv.local/pause:r1
SMOKE_IMAGE=kube-testenv.local/smoke:r2
SMOKE_REPO=kube-testenv/smoke:r2   # its name in the node's registry

node_cache_ready() {
  local b
  for b in $NODE_COMPONENTS; do [ -s "$NODE_BIN/$b" ] || return 1; done
  "$NODE_BIN/kubelet" --version 2>/dev/null | grep -qx "Kubernetes ${K8S_VERSION}"
}

timed() { # timed WHAT CMD... : runs CMD in a subshell and logs its wall time
  local t=${EPOCHREALTIME/./} what=$1; shift
  ( "$@" )
  local ms=$(( (${EPOCHREALTIME/./} - t) / 1000 ))
  log "built $what in $((ms / 1000)).$((ms % 1000 / 100)) s"
}

# kubelet and kube-proxy share one wrapper module (and nearly every package): build_kubelet writes
# it, build_kube_proxy only builds from it.
build_kubelet() {
  k8s_wrapper "$NODE_SRC/kubelet" kubelet kube-proxy
  go build -p 2 -trimpath -tags=selinux,notest -ldflags "$(k8s_ldflags)" -o "$NODE_BIN/" \
    k8s.io/kubernetes/cmd/kubelet
}
build_kube_proxy() {
  cd "$NODE_SRC/kubelet"
  go build -p 2 -trimpath -tags=selinux,notest -ldflags "$(k8s_ldflags)" -o "$NODE_BIN/" \
    k8s.io/kubernetes/cmd/kube-proxy
}

# CoreDNS with only what a cluster.local-only DNS needs: a main package of ours importing coremain
# and seven plugins, with dnsserver.Directives cut to them (in CoreDNS's plugin.cfg order). No
# forward: nothing leaves the node's namespace, and a name outside the Corefile's zones gets
# REFUSED. Its own module (CoreDNS pins a client-go of its own, unrelated to K8S_VERSION).
build_coredns() {
  local m=github.com/coredns/coredns
  mkdir -p "$NODE_SRC/coredns" && cd "$NODE_SRC/coredns"
  printf 'module kube-testenv/coredns\n\ngo 1.26.8\n\nrequire %s %s\n' "$m" "$COREDNS_VERSION" > go.mod
  rm -f go.sum
  cat > main.go <<'GO'
// coredns for kube-testenv's node: cluster.local and in-addr.arpa from the API server, nothing else.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func init() {
	dnsserver.Directives = []string{"bind", "ready", "health", "errors", "log", "cache", "kubernetes"}
}

func main() { coremain.Run() }
GO
  go mod tidy
  go build -p 2 -trimpath -ldflags "-s -w -X $m/coremain.GitCommit=$COREDNS_VERSION" -o "$NODE_BIN/coredns" .
}

go_tools() { # go_tools DIR MODULE@VERSION LDFLAGS OUT PKG... : a wrapper module DIR building PKGs into OUT
  local dir=$1 modver=$2 ldf=$3 out=$4; shift 4
  mkdir -p "$dir" "$out" && cd "$dir"
  { printf 'module kube-testenv/%s\n\ngo 1.26.8\n\nrequire %s %s\n\ntool (\n' "$(basename "$dir")" "${modver%@*}" "${modver#*@}"
    printf '\t%s\n' "$@"; printf ')\n'; } > go.mod
  rm -f go.sum
  go mod tidy
  go build -p 2 -trimpath -ldflags "$ldf" -o "$out/" "$@"
}

build_containerd() { # CGO off: no btrfs/devmapper snapshotters (overlayfs and native are pure Go)
  local m=github.com/containerd/containerd/v2
  go_tools "$NODE_SRC/containerd" "$m@$CONTAINERD_VERSION" \
    "-s -w -X $m/version.Version=$CONTAINERD_VERSION -X $m/version.Revision=module-proxy" "$NODE_BIN" \
    $m/cmd/containerd $m/cmd/containerd-shim-runc-v2 $m/cmd/ctr
}

build_cni() {
  local m=github.com/containernetworking/plugins
  go_tools "$NODE_SRC/cni" "$m@$CNI_VERSION" "-s -w -X $m/pkg/utils/buildversion.BuildVersion=$CNI_VERSION" \
    "$NODE_BIN/cni" $m/plugins/main/bridge $m/plugins/ipam/host-local $m/plugins/main/loopback $m/plugins/meta/portmap
}

build_crictl() {
  local m=sigs.k8s.io/cri-tools
  go_tools "$NODE_SRC/crictl" "$m@$CRICTL_VERSION" "-s -w -X $m/pkg/version.Version=$CRICTL_VERSION" \
    "$NODE_BIN" $m/cmd/crictl
}

install_runc() {
  if ! command -v runc >/dev/null; then
    [ "$(id -u)" = 0 ] || { log "runc missing: apt-get install runc (as root)"; return 1; }
    apt-get install -y -qq --no-install-recommends runc >&2
  fi
  install -m 755 "$(command -v runc)" "$NODE_BIN/runc"
  "$NODE_BIN/runc" --version | head -1 >&2
}

# The two images' programs: pause (the sandbox's process: sleeps, reaps zombies, exits on
# INT/TERM) and smoke (an HTTP server answering "ok <hostname>" on :8080, relaying /kubernetes and
# /fetch?url=). Static, no cgo.
install_host_tools() { # what the node uses from the machine: iptables (kube-proxy), ip and nsenter
  local missing=()
  command -v iptables >/dev/null || missing+=(iptables)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v nsenter >/dev/null || missing+=(util-linux)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian's ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 \
    || { log "the node needs ${missing[*]} (apt-get install ${missing[*]})"; return 1; }
}

install_registry() { # the CNCF distribution server from Debian's docker-registry, copied beside the node
  if [ ! -x /usr/bin/docker-registry ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-registry >&2 \
      || { log "the registry needs Debian's docker-registry (apt-get install docker-registry)"; return 1; }
  fi
  install -m 755 /usr/bin/docker-registry "$NODE_BIN/registry"
}

build_image_programs() {
  mkdir -p "$NODE_SRC/images/pause" "$NODE_SRC/images/smoke" && cd "$NODE_SRC/images"
  printf 'module kube-testenv/images\n\ngo 1.26.0\n' > go.mod
  cat > pause/main.go <<'GO'
// pause holds a pod's namespaces: it sleeps until SIGINT/SIGTERM and reaps orphans.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
GO
  cat > smoke/main.go <<'GO'
// smoke answers every HTTP request with "ok <hostname>" on $PORT (default 8080), and
// /kubernetes with the API server's /version as the pod's service account sees it (in-cluster:
// KUBERNETES_SERVICE_HOST/PORT, the projected token and CA), and /fetch?url=URL with what a GET of
// URL answers from inside the pod (its resolv.conf: cluster DNS, search paths).
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

const sa = "/var/run/secrets/kubernetes.io/serviceaccount/"

func main() {
	host, _ := os.Hostname()
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "ok %s\n", host) })
	http.HandleFunc("/kubernetes", func(w http.ResponseWriter, _ *http.Request) {
		token, err1 := os.ReadFile(sa + "token")
		ca, err2 := os.ReadFile(sa + "ca.crt")
		if err1 != nil || err2 != nil {
			http.Error(w, fmt.Sprint("no service account: ", err1, err2), http.StatusInternalServerError)
			return
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		req, _ := http.NewRequest("GET", "https://"+net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))+"/version", nil)
		req.Header.Set("Authorization", "Bearer "+string(token))
		resp, err := c.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
	http.HandleFunc("/fetch", func(w http.ResponseWriter, r *http.Request) {
		c := &http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get(r.URL.Query().Get("url"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
GO
  go build -trimpath -ldflags "-s -w" -o "$NODE_SRC/images/bin/" ./pause ./smoke
  mkdir -p "$NODE_BIN/images"
  oci_image "$NODE_BIN/images/pause.tar" "$PAUSE_IMAGE" "$NODE_SRC/images/bin/pause" /pause 65535:65535 ""
  oci_image "$NODE_BIN/images/smoke.tar" "$SMOKE_IMAGE" "$NODE_SRC/images/bin/smoke" /smoke 65532:65532 8080/tcp
}

# oci_image OUT.tar REF BINARY PATH USER [PORT/PROTO] : an OCI image archive (image layout in a
# tar: oci-layout, index.json, blobs/sha256/*) of one layer holding BINARY at PATH, run as USER
# with PATH as its entrypoint. Written directly (tar + JSON + sha256 in python3) rather than with
# buildah: no storage driver, no daemon, no cgroup or chroot isolation questions, byte-for-byte
# reproducible (mtime 0, uid 0), and `ctr images import` reads it as it is. The index carries
# io.containerd.image.name (the full REF, which ctr names the image by) and
# org.opencontainers.image.ref.name (its tag), as `ctr images export` writes them.
# A dynamically linked BINARY (the workspace's Rust binaries: glibc, libgcc_s, libm) gets the
# libraries `ldd` names and the dynamic loader, from this machine (Debian bookworm's glibc, what
# the binary was linked against), plus /etc/passwd and /etc/group naming root and nonroot (65532)
# and the CA bundle — what distroless/cc gives it. OCI_EXTRA="SRC=DST ..." adds more files,
# OCI_ENV="K=V ..." environment variables, OCI_ENTRYPOINT an entrypoint other than PATH (a
# Dockerfile's `ENTRYPOINT ["name"]`, found through the image's PATH).
oci_image() {
  python3 - "$@" <<'PY'
import gzip, hashlib, io, json, sys, tarfile
out, ref, binary, path, user = sys.argv[1:6]
port = sys.argv[6] if len(sys.argv) > 6 else ""

def tar_bytes(entries):  # entries: (TarInfo, bytes|None)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()

def info(name, kind, mode, size=0):
    ti = tarfile.TarInfo(name); ti.type = kind; ti.mode = mode; ti.size = size
    ti.mtime = 0; ti.uid = ti.gid = 0; ti.uname = ti.gname = ""
    return ti

import os, re, subprocess
files = {path.strip("/"): (open(binary, "rb").read(), 0o755)}   # path in the image -> (bytes, mode)
ldd = subprocess.run(["ldd", binary], capture_output=True, text=True)   # fails for a static binary
if ldd.returncode == 0:
    out_ldd = ldd.stdout
    for lib in re.findall(r"(?:=>\s*)?(/\S+)\s+\(0x", out_ldd):
        files[lib.strip("/")] = (open(os.path.realpath(lib), "rb").read(), 0o755)
if len(files) > 1:   # dynamic: a minimal /etc as distroless has it
    files["etc/passwd"] = (b"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n", 0o644)
    files["etc/group"] = (b"root:x:0:\nnonroot:x:65532:\n", 0o644)
    if os.path.exists("/etc/ssl/certs/ca-certificates.crt"):
        files["etc/ssl/certs/ca-certificates.crt"] = (open("/etc/ssl/certs/ca-certificates.crt", "rb").read(), 0o644)
for spec in os.environ.get("OCI_EXTRA", "").split():
    src, dst = spec.split("=", 1)
    files[dst.strip("/")] = (open(src, "rb").read(), os.stat(src).st_mode & 0o777)
dirs = {"tmp"}
for f in files:
    parts = f.split("/")
    dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
entries = [(info(d, tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755), None) for d in sorted(dirs)]
for f in sorted(files):
    data, mode = files[f]
    entries.append((info(f, tarfile.REGTYPE, mode, len(data)), data))
layer = tar_bytes(entries)
layer_gz = gzip.compress(layer, mtime=0)
blobs = {}
def blob(b, media):
    d = "sha256:" + hashlib.sha256(b).hexdigest(); blobs[d] = b
    return {"mediaType": media, "digest": d, "size": len(b)}
cfg = {"User": user, "Entrypoint": [os.environ.get("OCI_ENTRYPOINT") or path], "WorkingDir": "/",
       "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + os.environ.get("OCI_ENV", "").split()}
if port:
    cfg["ExposedPorts"] = {port: {}}
config = {"architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z", "config": cfg,
          "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
          "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "kube-testenv oci_image " + path}]}
enc = lambda o: json.dumps(o, separators=(",", ":"), sort_keys=True).encode()
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": blob(enc(config), "application/vnd.oci.image.config.v1+json"),
            "layers": [blob(layer_gz, "application/vnd.oci.image.layer.v1.tar+gzip")]}
mdesc = blob(enc(manifest), "application/vnd.oci.image.manifest.v1+json")
mdesc["annotations"] = {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1]}
mdesc["platform"] = {"architecture": "amd64", "os": "linux"}
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [mdesc]}
entries = [(info("blobs", tarfile.DIRTYPE, 0o755), None), (info("blobs/sha256", tarfile.DIRTYPE, 0o755), None)]
for d in sorted(blobs):
    entries.append((info("blobs/sha256/" + d[7:], tarfile.REGTYPE, 0o644, len(blobs[d])), blobs[d]))
for name, b in (("oci-layout", enc({"imageLayoutVersion": "1.0.0"})), ("index.json", enc(index))):
    entries.append((info(name, tarfile.REGTYPE, 0o644, len(b)), b))
open(out + ".tmp", "wb").write(tar_bytes(entries))
import os; os.replace(out + ".tmp", out)
print(f"{out}: {ref} {mdesc['digest']} ({len(layer_gz)} bytes compressed)", file=sys.stderr)
PY
}

build_node() {
  build >&2
  install_host_tools
  [ -x "$NODE_BIN/registry" ] || { mkdir -p "$NODE_BIN"; install_registry; }
  if node_cache_ready; then log "cached node binaries in $NODE_BIN"; return 0; fi
  mkdir -p "$NODE_BIN" "$NODE_SRC"
  log "building the node into $NODE_BIN"
  timed runc install_runc
  timed "CNI plugins $CNI_VERSION" build_cni
  timed "crictl $CRICTL_VERSION" build_crictl
  timed "pause and smoke images" build_image_programs
  timed "containerd $CONTAINERD_VERSION" build_containerd
  timed "kubelet $K8S_VERSION" build_kubelet
  timed "kube-proxy $K8S_VERSION" build_kube_proxy
  timed "CoreDNS $COREDNS_VERSION" build_coredns
  node_cache_ready || { log "build-node finished but binaries are incomplete"; return 1; }
  log "$("$NODE_BIN/kubelet" --version); $("$NODE_BIN/containerd" --version)"
}

# ---------------------------------------------------------------- runtime helpers
# NSX: the prefix that runs a command in the cluster's network namespace (empty for `up`, whose
# cluster lives in the machine's own; `nsenter --net=/run/netns/NAME` for `up-node`).
NSX=()
start() { # start NAME CMD... : detached from our stdio; log and pid in the run dir
  local name=$1; shift
  nohup "${NSX[@]}" "$@" < /dev/null > "$RUN/$name.log" 2>&1 &
  echo $! > "$RUN/$name.pid"
  disown   # no "Killed" job notices from this shell when `down` or a failed `up` stops it
}
wait_for() { # wait_for TIMEOUT_S WHAT CMD... : polls every 0.1 s; CMD returns 99 = give up now
  local deadline=$(( $(date +%s) + $1 )) what=$2 rc; shift 2
  while :; do
    rc=0; "$@" >/dev/null 2>&1 || rc=$?
    [ "$rc" -ne 0 ] || break
    if [ "$rc" -eq 99 ]; then log "gave up waiting for $what: $(dead_components) exited"; return 1; fi
    if [ "$(date +%s)" -ge "$deadline" ]; then log "timeout waiting for $what"; return 1; fi
    sleep 0.1
  done
  log "$what"
}
alive() { # alive NAME... : their processes still run (99 otherwise, so wait_for fails fast)
  local n; for n in "$@"; do kill -0 "$(cat "$RUN/$n.pid")" 2>/dev/null || return 99; done
}
dead_components() {
  local f dead=()
  for f in "$RUN"/*.pid; do kill -0 "$(cat "$f")" 2>/dev/null || dead+=("$(basename "$f" .pid)"); done
  echo "${dead[*]}"
}
api() { # api METHOD PATH [JSON-FILE]
  local args=(-fsS --max-time 10 --cacert "$RUN/pki/ca.crt" --cert "$RUN/pki/admin.crt"
              --key "$RUN/pki/admin.key" -X "$1")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data "@$3")
  "${NSX[@]}" curl "${args[@]}" "https://127.0.0.1:${API_PORT}$2"
}
https_ok() { [ "$("${NSX[@]}" curl -fsSk --max-time 2 "https://127.0.0.1:$1/healthz")" = ok ]; }
etcd_ready() {
  alive etcd || return 99
  "${NSX[@]}" curl -fsS --max-time 2 "http://127.0.0.1:${ETCD_PORT}/health" | grep -Eq '"health": *"true"'
}
api_ready() {
  alive etcd kube-apiserver || return 99
  etcd_ready || return 1
  [ "$(api GET /readyz)" = ok ] || return 1
  local ns   # the system namespaces are created by post-start hooks, but check: kwok needs kube-node-lease
  for ns in default kube-system kube-public kube-node-lease; do api GET "/api/v1/namespaces/$ns" || return 1; done
}
controllers_ready() {
  alive etcd kube-apiserver kube-controller-manager kube-scheduler kwok || return 99
  https_ok "$KCM_PORT" && https_ok "$SCHED_PORT" \
    && "${NSX[@]}" curl -fsS --max-time 2 "http://127.0.0.1:${KWOK_PORT}/healthz" >/dev/null
}
node_ready() {
  alive etcd kube-apiserver kube-controller-manager kube-scheduler kwok || return 99
  api GET /api/v1/nodes/kwok-node-0 | python3 -c 'import json,sys
n=json.load(sys.stdin)
sys.exit(0 if any(c["type"]=="Ready" and c["status"]=="True" for c in n.get("status",{}).get("conditions",[])) else 1)'
}
smoke_ready() {
  alive etcd kube-apiserver kube-controller-manager kube-scheduler kwok || return 99
  api GET /apis/apps/v1/namespaces/testenv-smoke/deployments/smoke \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d.get("status",{}).get("availableReplicas",0)==2 else 1)'
}

make_pki() { # ECDSA P-256 (as envtest): a fraction of RSA's key-generation time
  local PKI="$RUN/pki"; mkdir -p "$PKI"; cd "$PKI"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 3650 -sha256 \
    -subj "/CN=kube-testenv-ca" 2>/dev/null
  sign() {
    openssl req -new "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    printf '%s\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
      -days 3650 -sha256 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  }
  sign apiserver "/CN=kube-apiserver" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1"
  sign admin "/O=system:masters/CN=kube-testenv-admin" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out sa.key 2>/dev/null
  openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
  cd "$RUN"
}

write_kubeconfig() {
  local P="$RUN/pki"
  cat > "$RUN/kubeconfig" <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: kube-testenv
  cluster:
    server: https://127.0.0.1:${API_PORT}
    certificate-authority-data: $(base64 -w0 < "$P/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(base64 -w0 < "$P/admin.crt")
    client-key-data: $(base64 -w0 < "$P/admin.key")
contexts:
- name: kube-testenv
  context: {cluster: kube-testenv, user: admin, namespace: default}
current-context: kube-testenv
KCFG
  chmod 600 "$RUN/kubeconfig"
}

# kwok applies no defaults to a KwokConfiguration read from --config (only to the built-in one,
# pkg/config/vars.go GetKwokConfiguration), so every option whose zero value breaks it is spelled
# out here with kwok's documented default (+default tags in pkg/apis/config/v1alpha1): a zero
# nodeLeaseParallelism is "node leases parallelism must be greater than 0", zero play-stage
# parallelism would start no stage workers.
write_kwok_config() {
  {
    cat <<KWOKCFG
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  cidr: 10.244.0.0/16
  nodeIP: 127.0.0.1
  nodePort: ${KWOK_PORT}
  serverAddress: 127.0.0.1:${KWOK_PORT}
  manageAllNodes: false
  manageNodesWithAnnotationSelector: kwok.x-k8s.io/node=fake
  nodeLeaseDurationSeconds: 40
  nodeLeaseParallelism: 4
  nodePlayStageParallelism: 4
  podPlayStageParallelism: 4
  podsOnNodeSyncParallelism: 1
  enablePodsOnNodeSyncListPager: true
  enablePodsOnNodeSyncStreamWatch: false
  enableDebuggingHandlers: false
  enableContentionProfiling: false
  enableProfilingHandler: false
KWOKCFG
    kwok_stages
  } > "$RUN/kwok.yaml"
}

# The five stages kwokctl installs by default (kwok v0.8.0 kustomize/stage/{node/fast/node-initialize,
# node/heartbeat-with-lease/node-heartbeat-with-lease,pod/fast/pod-ready,pod/fast/pod-complete,
# pod/fast/pod-delete}.yaml, verbatim): bare kwok ships none, and carrying them here means `up`
# needs nothing but the six binaries (KUBEBUILDER_ASSETS works without Go or the module cache).
kwok_stages() {
  cat <<'KWOKSTAGES'
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-initialize
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values:
      - 'True'
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $lastTransitionTime := or .metadata.creationTimestamp $now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $lastTransitionTime | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type  | Quote}}
      {{ end }}

      {{ $hasInternalIP := false }}
      {{ $hasHostname := false }}
      {{ range .status.addresses }}
        {{ if eq .type "InternalIP" }}
          {{ $hasInternalIP = true }}
        {{ end }}
        {{ if eq .type "Hostname" }}
          {{ $hasHostname = true }}
        {{ end }}
      {{ end }}
      {{ if or (not $hasInternalIP) (not $hasHostname) }}
      addresses:
      {{ end }}
      {{ if not $hasInternalIP }}
      {{ with NodeIP }}
      - address: {{ . | Quote }}
        type: InternalIP
      {{ end }}
      {{ end }}
      {{ if not $hasHostname }}
      {{ with NodeName }}
      - address: {{ . | Quote }}
        type: Hostname
      {{ end }}
      {{ end }}

      {{ with NodePort }}
      daemonEndpoints:
        kubeletEndpoint:
          Port: {{ . }}
      {{ end }}

      allocatable:
      {{ with .status.allocatable }}
      {{ YAML . 1 }}
      {{ else }}
        cpu: 1k
        memory: 1Ti
        pods: 1M
      {{ end }}
      capacity:
      {{ with .status.capacity }}
      {{ YAML . 1 }}
      {{ else }}
        cpu: 1k
        memory: 1Ti
        pods: 1M
      {{ end }}

      {{ $nodeInfo := .status.nodeInfo }}
      {{ $kwokVersion := printf "kwok-%s" Version }}
      nodeInfo:
        architecture: {{ or $nodeInfo.architecture "amd64" }}
        bootID: {{ or $nodeInfo.bootID `""` }}
        containerRuntimeVersion: {{ or $nodeInfo.containerRuntimeVersion $kwokVersion }}
        kernelVersion: {{ or $nodeInfo.kernelVersion $kwokVersion }}
        kubeProxyVersion: {{ or $nodeInfo.kubeProxyVersion $kwokVersion }}
        kubeletVersion: {{ or $nodeInfo.kubeletVersion $kwokVersion }}
        machineID: {{ or $nodeInfo.machineID `""` }}
        operatingSystem: {{ or $nodeInfo.operatingSystem "linux" }}
        osImage: {{ or $nodeInfo.osImage `""` }}
        systemUUID: {{ or $nodeInfo.systemUUID `""` }}
      phase: Running

---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-heartbeat-with-lease
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'In'
      values:
      - 'True'
  delay:
    durationMilliseconds: 600000
    jitterDurationMilliseconds: 610000
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $lastTransitionTime := or .metadata.creationTimestamp $now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $lastTransitionTime | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}

      addresses:
      {{ with .status.addresses }}
      {{ YAML . 1 }}
      {{ else }}
      {{ with NodeIP }}
      - address: {{ . | Quote }}
        type: InternalIP
      {{ end }}
      {{ with NodeName }}
      - address: {{ . | Quote }}
        type: Hostname
      {{ end }}
      {{ end }}

      {{ with NodePort }}
      daemonEndpoints:
        kubeletEndpoint:
          Port: {{ . }}
      {{ end }}

---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Pending'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values:
      - 'True'
  next:
    statusTemplate: |
      {{ $now := Now }}

      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
      {{ range .spec.readinessGates }}
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: {{ .conditionType | Quote }}
      {{ end }}

      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}

      initContainerStatuses:
      {{ range .spec.initContainers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        {{ if eq .restartPolicy "Always" }}
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
        {{ else }}
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
        {{ end }}
      {{ end }}
      {{ $hostIPs := NodeIPsWith .spec.nodeName }}
      {{ with $hostIPs }}
      hostIP: {{ index . 0 | Quote }}
      hostIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
      {{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
      {{ with $podIPs }}
      podIP: {{ index . 0 | Quote }}
      podIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}

---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-complete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.metadata.ownerReferences.[].kind'
      operator: 'In'
      values:
      - 'Job'
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $root := . }}
      containerStatuses:
      {{ range $index, $item := .spec.containers }}
      {{ $origin := index $root.status.containerStatuses $index }}
      - image: {{ $item.image | Quote }}
        name: {{ $item.name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: Succeeded

---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
  next:
    delete: true

KWOKSTAGES
}

# ---------------------------------------------------------------- teardown
# SIGKILL at once: the cluster is disposable (its etcd data is deleted next), and a graceful
# TERM-then-wait shutdown measured ~7 s here (apiserver 3 s, etcd 2 s, controllers 2 s).
stop_run() { # stop_run RUN_DIR [keep]
  local run=$1 keep=${2:-} f pid pids=()
  for f in "$run"/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    [ "$pid" != "$$" ] || continue
    # Only a process whose command line names this run dir is ours (guards against PID reuse).
    tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -qF -- "$run" || continue
    kill -KILL "$pid" 2>/dev/null && pids+=("$pid")
  done
  # Wait until they are reaped too (a zombie still shows in pgrep): ~1.5 s here, at most 5 s.
  local tries=100
  while any_exists "${pids[@]}" && [ $((tries -= 1)) -gt 0 ]; do sleep 0.05; done
  [ -n "$keep" ] || rm -rf "$run"
}
any_exists() { local p; for p in "$@"; do [ -e "/proc/$p" ] && return 0; done; return 1; }

watchdog() { # watchdog RUN_DIR OWNER_PID : `down` once the owner is gone
  while kill -0 "$2" 2>/dev/null && [ -d "$1" ]; do sleep 1; done
  [ -d "$1" ] && stop_run "$1"
}

dump_logs() {
  local f
  for f in "$RUN"/*.log; do
    [ -s "$f" ] || continue
    printf '==== %s (last 30 lines)\n' "$f" >&2; tail -n 30 "$f" >&2
  done
}

# ---------------------------------------------------------------- up
up() {
  build >&2
  RUN=$(mktemp -d "${TMPDIR:-/tmp}/kube-testenv.XXXXXX"); chmod 700 "$RUN"
  trap 'rc=$?; if [ $rc -ne 0 ]; then dump_logs; stop_run "$RUN" keep; log "up failed; logs kept in $RUN"; fi' EXIT
  [ -z "${TESTENV_OWNER_PID:-}" ] || start watchdog bash "$SELF" watchdog "$RUN" "$TESTENV_OWNER_PID"
  control_plane_up
  trap - EXIT
  log "up: KUBECONFIG=$RUN/kubeconfig (apiserver https://127.0.0.1:${API_PORT})"
  echo "$RUN"
}

# control_plane_up: etcd, kube-apiserver (+ APISERVER_EXTRA flags; API_PORT_FIXED for its port,
# DISABLED_ADMISSION for the admission plugins it turns off), kube-controller-manager,
# kube-scheduler and kwok in $RUN (in the network namespace of NSX), up to the kwok node Ready and
# the kwok smoke Deployment available and deleted again.
APISERVER_EXTRA=()
control_plane_up() {
  local ports
  ports=$("${NSX[@]}" python3 -c 'import socket
ss=[socket.socket() for _ in range(6)]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
  read -r ETCD_PORT ETCD_PEER_PORT API_PORT KCM_PORT SCHED_PORT KWOK_PORT <<< "$ports"
  API_PORT=${API_PORT_FIXED:-$API_PORT}
  echo "$BIN" > "$RUN/bin-dir"
  local P="$RUN/pki"

  mkdir -p -m 700 "$RUN/etcd"
  start etcd "$BIN/etcd" --name=kube-testenv --data-dir="$RUN/etcd" \
    --listen-client-urls="http://127.0.0.1:${ETCD_PORT}" --advertise-client-urls="http://127.0.0.1:${ETCD_PORT}" \
    --listen-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" --initial-advertise-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-cluster="kube-testenv=http://127.0.0.1:${ETCD_PEER_PORT}" --initial-cluster-state=new \
    --unsafe-no-fsync=true --log-level=warn
  # etcd needs no PKI, and the API server retries etcd until it answers: generate the PKI
  # while etcd starts, and start the API server without waiting for etcd.
  make_pki; write_kubeconfig; write_kwok_config
  log "run dir $RUN, PKI written"

  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:${ETCD_PORT}" \
    --bind-address=127.0.0.1 --secure-port="${API_PORT}" \
    --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --cert-dir="$P" --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
    --client-ca-file="$P/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 \
    --authorization-mode=RBAC \
    --disable-admission-plugins="${DISABLED_ADMISSION:-ServiceAccount,TaintNodesByCondition}" \
    --allow-privileged=true --kubelet-preferred-address-types=InternalIP \
    --profiling=false --v=1 "${APISERVER_EXTRA[@]}"
  wait_for 120 "kube-apiserver ready" api_ready

  # The rest only needs the API server; start all three, and create the node and the smoke
  # Deployment at once — they are picked up as each component comes up.
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$RUN/kubeconfig" --bind-address=127.0.0.1 --secure-port="${KCM_PORT}" \
    --leader-elect=false --use-service-account-credentials=false \
    --controllers="${KCM_CONTROLLERS:-deployment-controller,replicaset-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller,endpoints-controller,endpointslice-controller,pod-garbage-collector-controller,job-controller,cronjob-controller,statefulset-controller,daemonset-controller,ttl-after-finished-controller,disruption-controller,root-ca-certificate-publisher-controller}" \
    --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" --profiling=false --v=1
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig="$RUN/kubeconfig" --bind-address=127.0.0.1 --secure-port="${SCHED_PORT}" \
    --leader-elect=false --profiling=false --v=1
  start kwok "$BIN/kwok" --kubeconfig="$RUN/kubeconfig" --config="$RUN/kwok.yaml"

  cat > "$RUN/node.json" <<'NODEJSON'
{"apiVersion":"v1","kind":"Node",
 "metadata":{"name":"kwok-node-0",
  "annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
  "labels":{"type":"kwok","kubernetes.io/hostname":"kwok-node-0","kubernetes.io/os":"linux",
            "kubernetes.io/arch":"amd64","node-role.kubernetes.io/agent":""}},
 "spec":{"taints":KWOK_TAINTS},
 "status":{"allocatable":{"cpu":"32","memory":"256Gi","pods":"110"},
           "capacity":{"cpu":"32","memory":"256Gi","pods":"110"},
           "nodeInfo":{"architecture":"amd64","operatingSystem":"linux","kubeletVersion":"fake"}}}
NODEJSON
  printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"testenv-smoke"}}' > "$RUN/ns.json"
  cat > "$RUN/smoke.json" <<'SMOKE'
{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"smoke","namespace":"testenv-smoke"},
 "spec":{"replicas":2,"selector":{"matchLabels":{"app":"smoke"}},
  "template":{"metadata":{"labels":{"app":"smoke"}},
   "spec":{"nodeSelector":{"type":"kwok"},"tolerations":[{"key":"kwok.x-k8s.io/node","operator":"Exists"}],
    "containers":[{"name":"c","image":"registry.invalid/none:0"}]}}}}
SMOKE
  # Beside a real node (up-node) the kwok node is tainted, so that only pods that ask for it (a
  # toleration of kwok.x-k8s.io/node) land there and everything else runs for real.
  local taints='[]'
  [ -z "${KWOK_TAINTED:-}" ] || taints='[{"key":"kwok.x-k8s.io/node","value":"fake","effect":"NoSchedule"}]'
  sed -i "s#KWOK_TAINTS#$taints#" "$RUN/node.json"
  api POST /api/v1/nodes "$RUN/node.json" >/dev/null
  api POST /api/v1/namespaces "$RUN/ns.json" >/dev/null
  api POST /apis/apps/v1/namespaces/testenv-smoke/deployments "$RUN/smoke.json" >/dev/null

  wait_for 60 "kube-controller-manager, kube-scheduler and kwok healthy" controllers_ready
  wait_for 60 "kwok node Ready" node_ready
  wait_for 90 "smoke Deployment has 2 available pods" smoke_ready
  api DELETE /api/v1/namespaces/testenv-smoke >/dev/null
}

# ---------------------------------------------------------------- the real node: up-node / down-node
POD_CIDR=${POD_CIDR:-10.244.0.0/24}   # inside the namespace only; nothing routes it anywhere else
REGISTRY_PORT=5000   # the image registry, at the node's address inside the namespace (up-node)
NODE_IP=${NODE_IP:-10.244.0.1}        # the CNI bridge's address: the node's InternalIP and the pods' gateway
NODE_NAME=testenv-node-0
SERVICE_CIDR=10.96.0.0/16             # the API server's --service-cluster-ip-range
KUBERNETES_SERVICE_IP=10.96.0.1       # its first address: the `kubernetes` Service
DNS_SERVICE_IP=10.96.0.10             # kube-system/kube-dns, the pods' nameserver (kube-proxy -> CoreDNS on $NODE_IP:53)
# The kernel tunables the kubelet sets at start (vm.overcommit_memory=1, kernel.panic=10,
# kernel.panic_on_oops=1, …; pkg/kubelet/cm setupKernelTunables) are machine-wide and the kubelet
# has no "warn only" setting: in the node's mount namespace each /proc/sys file is covered by a
# plain file of the run dir, so the kubelet writes there and the machine's values stay as they are
# (up-node still records them and down-node puts back any that changed).
KUBELET_SYSCTLS="vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes"

cgroup_hierarchies() { # the cgroup v1 mounts (one per controller set) plus the empty v2 `unified`
  awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts | sort -u
}

# Paths the kubelet, containerd and libcni use whatever they are told: the device-manager socket
# (/var/lib/kubelet/device-plugins), the container log symlinks (/var/log/containers), the shims'
# sockets (/run/containerd/s, pkg/shim/util_unix.go) and libcni's cache (/var/lib/cni). In the
# node's mount namespace each is a bind mount of a directory of the run dir. A missing mount point
# is created and named in $CREATED_DIRS, so that the down-node that leaves no node running removes
# it (runs may overlap: the one that created it need not be the last).
HOST_PATHS="/var/lib/kubelet /var/log/containers /run/containerd /var/lib/cni"
CREATED_DIRS=/run/kube-testenv-created-dirs

# make_mount_ns: a mount namespace for the whole cluster, kept by a bind mount of its nsfs file at
# $RUN/ns/mnt (on a private bind of $RUN/ns, as nsfs mounts require), a slave of the machine's: the
# machine's mounts show inside, nothing mounted inside (volumes, rootfs, pod network namespaces,
# the covers above) shows outside, and it all goes when the last process exits and down-node
# unmounts $RUN/ns/mnt.
make_mount_ns() {
  mkdir -p "$RUN/ns" "$RUN/sysctl"
  mount --bind "$RUN/ns" "$RUN/ns"; mount --make-private "$RUN/ns"
  touch "$RUN/ns/mnt"
  unshare --mount="$RUN/ns/mnt" --propagation slave true
  local MNX=(nsenter "--mount=$RUN/ns/mnt") d k f
  for d in $HOST_PATHS; do
    [ -d "$d" ] || { mkdir -p "$d"; echo "$d" >> "$CREATED_DIRS"; }
    f="$RUN/host/${d//\//_}"; mkdir -p "$f"
    "${MNX[@]}" mount --bind "$f" "$d"
  done
  for k in $KUBELET_SYSCTLS; do
    f="$RUN/sysctl/${k//\//.}"; cat "/proc/sys/$k" > "$f"
    "${MNX[@]}" mount --bind "$f" "/proc/sys/$k"
  done
}

make_cgroup_root() { # a cgroup per hierarchy for the kubelet's cgroupRoot (it must exist)
  local h
  for h in $(cgroup_hierarchies); do
    mkdir -p "$h/$CGROOT"
    if [ -f "$h/cpuset.cpus" ]; then   # v1 cpuset children start empty: copy the root's
      cat "$h/cpuset.cpus" > "$h/$CGROOT/cpuset.cpus"; cat "$h/cpuset.mems" > "$h/$CGROOT/cpuset.mems"
    fi
  done
}

write_node_config() {
  local C="$RUN/containerd" ND="$NODE_BIN"
  mkdir -p "$C/root" "$C/state" "$C/tmp" "$RUN/cni/net.d" "$RUN/cni/ipam" "$RUN/kubelet" "$RUN/pod-logs" "$RUN/runc"
  # containerd 2.4 (config version 4): every path under the run dir, no imports from
  # /etc/containerd; NRI (a socket in /var/run/nri) and the snapshotters that need cgo or block
  # devices are off; the CRI streaming server (exec, port-forward) listens on the namespace's
  # 127.0.0.1; pod network namespaces are mounted under the state dir, not /var/run/netns (the
  # shims' sockets, hard-coded under /run/containerd/s, land in the run dir through the mount
  # namespace). restrict_oom_score_adj: a sandbox asks for oom_score_adj -998 and a Guaranteed
  # container for -997, which needs CAP_SYS_RESOURCE; where the bounding set lacks it (this kind
  # of machine) runc's nsexec dies with "failed to update /proc/self/oom_score_adj: Permission
  # denied" ("can't get final child's PID from pipe: EOF"), so they are clamped to containerd's
  # own score instead.
  # The registry in the namespace speaks plain HTTP: containerd is told so per host.
  mkdir -p "$C/certs.d/$NODE_IP:$REGISTRY_PORT"
  printf 'server = "http://%s:%s"\n\n[host."http://%s:%s"]\n  capabilities = ["pull", "resolve", "push"]\n' \
    "$NODE_IP" "$REGISTRY_PORT" "$NODE_IP" "$REGISTRY_PORT" > "$C/certs.d/$NODE_IP:$REGISTRY_PORT/hosts.toml"
  cat > "$C/config.toml" <<TOML
version = 4
root = "$C/root"
state = "$C/state"
temp = "$C/tmp"
imports = []
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.blockfile", "io.containerd.snapshotter.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[plugins."io.containerd.server.v1.grpc"]
  address = "$C/containerd.sock"

[plugins."io.containerd.server.v1.ttrpc"]
  address = "$C/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$C/opt"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "$C/certs.d"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "$PAUSE_IMAGE"

[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "$ND/runc"
        Root = "$RUN/runc"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["$ND/cni"]
    conf_dir = "$RUN/cni/net.d"
    max_conf_num = 1

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
TOML
  # One bridge (created by up-node with the gateway address, so the kubelet has a node IP before
  # the first pod) with host-local IPAM whose state lives in the run dir; no masquerade (nothing
  # leaves the namespace); a pod's only routes are its subnet and the service range via the node. libcni's cache (/var/lib/cni) is the run dir's, through the mount namespace.
  cat > "$RUN/cni/net.d/10-testenv.conflist" <<CNI
{"cniVersion": "1.0.0", "name": "$CNI_NET",
 "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$RUN/cni/ipam", "routes": [{"dst": "$SERVICE_CIDR"}],
            "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
 ]}
CNI
  printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 10\n' \
    "$C/containerd.sock" "$C/containerd.sock" > "$RUN/crictl.yaml"
  # The kubelet: cgroup v1 allowed (1.35+ refuses it otherwise), cgroupfs driver with its own
  # cgroup root, everything on disk under the run dir, no static pods, no host resolv.conf, x509
  # client auth from the cluster CA (the API server presents the admin certificate for logs/exec).
  cat > "$RUN/kubelet.yaml" <<KUBELET
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$CGROOT
cgroupsPerQOS: true
containerRuntimeEndpoint: unix://$C/containerd.sock
imageServiceEndpoint: unix://$C/containerd.sock
staticPodPath: ""
podLogsDir: $RUN/pod-logs
resolvConf: ""
clusterDNS: [$DNS_SERVICE_IP]
clusterDomain: cluster.local
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
podCIDR: $POD_CIDR
failSwapOn: false
oomScoreAdj: 0
protectKernelDefaults: false
serializeImagePulls: false
registerNode: true
maxPods: 50
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $RUN/pki/ca.crt}
authorization: {mode: AlwaysAllow}
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
fileCheckFrequency: 0s
syncFrequency: 10s
nodeStatusUpdateFrequency: 2s
logging: {verbosity: 1}
KUBELET
}

# kube-proxy (iptables mode) and CoreDNS, both processes of the node's namespaces. kube-proxy
# leaves the machine-wide conntrack tunables alone (maxPerCore 0, timeouts 0); the node IP is its
# bind address (no wait for the Node object); local traffic is what comes from the pod CIDR.
# MASQUERADE_ALL is "true" only when the namespace has no net.bridge.bridge-nf-call-iptables
# (see up_node).
write_proxy_dns_config() {
  cat > "$RUN/kube-proxy.yaml" <<PROXY
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $RUN/kubeconfig}
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
mode: iptables
clusterCIDR: $POD_CIDR
detectLocalMode: ClusterCIDR
nodePortAddresses: [primary]
iptables: {masqueradeAll: $MASQUERADE_ALL, syncPeriod: 30s, minSyncPeriod: 0s}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
logging: {verbosity: 1}
PROXY
  # CoreDNS on the node IP only (the kube-dns Service's endpoint); health and ready on the
  # namespace's 127.0.0.1. Names outside cluster.local / in-addr.arpa match no zone: REFUSED.
  cat > "$RUN/Corefile" <<COREFILE
cluster.local:53 in-addr.arpa:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:$DNS_HEALTH_PORT
    ready 127.0.0.1:$DNS_READY_PORT
    kubernetes cluster.local in-addr.arpa {
        kubeconfig $RUN/kubeconfig kube-testenv
        pods insecure
        ttl 5
    }
    cache 5
}
COREFILE
  # kube-system/kube-dns: a selector-less Service at DNS_SERVICE_IP with one EndpointSlice naming
  # the node IP (CoreDNS is a process of the node, not a pod).
  cat > "$RUN/kube-dns-svc.json" <<SVC
{"apiVersion":"v1","kind":"Service","metadata":{"name":"kube-dns","namespace":"kube-system",
  "labels":{"k8s-app":"kube-dns","kubernetes.io/name":"CoreDNS"}},
 "spec":{"clusterIP":"$DNS_SERVICE_IP","ports":[{"name":"dns","port":53,"protocol":"UDP","targetPort":53},
  {"name":"dns-tcp","port":53,"protocol":"TCP","targetPort":53}]}}
SVC
  cat > "$RUN/kube-dns-eps.json" <<EPS
{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"kube-dns-node","namespace":"kube-system",
  "labels":{"kubernetes.io/service-name":"kube-dns","endpointslice.kubernetes.io/managed-by":"kube-testenv"}},
 "addressType":"IPv4","endpoints":[{"addresses":["$NODE_IP"],"conditions":{"ready":true},"nodeName":"$NODE_NAME"}],
 "ports":[{"name":"dns","port":53,"protocol":"UDP"},{"name":"dns-tcp","port":53,"protocol":"TCP"}]}
EPS
}
proxy_ready() { # kube-proxy synced its rules at least once (healthz 200) and the chains exist
  alive kube-proxy || return 99
  "${NSX[@]}" curl -fsS --max-time 2 "http://127.0.0.1:$PROXY_HEALTHZ_PORT/healthz" >/dev/null \
    && "${NSX[@]}" iptables -t nat -S KUBE-SERVICES >/dev/null
}
dns_ready() {
  alive coredns || return 99
  "${NSX[@]}" curl -fsS --max-time 2 "http://127.0.0.1:$DNS_READY_PORT/ready" >/dev/null
}

registry_ready() { "${NSX[@]}" curl -fsS --max-time 2 -o /dev/null "http://$NODE_IP:$REGISTRY_PORT/v2/"; }
containerd_ready() {
  alive containerd || return 99
  "${NSX[@]}" "$NODE_BIN/ctr" --address "$RUN/containerd/containerd.sock" version
}
real_node_ready() {
  alive containerd kubelet kube-apiserver || return 99
  api GET "/api/v1/nodes/$NODE_NAME" | python3 -c 'import json,sys
n=json.load(sys.stdin)
sys.exit(0 if any(c["type"]=="Ready" and c["status"]=="True" for c in n.get("status",{}).get("conditions",[])) else 1)'
}
smoke_pod_ip() { # smoke_pod_ip [NAME]: prints the IP of the Running pod NAME (default smoke)
  alive containerd kubelet || return 99
  api GET "/api/v1/namespaces/testenv-node-smoke/pods/${1:-smoke}" | python3 -c 'import json,sys
p=json.load(sys.stdin); s=p.get("status",{})
ok=s.get("phase")=="Running" and s.get("podIP") and all(c.get("ready") for c in s.get("containerStatuses",[]) or [{}])
print(s.get("podIP","")) if ok else sys.exit(1)'
}
smoke_answers() { # smoke_answers [NAME]
  local ip; ip=$(smoke_pod_ip "${1:-smoke}") || return $?
  [ "$("${NSX[@]}" curl -fsS --max-time 2 "http://$ip:8080/")" = "ok ${1:-smoke}" ]
}
pod_fetch() { # pod_fetch POD URL: what a GET of URL from inside the pod answers (its /fetch relay)
  local ip; ip=$(smoke_pod_ip "$1") || return $?
  "${NSX[@]}" curl -sS --max-time 8 "http://$ip:8080/fetch?url=$2" 2>&1
}
smoke_service_answers() { # the smoke Service's ClusterIP, from the node's namespace (kube-proxy's OUTPUT chain)
  alive kube-proxy || return 99
  local cip
  cip=$(api GET /api/v1/namespaces/testenv-node-smoke/services/smoke | python3 -c 'import json,sys; print(json.load(sys.stdin)["spec"]["clusterIP"])') || return 1
  [ "$("${NSX[@]}" curl -fsS --max-time 2 "http://$cip/")" = "ok smoke" ]
}
SMOKE_FQDN=smoke.testenv-node-smoke.svc.cluster.local
smoke_dns_answers() { # from the peer pod: cluster DNS, then the Service to the smoke pod on the same bridge
  alive kube-proxy coredns || return 99
  [ "$(pod_fetch peer "http://$SMOKE_FQDN/")" = "ok smoke" ]
}
smoke_hairpin_answers() { # from the smoke pod: a search-path name, then the Service back to the pod itself
  alive kube-proxy coredns || return 99
  [ "$(pod_fetch smoke "http://smoke.testenv-node-smoke/")" = "ok smoke" ]
}
smoke_reaches_api() { # the pod's in-cluster GET /version, relayed by the smoke server
  local ip; ip=$(smoke_pod_ip) || return $?
  "${NSX[@]}" curl -fsS --max-time 5 "http://$ip:8080/kubernetes" | grep -q "\"gitVersion\": *\"$K8S_VERSION\""
}

up_node() {
  build_node >&2
  RUN=$(mktemp -d "${TMPDIR:-/tmp}/kube-testenv-node.XXXXXX"); chmod 711 "$RUN"
  local id; id=$(basename "$RUN"); id=${id##*.}
  NS="kube-testenv-$id"; CGROOT="kube-testenv-$id"; CNI_NET="kube-testenv"
  trap 'rc=$?; if [ $rc -ne 0 ]; then dump_logs; down_node "$RUN" keep; log "up-node failed; logs kept in $RUN"; fi' EXIT
  echo "$NS" > "$RUN/netns"; echo "$CGROOT" > "$RUN/cgroup-root"
  echo "$NODE_BIN" > "$RUN/node-bin-dir"
  local k; for k in $KUBELET_SYSCTLS; do echo "$k $(cat "/proc/sys/$k")"; done > "$RUN/sysctls"
  # The watchdog stays outside the namespaces: inside, it would keep the mount namespace alive.
  [ -z "${TESTENV_OWNER_PID:-}" ] || start watchdog bash "$SELF" watchdog-node "$RUN" "$TESTENV_OWNER_PID"

  # The namespace: lo and the bridge the CNI plugin will attach pods to, nothing else.
  ip netns add "$NS"
  make_mount_ns
  NSX=(nsenter "--net=/run/netns/$NS" "--mount=$RUN/ns/mnt")
  ip -n "$NS" link set lo up
  ip -n "$NS" link add cni0 type bridge
  ip -n "$NS" addr add "$NODE_IP/${POD_CIDR#*/}" dev cni0
  ip -n "$NS" link set cni0 up
  # Services: kube-proxy's iptables rules, in this namespace only. The service range is routed to
  # the bridge so that a connect() from the namespace itself gets as far as the nat OUTPUT chain
  # (there is no default route); pods route it to the node (their gateway). Bridged pod-to-pod
  # frames must pass iptables (net.bridge.bridge-nf-call-iptables, per network namespace since
  # Linux 5.3) or a reply from a Service's pod on the same bridge would bypass conntrack's un-DNAT;
  # where the namespace lacks it, kube-proxy masquerades all Service traffic instead.
  ip -n "$NS" route add "$SERVICE_CIDR" dev cni0 src "$NODE_IP"
  ip netns exec "$NS" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
  if ip netns exec "$NS" sh -c 'echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables' 2>/dev/null; then
    MASQUERADE_ALL=false
  else
    MASQUERADE_ALL=true; log "no net.bridge.bridge-nf-call-iptables in $NS: kube-proxy masquerades all Service traffic"
  fi
  make_cgroup_root
  KUBELET_PORT=10250 KUBELET_HEALTHZ_PORT=10248 PROXY_HEALTHZ_PORT=10256 PROXY_METRICS_PORT=10249
  DNS_HEALTH_PORT=10254 DNS_READY_PORT=10255
  write_node_config
  write_proxy_dns_config
  log "run dir $RUN, network namespace $NS, mount namespace $RUN/ns/mnt, cgroup root /$CGROOT"

  # containerd first (it needs no API server), then the control plane while it starts.
  start containerd env PATH="$NODE_BIN:$PATH" "$NODE_BIN/containerd" --config "$RUN/containerd/config.toml" --log-level warn
  APISERVER_EXTRA=(--kubelet-client-certificate="$RUN/pki/admin.crt" --kubelet-client-key="$RUN/pki/admin.key"
                  --bind-address=0.0.0.0 --advertise-address="$NODE_IP" --endpoint-reconciler-type=lease)
  API_PORT_FIXED=443 DISABLED_ADMISSION=TaintNodesByCondition KWOK_TAINTED=1
  control_plane_up
  wait_for 30 "containerd ready" containerd_ready
  cat > "$RUN/registry.yml" <<REG
version: 0.1
log: { level: warn }
storage: { filesystem: { rootdirectory: $RUN/registry }, delete: { enabled: true } }
http: { addr: "$NODE_IP:$REGISTRY_PORT" }
REG
  start registry "$NODE_BIN/registry" serve "$RUN/registry.yml"
  echo "$NODE_IP:$REGISTRY_PORT" > "$RUN/registry-address"
  wait_for 30 "registry at $NODE_IP:$REGISTRY_PORT" registry_ready
  local img
  for img in pause smoke; do
    "${NSX[@]}" "$NODE_BIN/ctr" --address "$RUN/containerd/containerd.sock" -n k8s.io images import \
      --platform linux/amd64 "$NODE_BIN/images/$img.tar" >&2
  done
  log "images imported into containerd's k8s.io namespace"
  # The smoke image also goes to the registry; the peer pod pulls it from there (a pull through
  # the CRI proves the registry and containerd's hosts.toml). It is tagged and pushed from a
  # containerd namespace of its own: a second name for an image in `k8s.io` can make the CRI's
  # image store lose the first (seen once in three runs: the smoke pod's `Never` image "not
  # present").
  local ctr=("${NSX[@]}" "$NODE_BIN/ctr" --address "$RUN/containerd/containerd.sock" -n kube-testenv)
  "${ctr[@]}" images import --platform linux/amd64 "$NODE_BIN/images/smoke.tar" >&2
  "${ctr[@]}" images tag --force "$SMOKE_IMAGE" "$NODE_IP:$REGISTRY_PORT/$SMOKE_REPO" >&2
  "${ctr[@]}" images push --plain-http "$NODE_IP:$REGISTRY_PORT/$SMOKE_REPO" >/dev/null
  log "smoke image pushed to the registry as $NODE_IP:$REGISTRY_PORT/$SMOKE_REPO"
  start kubelet env PATH="$NODE_BIN:$PATH" "$NODE_BIN/kubelet" --config="$RUN/kubelet.yaml" \
    --kubeconfig="$RUN/kubeconfig" --root-dir="$RUN/kubelet" --cert-dir="$RUN/kubelet/pki" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
  start kube-proxy "$NODE_BIN/kube-proxy" --config="$RUN/kube-proxy.yaml"
  start coredns "$NODE_BIN/coredns" -conf "$RUN/Corefile"
  api POST /api/v1/namespaces/kube-system/services "$RUN/kube-dns-svc.json" >/dev/null
  api POST /apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices "$RUN/kube-dns-eps.json" >/dev/null
  wait_for 120 "node $NODE_NAME Ready" real_node_ready

  printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"testenv-node-smoke"}}' > "$RUN/node-ns.json"
  # Two pods of the smoke image: smoke (behind the Service, imported) and peer (a client on the same
  # bridge, pulled from the registry).
  local pod
  for pod in smoke peer; do
    local image=$SMOKE_IMAGE policy=Never
    [ "$pod" = smoke ] || { image=$NODE_IP:$REGISTRY_PORT/$SMOKE_REPO; policy=Always; }
    cat > "$RUN/node-$pod.json" <<SMOKE
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$pod","namespace":"testenv-node-smoke","labels":{"app":"$pod"}},
 "spec":{"nodeSelector":{"kubernetes.io/hostname":"$NODE_NAME"},
  "terminationGracePeriodSeconds":0,
  "containers":[{"name":"smoke","image":"$image","imagePullPolicy":"$policy",
   "ports":[{"containerPort":8080}],
   "readinessProbe":{"httpGet":{"path":"/","port":8080},"periodSeconds":1}}]}}
SMOKE
  done
  cat > "$RUN/node-smoke-svc.json" <<SVC
{"apiVersion":"v1","kind":"Service","metadata":{"name":"smoke","namespace":"testenv-node-smoke"},
 "spec":{"selector":{"app":"smoke"},"ports":[{"name":"http","port":80,"targetPort":8080}]}}
SVC
  api POST /api/v1/namespaces "$RUN/node-ns.json" >/dev/null
  api POST /api/v1/namespaces/testenv-node-smoke/services "$RUN/node-smoke-svc.json" >/dev/null
  wait_for 30 "service account testenv-node-smoke/default" api GET /api/v1/namespaces/testenv-node-smoke/serviceaccounts/default
  api POST /api/v1/namespaces/testenv-node-smoke/pods "$RUN/node-smoke.json" >/dev/null
  wait_for 120 "smoke pod Running on $NODE_NAME and answering HTTP from the namespace" smoke_answers
  # The peer pulls the same content under its registry name only once the smoke pod's
  # container runs: a pull of it while the kubelet looks up the imported name can make the
  # CRI's image store lose that name (seen in CI: the smoke pod's `Never` image "not
  # present" for two minutes).
  api POST /api/v1/namespaces/testenv-node-smoke/pods "$RUN/node-peer.json" >/dev/null
  local ip; ip=$(smoke_pod_ip)
  log "smoke pod at $ip: $("${NSX[@]}" curl -fsS --max-time 2 "http://$ip:8080/")"
  wait_for 30 "smoke pod reached the API server with its service account token" smoke_reaches_api
  wait_for 30 "kube-proxy synced" proxy_ready
  wait_for 30 "CoreDNS ready" dns_ready
  wait_for 30 "smoke Service answers on its ClusterIP from the node's namespace" smoke_service_answers \
    || { log "iptables nat KUBE-SERVICES in $NS: $("${NSX[@]}" iptables -t nat -S KUBE-SERVICES 2>&1)"; return 1; }
  wait_for 60 "peer pod Running on $NODE_NAME" smoke_answers peer
  wait_for 30 "peer pod reached $SMOKE_FQDN (cluster DNS, then the Service to a pod on the same bridge)" smoke_dns_answers \
    || { log "the peer pod's last answer: $(pod_fetch peer "http://$SMOKE_FQDN/")"; return 1; }
  wait_for 30 "smoke pod reached itself as smoke.testenv-node-smoke (DNS search path, Service hairpin)" smoke_hairpin_answers \
    || { log "the smoke pod's last answer: $(pod_fetch smoke "http://smoke.testenv-node-smoke/")"; return 1; }
  api DELETE /api/v1/namespaces/testenv-node-smoke >/dev/null

  trap - EXIT
  log "up-node: KUBECONFIG=$RUN/kubeconfig (apiserver https://127.0.0.1:${API_PORT} in network namespace $NS; run clients with: $0 exec $RUN CMD...)"
  echo "$RUN"
}

# down_node RUN_DIR [keep]: processes by recorded PID, then the shims (their command line names the
# run dir) and the pods' processes (the cgroups under the kubelet's cgroup root), the mounts under
# the run dir (deepest first; $RUN/ns/mnt among them, which ends the mount namespace and every
# mount inside it), the cgroups, the network namespace, the mount points up-node created, the
# kernel tunables (only if something changed them), and the run dir.
down_node() {
  local run=$1 keep=${2:-} ns="" cg="" pid pids=() h
  [ -f "$run/netns" ] && ns=$(cat "$run/netns")
  [ -f "$run/cgroup-root" ] && cg=$(cat "$run/cgroup-root")
  stop_run "$run" keep
  for pid in $(pgrep -f -- "-address $run/containerd/containerd.sock" || true); do
    kill -KILL "$pid" 2>/dev/null && pids+=("$pid")
  done
  if [ -n "$cg" ]; then
    local tries=50
    while :; do
      local left
      left=$(for h in $(cgroup_hierarchies); do [ -d "$h/$cg" ] && find "$h/$cg" -name cgroup.procs -exec cat {} + 2>/dev/null; done | sort -u)
      [ -n "$left" ] && [ $((tries -= 1)) -gt 0 ] || break
      for pid in $left; do kill -KILL "$pid" 2>/dev/null && pids+=("$pid"); done
      sleep 0.1
    done
  fi
  local tries=100
  while any_exists "${pids[@]}" && [ $((tries -= 1)) -gt 0 ]; do sleep 0.05; done
  local m
  for m in $(awk -v r="$run/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done
  if [ -n "$cg" ]; then
    for h in $(cgroup_hierarchies); do
      [ -d "$h/$cg" ] && find "$h/$cg" -depth -type d -exec rmdir {} + 2>/dev/null
      [ ! -d "$h/$cg" ] || log "cgroup $h/$cg not removed"
    done
  fi
  [ -z "$ns" ] || ! [ -e "/run/netns/$ns" ] || ip netns del "$ns"
  # The mount points runs created, once no node runs any more (a running one mounts on them).
  if [ -f "$CREATED_DIRS" ] && ! ls /run/netns 2>/dev/null | grep -q '^kube-testenv-'; then
    sort -u "$CREATED_DIRS" | while read -r d; do [ ! -d "$d" ] || rmdir "$d" 2>/dev/null || log "left $d (not empty)"; done
    rm -f "$CREATED_DIRS"
  fi
  if [ -f "$run/sysctls" ]; then
    local k v
    while read -r k v; do [ "$(cat "/proc/sys/$k")" = "$v" ] || echo "$v" > "/proc/sys/$k"; done < "$run/sysctls"
  fi
  [ -n "$keep" ] || rm -rf "$run"
}

node_exec() { # node_exec RUN_DIR CMD... : CMD in the run's network and mount namespaces
  local run=$1; shift
  [ -f "$run/netns" ] || { echo "exec: $run has no netns file (not an up-node run dir)" >&2; exit 2; }
  local mnt=(); [ ! -f "$run/ns/mnt" ] || mnt=("--mount=$run/ns/mnt")
  exec nsenter "--net=/run/netns/$(cat "$run/netns")" "${mnt[@]}" "$@"
}

case "${1:-}" in
  build)    build ;;
  build-node) build_node ;;
  oci-image) shift; [ $# -ge 5 ] || { echo "usage: $0 oci-image OUT.tar REF BINARY PATH USER [PORT/PROTO]" >&2; exit 2; }
            oci_image "$@" ;;
  up)       up ;;
  down)     [ -n "${2:-}" ] && [ -d "$2" ] || { echo "down: no run dir '${2:-}'" >&2; exit 2; }
            stop_run "$2" ;;
  bin-dir)  resolve_bin; has_binaries "$BIN" || { log "binaries missing in $BIN; run: $0 build"; exit 1; }
            echo "$BIN" ;;
  watchdog) watchdog "$2" "$3" ;;
  up-node)  up_node ;;
  down-node) [ -n "${2:-}" ] && [ -d "$2" ] || { echo "down-node: no run dir '${2:-}'" >&2; exit 2; }
            down_node "$(readlink -f "$2")" ;;
  exec)     [ $# -ge 3 ] || { echo "usage: $0 exec RUN_DIR CMD..." >&2; exit 2; }
            node_exec "$2" "${@:3}" ;;
  watchdog-node) while kill -0 "$3" 2>/dev/null && [ -d "$2" ]; do sleep 1; done
            [ ! -d "$2" ] || down_node "$2" ;;
  *)        echo "usage: $0 build | up | down RUN_DIR | bin-dir | build-node | up-node | down-node RUN_DIR | exec RUN_DIR CMD... | oci-image OUT.tar REF BINARY PATH USER [PORT/PROTO]" >&2; exit 2 ;;
esac
