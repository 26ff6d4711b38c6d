#!/usr/bin/env bash
# kube-testenv.sh — a loopback-only Kubernetes control plane for tests: etcd + kube-apiserver +
# kube-controller-manager + kube-scheduler + kwok (one fake node whose pods turn Running/Ready).
# Versions: Kubernetes v1.36.3 (matches k8s-openapi's v1_36), etcd v3.6.14, kwok v0.8.0.
#
# usage: kube-testenv.sh build | up | down RUN_DIR | bin-dir
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
  go build -p 2 -trimpath -tags=selinux,notest -ldflags "$ldf" -o "$CACHE_BIN/" \
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

# ---------------------------------------------------------------- runtime helpers
start() { # start NAME CMD... : detached from our stdio; log and pid in the run dir
  local name=$1; shift
  nohup "$@" < /dev/null > "$RUN/$name.log" 2>&1 &
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
  curl "${args[@]}" "https://127.0.0.1:${API_PORT}$2"
}
https_ok() { [ "$(curl -fsSk --max-time 2 "https://127.0.0.1:$1/healthz")" = ok ]; }
etcd_ready() {
  alive etcd || return 99
  curl -fsS --max-time 2 "http://127.0.0.1:${ETCD_PORT}/health" | grep -Eq '"health": *"true"'
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
    && curl -fsS --max-time 2 "http://127.0.0.1:${KWOK_PORT}/healthz" >/dev/null
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
  local ports
  ports=$(python3 -c 'import socket
ss=[socket.socket() for _ in range(6)]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
  read -r ETCD_PORT ETCD_PEER_PORT API_PORT KCM_PORT SCHED_PORT KWOK_PORT <<< "$ports"
  echo "$BIN" > "$RUN/bin-dir"
  [ -z "${TESTENV_OWNER_PID:-}" ] || start watchdog bash "$SELF" watchdog "$RUN" "$TESTENV_OWNER_PID"
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
    --disable-admission-plugins=ServiceAccount,TaintNodesByCondition \
    --allow-privileged=true --kubelet-preferred-address-types=InternalIP \
    --profiling=false --v=1
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
 "spec":{},
 "status":{"allocatable":{"cpu":"32","memory":"256Gi","pods":"110"},
           "capacity":{"cpu":"32","memory":"256Gi","pods":"110"},
           "nodeInfo":{"architecture":"amd64","operatingSystem":"linux","kubeletVersion":"fake"}}}
NODEJSON
  printf '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"testenv-smoke"}}' > "$RUN/ns.json"
  cat > "$RUN/smoke.json" <<'SMOKE'
{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"smoke","namespace":"testenv-smoke"},
 "spec":{"replicas":2,"selector":{"matchLabels":{"app":"smoke"}},
  "template":{"metadata":{"labels":{"app":"smoke"}},
   "spec":{"containers":[{"name":"c","image":"registry.invalid/none:0"}]}}}}
SMOKE
  api POST /api/v1/nodes "$RUN/node.json" >/dev/null
  api POST /api/v1/namespaces "$RUN/ns.json" >/dev/null
  api POST /apis/apps/v1/namespaces/testenv-smoke/deployments "$RUN/smoke.json" >/dev/null

  wait_for 60 "kube-controller-manager, kube-scheduler and kwok healthy" controllers_ready
  wait_for 60 "kwok node Ready" node_ready
  wait_for 90 "smoke Deployment has 2 available pods" smoke_ready
  api DELETE /api/v1/namespaces/testenv-smoke >/dev/null

  trap - EXIT
  log "up: KUBECONFIG=$RUN/kubeconfig (apiserver https://127.0.0.1:${API_PORT})"
  echo "$RUN"
}

case "${1:-}" in
  build)    build ;;
  up)       up ;;
  down)     [ -n "${2:-}" ] && [ -d "$2" ] || { echo "down: no run dir '${2:-}'" >&2; exit 2; }
            stop_run "$2" ;;
  bin-dir)  resolve_bin; has_binaries "$BIN" || { log "binaries missing in $BIN; run: $0 build"; exit 1; }
            echo "$BIN" ;;
  watchdog) watchdog "$2" "$3" ;;
  *)        echo "usage: $0 build | up | down RUN_DIR | bin-dir" >&2; exit 2 ;;
esac
