#!/usr/bin/env bash
# kube-testenv.sh — build (cached) and run a loopback-only Kubernetes control plane for tests:
# etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok (fake node).
# usage: kube-testenv.sh build | up | down RUN_DIR
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}
STAGING_VERSION=${STAGING_VERSION:-v0.${K8S_VERSION#v1.}}      # v1.36.3 -> v0.36.3
ETCD_VERSION=${ETCD_VERSION:-v3.6.14}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
TESTENV_CACHE=${TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kube-testenv}
KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_r1"
BIN="$TESTENV_CACHE/$KEY/bin"
SRC="$TESTENV_CACHE/$KEY/src"
STAGES="$TESTENV_CACHE/$KEY/kwok-stages"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0

log() { echo "kube-testenv: $*" >&2; }

have_all() {
  local b
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
    [ -x "$BIN/$b" ] || return 1
  done
  [ -s "$STAGES/stages.yaml" ] || return 1
  "$BIN/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes ${K8S_VERSION}"
}

build_k8s() {
  mkdir -p "$SRC/k8s" && cd "$SRC/k8s"
  printf 'module kube-testenv/k8s\n\ngo 1.26.0\n\ngodebug default=go1.26\n' > go.mod
  rm -f go.sum
  local kmod staging m t
  kmod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" \
           | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  staging=$(sed -n 's#^[[:space:]]*\(replace[[:space:]]\+\)\?\(k8s\.io/[A-Za-z0-9._-]*\)[[:space:]]*=>[[:space:]]*\./staging/src/.*#\2#p' "$kmod" | sort -u)
  [ -n "$staging" ] || { log "no staging replaces found in $kmod"; return 1; }
  log "staging modules: $(echo "$staging" | wc -l)"
  {
    printf '\nrequire k8s.io/kubernetes %s\n\ntool (\n' "$K8S_VERSION"
    for t in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
      printf '\tk8s.io/kubernetes/cmd/%s\n' "$t"
    done
    printf ')\n\nreplace (\n'
    for m in $staging; do printf '\t%s => %s %s\n' "$m" "$m" "$STAGING_VERSION"; done
    printf ')\n'
  } >> go.mod
  go mod tidy
  local v=${K8S_VERSION#v} ldf="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=${v%%.*} -X $p.gitMinor=$(echo "$v" | cut -d. -f2)"
    ldf="$ldf -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  go build -p 2 -trimpath -tags=selinux,notest -ldflags "$ldf" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
}

build_etcd() {
  mkdir -p "$SRC/etcd" && cd "$SRC/etcd"
  printf 'module kube-testenv/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n\ntool go.etcd.io/etcd/server/v3\n' \
    "$ETCD_VERSION" > go.mod
  rm -f go.sum
  go mod tidy
  go build -p 2 -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_VERSION}" \
    -o "$BIN/etcd" go.etcd.io/etcd/server/v3
}

build_kwok() {
  GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"
  local dir f
  dir=$(cd "$SRC/k8s" && go mod download -json "sigs.k8s.io/kwok@${KWOK_VERSION}" \
          | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$STAGES"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    printf -- '---\n'; cat "$dir/kustomize/stage/$f"; printf '\n'
  done > "$STAGES/stages.yaml"
}

build() {
  if have_all; then log "cached binaries in $BIN"; return 0; fi
  mkdir -p "$BIN" "$SRC"
  log "building into $BIN (cold build: tens of minutes on 2 cores)"
  ( build_k8s )      # separate statements, not `a && b`: inside an && list `set -e` is suspended
  ( build_etcd )
  ( build_kwok )
  have_all || { log "build finished but binaries are incomplete"; return 1; }
  "$BIN/kube-apiserver" --version >&2; "$BIN/etcd" --version | head -1 >&2
}

# ---------------------------------------------------------------- runtime helpers
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
start() { local name=$1; shift; nohup "$@" > "$RUN/$name.log" 2>&1 & echo $! > "$RUN/$name.pid"; }
wait_for() {
  local deadline=$(( $(date +%s) + $1 )) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "timeout waiting for $what"; [ -f "$RUN/$what.log" ] && tail -n 40 "$RUN/$what.log" >&2
      return 1
    fi
    sleep 0.5
  done
}
api() { # api METHOD PATH [JSON-FILE]
  local args=(-fsS --max-time 10 --cacert "$RUN/pki/ca.crt" --cert "$RUN/pki/admin.crt" --key "$RUN/pki/admin.key" -X "$1")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data "@$3")
  curl "${args[@]}" "https://127.0.0.1:${API_PORT}$2"
}
etcd_ready() { curl -fsS --max-time 2 "http://127.0.0.1:${ETCD_PORT}/health" | grep -Eq '"health": *"true"'; }
api_ready()  { [ "$(api GET /readyz)" = ok ]; }
https_ok()   { [ "$(curl -fsSk --max-time 2 "https://127.0.0.1:$1/healthz")" = ok ]; }
kwok_ready() { curl -fsS --max-time 2 "http://127.0.0.1:${KWOK_PORT}/healthz" >/dev/null; }
node_ready() {
  api GET /api/v1/nodes/kwok-node-0 | python3 -c 'import json,sys
n=json.load(sys.stdin)
sys.exit(0 if any(c["type"]=="Ready" and c["status"]=="True" for c in n.get("status",{}).get("conditions",[])) else 1)'
}
smoke_ready() {
  api GET /apis/apps/v1/namespaces/testenv-smoke/deployments/smoke \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d.get("status",{}).get("availableReplicas",0)==2 else 1)'
}

make_pki() {
  local PKI="$RUN/pki"; mkdir -p "$PKI"; cd "$PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -sha256 \
    -subj "/CN=kube-testenv-ca" 2>/dev/null
  sign() {
    openssl req -new -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    printf '%s\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
      -days 3650 -sha256 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  }
  sign apiserver "/CN=kube-apiserver" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1"
  sign admin "/O=system:masters/CN=kube-testenv-admin" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
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
  enablePodsOnNodeSyncStreamWatch: false
  enableDebuggingHandlers: false
  enableProfilingHandler: false
KWOKCFG
    cat "$STAGES/stages.yaml"
  } > "$RUN/kwok.yaml"
}

stop_run() { # stop_run RUN_DIR [keep]
  local run=$1 keep=${2:-} name pid
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    [ -f "$run/$name.pid" ] || continue
    pid=$(cat "$run/$name.pid")
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  [ -n "$keep" ] || rm -rf "$run"
}

up() {
  have_all || { log "binaries missing; run: $0 build"; return 1; }
  RUN=$(mktemp -d "${TMPDIR:-/tmp}/kube-testenv.XXXXXX"); chmod 700 "$RUN"
  trap 'rc=$?; if [ $rc -ne 0 ]; then log "up failed; logs kept in $RUN"; stop_run "$RUN" keep; fi' EXIT
  ETCD_PORT=$(free_port); ETCD_PEER_PORT=$(free_port); API_PORT=$(free_port)
  KCM_PORT=$(free_port); SCHED_PORT=$(free_port); KWOK_PORT=$(free_port)
  make_pki; write_kubeconfig; write_kwok_config
  local P="$RUN/pki"

  mkdir -p -m 700 "$RUN/etcd"
  start etcd "$BIN/etcd" --name=kube-testenv --data-dir="$RUN/etcd" \
    --listen-client-urls="http://127.0.0.1:${ETCD_PORT}" --advertise-client-urls="http://127.0.0.1:${ETCD_PORT}" \
    --listen-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" --initial-advertise-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-cluster="kube-testenv=http://127.0.0.1:${ETCD_PEER_PORT}" --initial-cluster-state=new \
    --unsafe-no-fsync=true --log-level=warn
  wait_for 30 etcd etcd_ready

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
    --disable-admission-plugins=ServiceAccount,TaintNodesByCondition \
    --allow-privileged=true --kubelet-preferred-address-types=InternalIP \
    --profiling=false --v=1
  wait_for 120 kube-apiserver api_ready
  local ns
  for ns in default kube-system kube-public kube-node-lease; do
    wait_for 30 "namespace $ns" api GET "/api/v1/namespaces/$ns"
  done

  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$RUN/kubeconfig" --bind-address=127.0.0.1 --secure-port="${KCM_PORT}" \
    --leader-elect=false --use-service-account-credentials=false \
    --controllers="${KCM_CONTROLLERS:-deployment-controller,replicaset-controller,garbage-collector-controller,namespace-controller,serviceaccount-controller,endpoints-controller,endpointslice-controller,pod-garbage-collector-controller,job-controller,cronjob-controller,statefulset-controller,daemonset-controller,ttl-after-finished-controller,disruption-controller,root-ca-certificate-publisher-controller}" \
    --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" --v=1
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig="$RUN/kubeconfig" --bind-address=127.0.0.1 --secure-port="${SCHED_PORT}" \
    --leader-elect=false --v=1
  start kwok "$BIN/kwok" \
    --kubeconfig="$RUN/kubeconfig" --config="$RUN/kwok.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip=127.0.0.1 --node-port="${KWOK_PORT}" --server-address="127.0.0.1:${KWOK_PORT}" \
    --node-lease-duration-seconds=40 --cidr=10.244.0.0/16
  wait_for 60 kube-controller-manager https_ok "$KCM_PORT"
  wait_for 60 kube-scheduler https_ok "$SCHED_PORT"
  wait_for 60 kwok kwok_ready

  cat > "$RUN/node.json" <<'NODEJSON'
{"apiVersion":"v1","kind":"Node",
 "metadata":{"name":"kwok-node-0",
  "annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
  "labels":{"type":"kwok","kubernetes.io/hostname":"kwok-node-0","kubernetes.io/os":"linux",
            "kubernetes.io/arch":"amd64","node-role.kubernetes.io/agent":""}},
 "spec":{},
 "status":{"allocatable":{"cpu":"32","memory":"256Gi","pods":"110"},
           "capacity":{"cpu":"32","memory":"256Gi","pods":"110"},
           "nodeInfo":{"architecture":"amd64","operatingSystem":"linux","kubeletVersion":"fake"}}}
NODEJSON
  api POST /api/v1/nodes "$RUN/node.json" >/dev/null
  wait_for 60 "kwok node Ready" node_ready

  printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"testenv-smoke"}}' > "$RUN/ns.json"
  cat > "$RUN/smoke.json" <<'SMOKE'
{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"smoke","namespace":"testenv-smoke"},
 "spec":{"replicas":2,"selector":{"matchLabels":{"app":"smoke"}},
  "template":{"metadata":{"labels":{"app":"smoke"}},
   "spec":{"containers":[{"name":"c","image":"registry.invalid/none:0"}]}}}}
SMOKE
  api POST /api/v1/namespaces "$RUN/ns.json" >/dev/null
  api POST /apis/apps/v1/namespaces/testenv-smoke/deployments "$RUN/smoke.json" >/dev/null
  wait_for 90 "smoke deployment (2 pods Running/Ready via kwok)" smoke_ready
  api DELETE /api/v1/namespaces/testenv-smoke >/dev/null

  trap - EXIT
  log "up: KUBECONFIG=$RUN/kubeconfig (apiserver https://127.0.0.1:${API_PORT})"
  echo "$RUN"
}

case "${1:-}" in
  build) build ;;
  up)    up ;;
  down)  [ -n "${2:-}" ] && [ -d "$2" ] && stop_run "$2" ;;
  *)     echo "usage: $0 build | up | down RUN_DIR" >&2; exit 2 ;;
esac
