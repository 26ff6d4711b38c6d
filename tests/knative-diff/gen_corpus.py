#!/usr/bin/env python3
"""Writes the differential test's corpus, tests/knative-diff/corpus/*.jsonl.

Each case is small and, apart from the valid ones, single-fault: a valid base
manifest with one change. The YAML is written by hand as text, in block style
as users write it, so YAML 1.1 spellings (yes/no/on/off, 010, 0x1F, ~, ...)
really reach the decoder. The output is deterministic: one file per area, the
cases of a file sorted by id, each line a JSON object with sorted keys.

Case format and verdicts: ../README.md (this folder's). Standard library only:

    python3 tests/knative-diff/gen_corpus.py
"""

import json
import os
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")

IMAGE = "ghcr.io/knserve/hello:1.0"

# ---------------------------------------------------------------- helpers


def ind(text, n):
    """Dedents text and indents every non-empty line by n spaces."""
    text = textwrap.dedent(text).strip("\n")
    if not text:
        return ""
    pad = " " * n
    return "\n".join(pad + l if l.strip() else l for l in text.split("\n")) + "\n"


def container_block(container="", image=IMAGE, name=None, ports=True):
    """One container as a list item at indent 6 (under `containers:`)."""
    out = "      - image: %s\n" % image if image is not None else "      -\n"
    if image is None:
        out = ""
    lines = ""
    if name is not None:
        lines += "name: %s\n" % name
    if ports:
        lines += "ports:\n- containerPort: 8080\n"
    lines += textwrap.dedent(container).strip("\n") + ("\n" if container.strip() else "")
    body = ind(lines, 8)
    if image is None:
        # the first key of the item carries the dash
        first, _, rest = body.partition("\n")
        return "      - " + first.strip() + "\n" + rest
    return out + body


def template(pod="", container="", tmeta="", image=IMAGE, cname=None, ports=True,
             containers=None):
    """A revision template at indent 4 (under `template:`)."""
    out = ""
    if tmeta.strip():
        out += "    metadata:\n" + ind(tmeta, 6)
    out += "    spec:\n"
    out += ind(pod, 6)
    out += "      containers:\n"
    if containers is not None:
        out += containers
    else:
        out += container_block(container, image=image, name=cname, ports=ports)
    return out


def service(pod="", container="", tmeta="", meta="", spec="", name="hello",
            image=IMAGE, cname=None, ports=True, containers=None, kind="Service",
            api="serving.knative.dev/v1", top=""):
    out = "apiVersion: %s\nkind: %s\nmetadata:\n" % (api, kind)
    if name is not None:
        out += "  name: %s\n" % name
    out += ind(meta, 2)
    out += ind(top, 0)
    out += "spec:\n"
    out += ind(spec, 2)
    out += "  template:\n"
    out += template(pod, container, tmeta, image, cname, ports, containers)
    return out


def configuration(**kw):
    return service(kind="Configuration", **kw)


def revision(pod="", container="", meta="", spec_extra="", name="hello-00001",
             image=IMAGE, ports=True, containers=None):
    """A standalone Revision: the pod spec sits directly under spec."""
    out = "apiVersion: serving.knative.dev/v1\nkind: Revision\nmetadata:\n"
    if name is not None:
        out += "  name: %s\n" % name
    out += ind(meta, 2)
    out += "spec:\n"
    out += ind(spec_extra, 2)
    out += ind(pod, 2)
    out += "  containers:\n"
    if containers is not None:
        out += ind(containers, 2)
    else:
        # the Service's container item, moved from indent 6 to indent 2
        block = container_block(container, image=image, ports=ports)
        out += "".join(l[4:] + "\n" for l in block.rstrip("\n").split("\n"))
    return out


def route(spec, meta="", name="hello"):
    out = "apiVersion: serving.knative.dev/v1\nkind: Route\nmetadata:\n"
    if name is not None:
        out += "  name: %s\n" % name
    out += ind(meta, 2)
    out += "spec:\n" + ind(spec, 2)
    return out


CASES = {}


def add(area, cid, yaml=None, config=None, op=None, old=None, check="resource",
        name=None, data=None, annotations=None):
    cid = area + "/" + cid
    if any(ch.isspace() for ch in cid):
        sys.exit("case id with white space: %r" % cid)
    files = CASES.setdefault(area, {})
    if cid in files:
        sys.exit("duplicate case id " + cid)
    c = {"id": cid, "check": check}
    if check == "resource":
        c["yaml"] = yaml
        if op:
            c["op"] = op
        if old is not None:
            c["old_yaml"] = old
    elif check == "configmap":
        c["name"] = name
        c["data"] = data
    elif check == "annotations":
        c["annotations"] = annotations
    if config:
        c["config"] = config
    files[cid] = c


def feat(**flags):
    return {"config-features": {k.replace("_", "-"): v for k, v in flags.items()}}


def featk(key, value):
    return {"config-features": {key: value}}


# ---------------------------------------------------------------- decode


def gen_decode():
    A = "decode"
    add(A, "base/service", service())
    add(A, "base/configuration", configuration())
    add(A, "base/revision", revision())
    add(A, "base/route", route("traffic:\n- configurationName: hello\n  percent: 100\n"))
    # unknown and misspelt fields at every level
    add(A, "unknown/top", service(top="specs: {}\n"))
    add(A, "unknown/metadata", service(meta="lables:\n  a: b\n"))
    add(A, "unknown/spec", service(spec="foo: bar\n"))
    add(A, "unknown/template", service(spec="").replace("  template:\n", "  template:\n    specs: {}\n"))
    add(A, "unknown/template-metadata", service(tmeta="annotation:\n  a: b\n"))
    add(A, "unknown/containerconcurrency", service(pod="containerconcurrency: 10\n"))
    add(A, "unknown/containerConcurrency-ok", service(pod="containerConcurrency: 10\n"))
    add(A, "unknown/ContainerConcurrency-case", service(pod="ContainerConcurrency: 10\n"))
    add(A, "unknown/traffic-weight", service(spec="traffic:\n- latestRevision: true\n  weight: 100\n"))
    add(A, "unknown/container-typo", service(container="imagePullPolicyy: Always\n"))
    add(A, "unknown/container-Image-case", service(container="Image: foo\n"))
    add(A, "unknown/probe-typo", service(container="readinessProbe:\n  periodSecond: 3\n"))
    add(A, "unknown/probe-httpget-typo", service(container="readinessProbe:\n  httpGet:\n    paht: /\n"))
    add(A, "unknown/port-typo", service(ports=False, container="ports:\n- containerport: 8080\n"))
    add(A, "unknown/env-typo", service(container="env:\n- name: A\n  vaule: b\n"))
    add(A, "unknown/resources-typo", service(container="resources:\n  limit:\n    cpu: 1\n"))
    add(A, "unknown/status-ok", service(top="status:\n  observedGeneration: 1\n"))
    add(A, "unknown/status-typo", service(top="status:\n  foo: 1\n"))
    add(A, "unknown/route-traffic-typo", route("traffic:\n- configurationName: hello\n  percentage: 100\n"))
    add(A, "unknown/revision-typo", revision(spec_extra="timeoutSecond: 10\n"))
    # duplicate keys
    add(A, "duplicate/metadata-name", service(meta="name: other\n"))
    add(A, "duplicate/container-image", service(container="image: other\n"))
    add(A, "duplicate/annotation", service(meta="annotations:\n  a: b\n  a: c\n"))
    add(A, "duplicate/spec-template", service(spec="template: {}\n"))
    # YAML 1.1 booleans where kubectl reads them (stdin is a bool)
    for v in ["true", "false", "True", "FALSE", "yes", "no", "on", "off", "y", "n", "Y", "1", '"true"']:
        add(A, "bool/enableServiceLinks/" + v.strip('"').replace('"', '') + ("-quoted" if v.startswith('"') else ""),
            service(pod="enableServiceLinks: %s\n" % v))
    for v in ["true", "yes", "on", "y", "off"]:
        add(A, "bool/readOnly/" + v, service(
            pod="volumes:\n- name: v\n  emptyDir: {}\n",
            container="volumeMounts:\n- name: v\n  mountPath: /data\n  readOnly: %s\n" % v))
    # YAML 1.1 integers
    for tag, v in [("dec", "8080"), ("octal-010", "010"), ("hex", "0x1F90"), ("octal-0o", "0o17"),
                   ("underscore", "8_080"), ("exp", "1e2"), ("float-int", "8080.0"), ("float", "1.5"),
                   ("quoted", '"8080"'), ("plus", "+8080"), ("null", "~"), ("null-word", "null"),
                   ("negative", "-1"), ("huge", "99999999999"), ("sexagesimal", "1:30")]:
        add(A, "int/containerPort/" + tag, service(ports=False, container="ports:\n- containerPort: %s\n" % v))
    for tag, v in [("dec", "10"), ("octal", "010"), ("hex", "0x1F"), ("octal-0o", "0o17"),
                   ("underscore", "1_000"), ("exp", "1e2"), ("float-int", "100.0"), ("float", "1.5"),
                   ("null", "~"), ("string", "ten"), ("bool", "yes")]:
        add(A, "int/timeoutSeconds/" + tag, service(pod="timeoutSeconds: %s\n" % v))
        add(A, "int/containerConcurrency/" + tag, service(pod="containerConcurrency: %s\n" % v))
    # null where an object or list is expected
    add(A, "null/containers", service(containers="").replace("      containers:\n", "      containers: ~\n"))
    add(A, "null/metadata-annotations", service(meta="annotations: ~\n"))
    add(A, "null/template-spec-null-env", service(container="env: null\n"))
    add(A, "null/spec", "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: hello\nspec: ~\n")
    # annotation and label values that YAML reads as numbers or bools
    for tag, v in [("int", "1"), ("bool", "true"), ("yes", "yes"), ("float", "1.5"), ("null", "~"),
                   ("quoted", '"1"'), ("empty", '""'), ("list", "[a]"), ("map", "{a: b}")]:
        add(A, "annotation-value/" + tag, service(meta="annotations:\n  example.com/a: %s\n" % v))
        add(A, "label-value/" + tag, service(meta="labels:\n  example.com/a: %s\n" % v))
    add(A, "annotation-value/template-int", service(tmeta="annotations:\n  autoscaling.knative.dev/min-scale: 1\n"))
    add(A, "annotation-value/template-quoted", service(tmeta="annotations:\n  autoscaling.knative.dev/min-scale: \"1\"\n"))
    # resource quantities
    for tag, v in [("abc", "abc"), ("100m", "100m"), ("1", "1"), ("0.5", "0.5"), ("-1", "-1"),
                   ("1e3", "1e3"), ("1.5Gi", "1.5Gi"), ("plus1", "+1"), ("empty", '""'), ("1Gi", "1Gi"),
                   ("null", "~"), ("space", '" 1"'), ("1m-upper", "1M"), ("1mi-bad", "1mi"),
                   ("bool", "true"), ("list", "[1]"), ("1e3m", "1e3m"), ("0", "0"), ("2Ki", "2Ki")]:
        add(A, "quantity/cpu-limit/" + tag, service(container="resources:\n  limits:\n    cpu: %s\n" % v))
    for tag, v in [("1Gi", "1Gi"), ("1e3", "1e3"), ("1.5Gi", "1.5Gi"), ("abc", "abc"), ("128Mi", "128Mi"),
                   ("-1Gi", "-1Gi")]:
        add(A, "quantity/memory-request/" + tag, service(container="resources:\n  requests:\n    memory: %s\n" % v))
    add(A, "quantity/requests-above-limits", service(
        container="resources:\n  requests:\n    cpu: \"2\"\n  limits:\n    cpu: \"1\"\n"))
    add(A, "quantity/other-resource", service(container="resources:\n  limits:\n    nvidia.com/gpu: 1\n"))
    add(A, "quantity/sizeLimit-bad", service(pod="volumes:\n- name: v\n  emptyDir:\n    sizeLimit: lots\n",
                                             container="volumeMounts:\n- name: v\n  mountPath: /data\n"))
    # wrong types
    add(A, "type/string-for-int", service(pod="timeoutSeconds: \"30\"\n"))
    add(A, "type/list-for-map", service(meta="annotations:\n- a\n"))
    add(A, "type/map-for-list", service(container="args:\n  a: b\n"))
    add(A, "type/string-for-list", service(container="args: hello\n"))
    add(A, "type/int-for-string", service(container="workingDir: 1\n"))
    add(A, "type/bool-for-string", service(container="workingDir: yes\n"))
    add(A, "type/int-args", service(container="args:\n- 1\n- true\n"))
    add(A, "type/env-value-int", service(container="env:\n- name: A\n  value: 1\n"))
    add(A, "type/containers-map", service(containers="        image: x\n"))
    add(A, "type/int-for-bool", service(pod="enableServiceLinks: 1\n"))
    # documents that are not a Knative v1 object
    add(A, "kind/unknown", service(kind="Servce"))
    add(A, "kind/lowercase", service(kind="service"))
    add(A, "kind/missing", service().replace("kind: Service\n", ""))
    add(A, "apiVersion/v1alpha1", service(api="serving.knative.dev/v1alpha1"))
    add(A, "apiVersion/v1beta1", service(api="serving.knative.dev/v1beta1"))
    add(A, "apiVersion/missing", service().replace("apiVersion: serving.knative.dev/v1\n", ""))
    add(A, "apiVersion/core", service(api="v1"))
    add(A, "yaml/not-a-map", "- a\n- b\n")
    add(A, "yaml/scalar", "hello\n")
    add(A, "yaml/empty", "")
    add(A, "yaml/tab-indent", service().replace("  name: hello", "\tname: hello"))
    add(A, "yaml/bad-indent", service().replace("  name: hello", "   name: hello"))
    add(A, "yaml/flow-style", '{"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "hello"}, '
        '"spec": {"template": {"spec": {"containers": [{"image": "%s"}]}}}}\n' % IMAGE)
    add(A, "yaml/anchors", service(meta="labels: &l\n  a: b\nannotations: *l\n"))
    add(A, "yaml/comment", service(meta="# a comment\nlabels:\n  a: b # trailing\n"))
    add(A, "yaml/document-marker", "---\n" + service())
    add(A, "yaml/two-documents", service() + "---\n" + service(name="other"))
    add(A, "yaml/merge-key", service(meta="labels:\n  <<: {a: b}\n  c: d\n"))
    add(A, "namespace/given", service(meta="namespace: team-a\n"))
    add(A, "namespace/bad", service(meta="namespace: Team_A\n"))


# ---------------------------------------------------------------- podspec


POD_FIELDS = [
    ("restartPolicy", "restartPolicy: Always\n"),
    ("terminationGracePeriodSeconds", "terminationGracePeriodSeconds: 30\n"),
    ("activeDeadlineSeconds", "activeDeadlineSeconds: 10\n"),
    ("nodeName", "nodeName: node-1\n"),
    ("hostname", "hostname: h\n"),
    ("subdomain", "subdomain: s\n"),
    ("priority", "priority: 1\n"),
    ("priorityClassName", "priorityClassName: high\n"),
    ("readinessGates", "readinessGates:\n- conditionType: example.com/ready\n"),
    ("preemptionPolicy", "preemptionPolicy: Never\n"),
    ("setHostnameAsFQDN", "setHostnameAsFQDN: true\n"),
    ("os", "os:\n  name: linux\n"),
    ("hostUsers", "hostUsers: false\n"),
    ("automountServiceAccountToken-false", "automountServiceAccountToken: false\n"),
    ("automountServiceAccountToken-true", "automountServiceAccountToken: true\n"),
    ("hostNetwork-true", "hostNetwork: true\n"),
    ("hostNetwork-false", "hostNetwork: false\n"),
    ("hostPID", "hostPID: true\n"),
    ("hostIPC", "hostIPC: true\n"),
    ("shareProcessNamespace", "shareProcessNamespace: true\n"),
    ("dnsPolicy", "dnsPolicy: ClusterFirst\n"),
    ("dnsConfig", "dnsConfig:\n  nameservers:\n  - 1.1.1.1\n"),
    ("hostAliases", "hostAliases:\n- ip: 10.0.0.1\n  hostnames:\n  - db\n"),
    ("affinity", "affinity:\n  nodeAffinity:\n    requiredDuringSchedulingIgnoredDuringExecution:\n"
                 "      nodeSelectorTerms:\n      - matchExpressions:\n        - key: zone\n"
                 "          operator: In\n          values:\n          - a\n"),
    ("nodeSelector", "nodeSelector:\n  disk: ssd\n"),
    ("tolerations", "tolerations:\n- key: k\n  operator: Exists\n  effect: NoSchedule\n"),
    ("topologySpreadConstraints", "topologySpreadConstraints:\n- maxSkew: 1\n  topologyKey: zone\n"
                                  "  whenUnsatisfiable: DoNotSchedule\n"),
    ("schedulerName", "schedulerName: my-scheduler\n"),
    ("runtimeClassName", "runtimeClassName: gvisor\n"),
    ("securityContext", "securityContext:\n  runAsNonRoot: true\n"),
    ("securityContext-empty", "securityContext: {}\n"),
    ("imagePullSecrets", "imagePullSecrets:\n- name: regcred\n"),
    ("enableServiceLinks-false", "enableServiceLinks: false\n"),
    ("enableServiceLinks-true", "enableServiceLinks: true\n"),
    ("overhead", "overhead:\n  cpu: 100m\n"),
    ("schedulingGates", "schedulingGates:\n- name: example.com/gate\n"),
    ("resourceClaims", "resourceClaims:\n- name: gpu\n  resourceClaimName: gpu-claim\n"),
    ("resources", "resources:\n  limits:\n    cpu: \"1\"\n"),
    ("serviceAccountName", "serviceAccountName: builder\n"),
    ("serviceAccount", "serviceAccount: builder\n"),
    ("initContainers", "initContainers:\n- image: busybox\n"),
    ("ephemeralContainers", "ephemeralContainers:\n- name: debug\n  image: busybox\n"),
    ("hostnameOverride", "hostnameOverride: h\n"),
    ("workloadRef", "workloadRef:\n  name: w\n  podGroup: g\n"),
    ("timeoutSeconds", "timeoutSeconds: 60\n"),
    ("containerConcurrency", "containerConcurrency: 5\n"),
    ("idleTimeoutSeconds", "idleTimeoutSeconds: 60\n"),
    ("responseStartTimeoutSeconds", "responseStartTimeoutSeconds: 60\n"),
]

# flag-gated pod fields: (case name from POD_FIELDS, flag key)
GATED_POD = [
    ("affinity", "kubernetes.podspec-affinity"),
    ("topologySpreadConstraints", "kubernetes.podspec-topologyspreadconstraints"),
    ("hostAliases", "kubernetes.podspec-hostaliases"),
    ("nodeSelector", "kubernetes.podspec-nodeselector"),
    ("runtimeClassName", "kubernetes.podspec-runtimeclassname"),
    ("tolerations", "kubernetes.podspec-tolerations"),
    ("securityContext", "kubernetes.podspec-securitycontext"),
    ("shareProcessNamespace", "kubernetes.podspec-shareprocessnamespace"),
    ("priorityClassName", "kubernetes.podspec-priorityclassname"),
    ("schedulerName", "kubernetes.podspec-schedulername"),
    ("initContainers", "kubernetes.podspec-init-containers"),
    ("dnsPolicy", "kubernetes.podspec-dnspolicy"),
    ("dnsConfig", "kubernetes.podspec-dnsconfig"),
    ("hostIPC", "kubernetes.podspec-hostipc"),
    ("hostPID", "kubernetes.podspec-hostpid"),
    ("hostNetwork-true", "kubernetes.podspec-hostnetwork"),
]


def gen_podspec():
    A = "podspec"
    fields = dict(POD_FIELDS)
    for n, y in POD_FIELDS:
        add(A, "set/" + n, service(pod=y))
    add(A, "revision/restartPolicy", revision(pod="restartPolicy: Always\n"))
    add(A, "revision/nodeSelector", revision(pod="nodeSelector:\n  a: b\n"))
    add(A, "configuration/nodeName", configuration(pod="nodeName: node-1\n"))
    add(A, "dnsPolicy/values/None-enabled", service(
        pod="dnsPolicy: None\ndnsConfig:\n  nameservers:\n  - 1.1.1.1\n",
        ), config={"config-features": {"kubernetes.podspec-dnspolicy": "Enabled",
                                       "kubernetes.podspec-dnsconfig": "Enabled"}})
    add(A, "dnsPolicy/values/None-no-config", service(pod="dnsPolicy: None\n"),
        config=featk("kubernetes.podspec-dnspolicy", "Enabled"))
    add(A, "dnsPolicy/values/bogus", service(pod="dnsPolicy: Sometimes\n"),
        config=featk("kubernetes.podspec-dnspolicy", "Enabled"))
    add(A, "dnsPolicy/values/Default", service(pod="dnsPolicy: Default\n"),
        config=featk("kubernetes.podspec-dnspolicy", "Enabled"))
    add(A, "tolerations/bad-operator", service(pod="tolerations:\n- key: k\n  operator: Maybe\n"),
        config=featk("kubernetes.podspec-tolerations", "Enabled"))
    add(A, "tolerations/exists-with-value", service(pod="tolerations:\n- key: k\n  operator: Exists\n  value: v\n"),
        config=featk("kubernetes.podspec-tolerations", "Enabled"))
    add(A, "nodeSelector/bad-key", service(pod="nodeSelector:\n  \"bad key\": ssd\n"),
        config=featk("kubernetes.podspec-nodeselector", "Enabled"))
    add(A, "hostAliases/bad-ip", service(pod="hostAliases:\n- ip: not-an-ip\n  hostnames:\n  - db\n"),
        config=featk("kubernetes.podspec-hostaliases", "Enabled"))
    add(A, "topology/bad-skew", service(pod="topologySpreadConstraints:\n- maxSkew: 0\n  topologyKey: zone\n"
                                            "  whenUnsatisfiable: DoNotSchedule\n"),
        config=featk("kubernetes.podspec-topologyspreadconstraints", "Enabled"))
    add(A, "priorityClassName/bad", service(pod="priorityClassName: High_Class\n"),
        config=featk("kubernetes.podspec-priorityclassname", "Enabled"))
    add(A, "runtimeClassName/bad", service(pod="runtimeClassName: Bad_Name\n"),
        config=featk("kubernetes.podspec-runtimeclassname", "Enabled"))
    add(A, "schedulerName/bad", service(pod="schedulerName: \"bad name\"\n"),
        config=featk("kubernetes.podspec-schedulername", "Enabled"))
    add(A, "imagePullSecrets/empty-name", service(pod="imagePullSecrets:\n- name: \"\"\n"))
    add(A, "imagePullSecrets/empty-item", service(pod="imagePullSecrets:\n- {}\n"))
    add(A, "imagePullSecrets/bad-name", service(pod="imagePullSecrets:\n- name: Bad_Name\n"))
    # serviceAccountName syntax
    for tag, v in [("ok", "builder"), ("dots", "a.b.c"), ("upper", "Builder"), ("underscore", "my_sa"),
                   ("long", "a" * 254), ("leading-dash", "-sa"), ("empty", '""'), ("colon", "system:sa")]:
        add(A, "serviceAccountName/" + tag, service(pod="serviceAccountName: %s\n" % v))
    # multi-container
    two = ("      - image: %s\n        name: a\n        ports:\n        - containerPort: 8080\n"
           "      - image: %s\n        name: b\n" % (IMAGE, IMAGE))
    add(A, "multi/two", service(containers=two))
    add(A, "multi/two-disabled", service(containers=two), config=featk("multi-container", "Disabled"))
    add(A, "multi/two-unnamed", service(containers=two.replace("        name: a\n", "").replace("        name: b\n", "")))
    add(A, "multi/two-same-name", service(containers=two.replace("name: b", "name: a")))
    add(A, "multi/two-no-port", service(containers=two.replace("        ports:\n        - containerPort: 8080\n", "")))
    add(A, "multi/two-both-ports", service(containers=two + "        ports:\n        - containerPort: 9090\n"))
    add(A, "multi/zero", service(containers="").replace("      containers:\n", "      containers: []\n"))
    add(A, "multi/missing", service(containers="").replace("      containers:\n", ""))
    add(A, "multi/probe-sidecar", service(containers=two + "        readinessProbe:\n          tcpSocket:\n            port: 9000\n"))
    add(A, "multi/probe-sidecar-probing", service(containers=two + "        readinessProbe:\n          tcpSocket:\n            port: 9000\n"),
        config=featk("multi-container-probing", "Enabled"))
    add(A, "initContainers/enabled", service(pod=fields["initContainers"]),
        config=featk("kubernetes.podspec-init-containers", "Enabled"))
    add(A, "initContainers/with-port", service(pod="initContainers:\n- image: busybox\n  ports:\n  - containerPort: 80\n"),
        config=featk("kubernetes.podspec-init-containers", "Enabled"))
    add(A, "initContainers/with-probe", service(pod="initContainers:\n- image: busybox\n  readinessProbe:\n    tcpSocket:\n      port: 80\n"),
        config=featk("kubernetes.podspec-init-containers", "Enabled"))
    add(A, "initContainers/same-name", service(cname="app", pod="initContainers:\n- image: busybox\n  name: app\n"),
        config=featk("kubernetes.podspec-init-containers", "Enabled"))
    add(A, "initContainers/restartPolicy-Always", service(pod="initContainers:\n- image: busybox\n  restartPolicy: Always\n"),
        config=featk("kubernetes.podspec-init-containers", "Enabled"))


# ---------------------------------------------------------------- features


def gen_features():
    A = "features"
    fields = dict(POD_FIELDS)
    for n, flag in GATED_POD:
        short = flag.split(".", 1)[1]
        for state in ["Disabled", "Allowed", "Enabled", "enabled"]:
            add(A, "%s/%s" % (n, state), service(pod=fields[n]), config=featk(flag, state))
        # Allowed, with the object opting in through an annotation of the
        # older releases' form: v0.50 reads no such annotation.
        add(A, "%s/Allowed-annotated" % n,
            service(pod=fields[n], tmeta="annotations:\n  features.knative.dev/%s: enabled\n" % short),
            config=featk(flag, "Allowed"))
        add(A, "%s/Disabled-annotated" % n,
            service(pod=fields[n], tmeta="annotations:\n  features.knative.dev/%s: enabled\n" % short),
            config=featk(flag, "Disabled"))
    # container-level add capabilities
    caps = "securityContext:\n  capabilities:\n    add:\n    - NET_ADMIN\n"
    for state in ["Disabled", "Allowed", "Enabled"]:
        add(A, "addcapabilities/%s" % state, service(container=caps),
            config=featk("kubernetes.containerspec-addcapabilities", state))
    # fieldRef
    fr = "env:\n- name: NODE\n  valueFrom:\n    fieldRef:\n      fieldPath: spec.nodeName\n"
    rfr = "env:\n- name: MEM\n  valueFrom:\n    resourceFieldRef:\n      resource: limits.memory\n"
    for state in ["Disabled", "Allowed", "Enabled"]:
        add(A, "fieldRef/%s" % state, service(container=fr), config=featk("kubernetes.podspec-fieldref", state))
        add(A, "resourceFieldRef/%s" % state, service(container=rfr), config=featk("kubernetes.podspec-fieldref", state))
    # volume kinds
    vols = {
        "emptyDir": ("kubernetes.podspec-volumes-emptydir", "emptyDir: {}\n"),
        "hostPath": ("kubernetes.podspec-volumes-hostpath", "hostPath:\n  path: /var/log\n"),
        "csi": ("kubernetes.podspec-volumes-csi", "csi:\n  driver: csi.example.com\n"),
        "ephemeral": ("kubernetes.podspec-volumes-ephemeral",
                      "ephemeral:\n  volumeClaimTemplate:\n    spec:\n      accessModes:\n      - ReadWriteOnce\n"
                      "      resources:\n        requests:\n          storage: 1Gi\n"),
        "image": ("kubernetes.podspec-volumes-image", "image:\n  reference: ghcr.io/knserve/data:1\n"),
        "pvc": ("kubernetes.podspec-persistent-volume-claim", "persistentVolumeClaim:\n  claimName: data\n  readOnly: true\n"),
    }
    for n, (flag, src) in sorted(vols.items()):
        pod = "volumes:\n- name: v\n" + ind(src, 2)
        for state in ["Disabled", "Allowed", "Enabled"]:
            add(A, "volume-%s/%s" % (n, state),
                service(pod=pod, container="volumeMounts:\n- name: v\n  mountPath: /data\n  readOnly: true\n"),
                config=featk(flag, state))
    pvc = "volumes:\n- name: v\n  persistentVolumeClaim:\n    claimName: data\n"
    for w in ["Disabled", "Enabled"]:
        add(A, "pvc-write/%s-readwrite" % w, service(pod=pvc, container="volumeMounts:\n- name: v\n  mountPath: /data\n"),
            config={"config-features": {"kubernetes.podspec-persistent-volume-claim": "Enabled",
                                        "kubernetes.podspec-persistent-volume-write": w}})
    mp = "volumeMounts:\n- name: v\n  mountPath: /data\n  mountPropagation: HostToContainer\n"
    for state in ["Disabled", "Allowed", "Enabled"]:
        add(A, "mountPropagation/%s" % state, service(pod="volumes:\n- name: v\n  emptyDir: {}\n", container=mp),
            config=featk("kubernetes.podspec-volumes-mount-propagation", state))
    add(A, "mountPropagation/bad-value", service(pod="volumes:\n- name: v\n  emptyDir: {}\n",
                                                  container=mp.replace("HostToContainer", "Sideways")),
        config=featk("kubernetes.podspec-volumes-mount-propagation", "Enabled"))
    # secure-pod-defaults
    for state in ["Disabled", "Enabled", "AllowRootBounded", "bogus"]:
        add(A, "secure-pod-defaults/%s/base" % state, service(), config=featk("secure-pod-defaults", state))
        add(A, "secure-pod-defaults/%s/pod-securityContext" % state,
            service(pod="securityContext:\n  runAsNonRoot: true\n"), config=featk("secure-pod-defaults", state))
        add(A, "secure-pod-defaults/%s/runAsUser-0" % state,
            service(container="securityContext:\n  runAsUser: 0\n"), config=featk("secure-pod-defaults", state))
        add(A, "secure-pod-defaults/%s/add-NET_BIND_SERVICE" % state,
            service(container="securityContext:\n  capabilities:\n    add:\n    - NET_BIND_SERVICE\n"),
            config=featk("secure-pod-defaults", state))
    # unknown and odd flag values: the features map never refuses
    add(A, "flag-value/bogus", service(pod=fields["nodeSelector"]), config=featk("kubernetes.podspec-nodeselector", "Sure"))
    add(A, "flag-value/true", service(pod=fields["nodeSelector"]), config=featk("kubernetes.podspec-nodeselector", "true"))
    add(A, "flag-value/ENABLED", service(pod=fields["nodeSelector"]), config=featk("kubernetes.podspec-nodeselector", "ENABLED"))
    add(A, "flag-value/space", service(pod=fields["nodeSelector"]), config=featk("kubernetes.podspec-nodeselector", " Enabled"))
    # feature annotations on the object
    for key in ["features.knative.dev/queueproxy-podinfo", "features.knative.dev/http-full-duplex",
                "features.knative.dev/unknown"]:
        for v in ["enabled", "Enabled", "disabled", "bogus"]:
            add(A, "annotation/%s/%s" % (key.split("/")[1], v),
                service(tmeta="annotations:\n  %s: %s\n" % (key, v)))
    for state in ["Disabled", "Allowed", "Enabled"]:
        add(A, "annotation/queueproxy-podinfo-flag-%s" % state,
            service(tmeta="annotations:\n  features.knative.dev/queueproxy-podinfo: enabled\n"),
            config=featk("queueproxy.mount-podinfo", state))


# ---------------------------------------------------------------- container


def gen_container():
    A = "container"
    fields = [
        ("lifecycle", "lifecycle:\n  preStop:\n    exec:\n      command:\n      - sleep\n"),
        ("stdin", "stdin: true\n"),
        ("stdin-false", "stdin: false\n"),
        ("stdinOnce", "stdinOnce: true\n"),
        ("tty", "tty: true\n"),
        ("volumeDevices", "volumeDevices:\n- name: d\n  devicePath: /dev/xvda\n"),
        ("resizePolicy", "resizePolicy:\n- resourceName: cpu\n  restartPolicy: NotRequired\n"),
        ("restartPolicy", "restartPolicy: Always\n"),
        ("restartPolicyRules", "restartPolicyRules:\n- action: Restart\n  exitCodes:\n    operator: In\n    values:\n    - 42\n"),
        ("terminationMessagePolicy-File", "terminationMessagePolicy: File\n"),
        ("terminationMessagePolicy-Fallback", "terminationMessagePolicy: FallbackToLogsOnError\n"),
        ("terminationMessagePolicy-bad", "terminationMessagePolicy: Sometimes\n"),
        ("terminationMessagePath", "terminationMessagePath: /dev/termination-log\n"),
        ("terminationMessagePath-relative", "terminationMessagePath: term.log\n"),
        ("workingDir", "workingDir: /app\n"),
        ("workingDir-relative", "workingDir: app\n"),
        ("command", "command:\n- /bin/server\n"),
        ("args", "args:\n- --port=8080\n"),
        ("imagePullPolicy-Always", "imagePullPolicy: Always\n"),
        ("imagePullPolicy-IfNotPresent", "imagePullPolicy: IfNotPresent\n"),
        ("imagePullPolicy-Never", "imagePullPolicy: Never\n"),
        ("imagePullPolicy-bad", "imagePullPolicy: Sometimes\n"),
        ("resources-claims", "resources:\n  claims:\n  - name: gpu\n"),
        ("resources-limits", "resources:\n  limits:\n    cpu: 500m\n    memory: 128Mi\n"),
        ("resources-requests", "resources:\n  requests:\n    cpu: 100m\n"),
        ("resources-empty", "resources: {}\n"),
    ]
    for n, y in fields:
        add(A, "field/" + n, service(container=y))
    # ports
    P = lambda y: service(ports=False, container=y)
    add(A, "ports/none", service(ports=False))
    add(A, "ports/8080", P("ports:\n- containerPort: 8080\n"))
    add(A, "ports/two", P("ports:\n- containerPort: 8080\n- containerPort: 9090\n"))
    add(A, "ports/zero", P("ports:\n- containerPort: 0\n"))
    add(A, "ports/negative", P("ports:\n- containerPort: -1\n"))
    add(A, "ports/65535", P("ports:\n- containerPort: 65535\n"))
    add(A, "ports/65536", P("ports:\n- containerPort: 65536\n"))
    add(A, "ports/empty-item", P("ports:\n- {}\n"))
    for p in ["8012", "8013", "8022", "8112", "9090", "9091", "8090", "80", "1"]:
        add(A, "ports/reserved-" + p, P("ports:\n- containerPort: %s\n" % p))
    add(A, "ports/hostPort", P("ports:\n- containerPort: 8080\n  hostPort: 8080\n"))
    add(A, "ports/hostIP", P("ports:\n- containerPort: 8080\n  hostIP: 10.0.0.1\n"))
    for nm in ["http1", "h2c", "http", "grpc", "HTTP1", "web", "\"\""]:
        add(A, "ports/name-" + nm.strip('"') if nm != '""' else "ports/name-empty",
            P("ports:\n- containerPort: 8080\n  name: %s\n" % nm))
    for proto in ["TCP", "UDP", "SCTP", "tcp", "\"\"", "HTTP"]:
        add(A, "ports/protocol-" + (proto.strip('"') or "empty"),
            P("ports:\n- containerPort: 8080\n  protocol: %s\n" % proto))
    # container names
    for tag, nm in [("ok", "app"), ("queue-proxy", "queue-proxy"), ("user-container", "user-container"),
                    ("upper", "App"), ("underscore", "my_app"), ("dots", "my.app"), ("long", "a" * 64),
                    ("63", "a" * 63), ("leading-digit", "1app"), ("leading-dash", "-app"), ("empty", '""')]:
        add(A, "name/" + tag, service(cname=nm))
    add(A, "name/template-default", service(), config={"config-defaults": {"container-name-template": "{{.Name}}-c"}})
    # resources against config-defaults
    add(A, "resources/defaults-applied", service(), config={"config-defaults": {
        "revision-cpu-request": "100m", "revision-memory-limit": "256Mi"}})
    # non-default config-defaults reaching a Service
    for tag, data, kw in [
            ("enable-service-links-false", {"enable-service-links": "false"}, {}),
            ("container-concurrency-10", {"container-concurrency": "10"}, {}),
            ("container-concurrency-10-explicit-0", {"container-concurrency": "10"}, {"pod": "containerConcurrency: 0\n"}),
            ("revision-timeout-100-explicit-200", {"revision-timeout-seconds": "100"}, {"pod": "timeoutSeconds: 200\n"}),
            ("idle-timeout-100", {"revision-idle-timeout-seconds": "100"}, {}),
            ("response-start-100", {"revision-response-start-timeout-seconds": "100"}, {}),
            ("memory-limit-below-request", {"revision-memory-limit": "64Mi"},
             {"container": "resources:\n  requests:\n    memory: 128Mi\n"}),
            ("init-name-template", {"init-container-name-template": "{{.Name}}-init"}, {}),
            ("container-name-template-bad-result", {"container-name-template": "Bad_Name"}, {}),
            ("container-name-template-queue-proxy", {"container-name-template": "queue-proxy"}, {})]:
        add(A, "defaults/" + tag, service(**kw), config={"config-defaults": data})
    add(A, "resources/request-above-default-limit", service(container="resources:\n  requests:\n    cpu: \"2\"\n"),
        config={"config-defaults": {"revision-cpu-limit": "1"}})


# ---------------------------------------------------------------- security


def gen_security():
    A = "security"
    C = lambda y, **kw: service(container="securityContext:\n" + ind(y, 2), **kw)
    sc_on = featk("kubernetes.podspec-securitycontext", "Enabled")
    cases = [
        ("privileged-true", "privileged: true\n"),
        ("privileged-false", "privileged: false\n"),
        ("allowPrivilegeEscalation-true", "allowPrivilegeEscalation: true\n"),
        ("allowPrivilegeEscalation-false", "allowPrivilegeEscalation: false\n"),
        ("add-NET_BIND_SERVICE", "capabilities:\n  add:\n  - NET_BIND_SERVICE\n"),
        ("add-CAP_NET_BIND_SERVICE", "capabilities:\n  add:\n  - CAP_NET_BIND_SERVICE\n"),
        ("add-NET_ADMIN", "capabilities:\n  add:\n  - NET_ADMIN\n"),
        ("add-two", "capabilities:\n  add:\n  - NET_BIND_SERVICE\n  - SYS_TIME\n"),
        ("drop-ALL", "capabilities:\n  drop:\n  - ALL\n"),
        ("drop-NET_RAW", "capabilities:\n  drop:\n  - NET_RAW\n"),
        ("capabilities-empty", "capabilities: {}\n"),
        ("seLinuxOptions", "seLinuxOptions:\n  level: s0\n"),
        ("procMount-Default", "procMount: Default\n"),
        ("procMount-Unmasked", "procMount: Unmasked\n"),
        ("windowsOptions", "windowsOptions:\n  runAsUserName: app\n"),
        ("seccomp-RuntimeDefault", "seccompProfile:\n  type: RuntimeDefault\n"),
        ("seccomp-Unconfined", "seccompProfile:\n  type: Unconfined\n"),
        ("seccomp-Localhost", "seccompProfile:\n  type: Localhost\n  localhostProfile: p.json\n"),
        ("seccomp-Localhost-noprofile", "seccompProfile:\n  type: Localhost\n"),
        ("seccomp-bad", "seccompProfile:\n  type: Whatever\n"),
        ("seccomp-empty", "seccompProfile: {}\n"),
        ("runAsNonRoot-true", "runAsNonRoot: true\n"),
        ("runAsNonRoot-false", "runAsNonRoot: false\n"),
        ("readOnlyRootFilesystem", "readOnlyRootFilesystem: true\n"),
        ("appArmor-RuntimeDefault", "appArmorProfile:\n  type: RuntimeDefault\n"),
        ("appArmor-Localhost", "appArmorProfile:\n  type: Localhost\n  localhostProfile: p\n"),
        ("empty", "{}\n"),
    ]
    for v in ["0", "1000", "2147483647", "2147483648", "-1", "4294967296"]:
        cases.append(("runAsUser-" + v, "runAsUser: %s\n" % v))
        cases.append(("runAsGroup-" + v, "runAsGroup: %s\n" % v))
    cases.append(("runAsUser-0-nonroot", "runAsUser: 0\nrunAsNonRoot: true\n"))
    for n, y in cases:
        if y == "{}\n":
            add(A, "container/" + n, service(container="securityContext: {}\n"))
        else:
            add(A, "container/" + n, C(y))
    add(A, "container/add-NET_ADMIN-flag", C("capabilities:\n  add:\n  - NET_ADMIN\n"),
        config=featk("kubernetes.containerspec-addcapabilities", "Enabled"))
    # pod level
    P = lambda y, cfg=None, tag="": None
    pod_cases = [
        ("runAsNonRoot", "runAsNonRoot: true\n"),
        ("runAsUser-1000", "runAsUser: 1000\n"),
        ("runAsUser-0", "runAsUser: 0\n"),
        ("runAsUser--1", "runAsUser: -1\n"),
        ("runAsUser-2147483648", "runAsUser: 2147483648\n"),
        ("runAsGroup-1000", "runAsGroup: 1000\n"),
        ("runAsGroup--1", "runAsGroup: -1\n"),
        ("fsGroup", "fsGroup: 2000\n"),
        ("fsGroup--1", "fsGroup: -1\n"),
        ("fsGroupChangePolicy", "fsGroupChangePolicy: OnRootMismatch\n"),
        ("supplementalGroups", "supplementalGroups:\n- 3000\n"),
        ("supplementalGroups--1", "supplementalGroups:\n- -1\n"),
        ("supplementalGroupsPolicy", "supplementalGroupsPolicy: Strict\n"),
        ("sysctls", "sysctls:\n- name: net.core.somaxconn\n  value: \"1024\"\n"),
        ("seLinuxOptions", "seLinuxOptions:\n  level: s0\n"),
        ("seLinuxChangePolicy", "seLinuxChangePolicy: MountOption\n"),
        ("windowsOptions", "windowsOptions:\n  runAsUserName: app\n"),
        ("seccomp-RuntimeDefault", "seccompProfile:\n  type: RuntimeDefault\n"),
        ("seccomp-bad", "seccompProfile:\n  type: Whatever\n"),
        ("appArmor", "appArmorProfile:\n  type: RuntimeDefault\n"),
    ]
    for n, y in pod_cases:
        pod = "securityContext:\n" + ind(y, 2)
        add(A, "pod/%s/flag-default" % n, service(pod=pod))
        add(A, "pod/%s/flag-Enabled" % n, service(pod=pod), config=sc_on)
    add(A, "pod/empty/flag-default", service(pod="securityContext: {}\n"))
    add(A, "revision/privileged", revision().replace("  - image:", "  - securityContext:\n      privileged: true\n    image:"))


# ---------------------------------------------------------------- images


def gen_images():
    A = "images"
    imgs = [
        ("ok", IMAGE),
        ("no-tag", "ghcr.io/knserve/hello"),
        ("docker-hub-short", "nginx"),
        ("docker-hub-library", "library/nginx:1.25"),
        ("uppercase-repo", "ghcr.io/KnServe/Hello:1"),
        ("uppercase-tag", "ghcr.io/knserve/hello:V1"),
        ("uppercase-registry", "GHCR.io/knserve/hello:1"),
        ("digest", "ghcr.io/knserve/hello@sha256:" + "a" * 64),
        ("digest-short", "ghcr.io/knserve/hello@sha256:abc"),
        ("digest-bad-algo", "ghcr.io/knserve/hello@md5:" + "a" * 32),
        ("digest-upper-hex", "ghcr.io/knserve/hello@sha256:" + "A" * 64),
        ("tag-and-digest", "ghcr.io/knserve/hello:1@sha256:" + "b" * 64),
        ("registry-port", "registry.local:5000/hello:1"),
        ("localhost-port", "localhost:5000/hello"),
        ("ip-port", "10.0.0.1:5000/team/hello:1"),
        ("space", "\"ghcr.io/knserve/hello: 1\""),
        ("leading-space", "\" ghcr.io/knserve/hello:1\""),
        ("trailing-space", "\"ghcr.io/knserve/hello:1 \""),
        ("empty", "\"\""),
        ("null", "~"),
        ("double-colon", "ghcr.io/knserve/hello::1"),
        ("long-tag", "ghcr.io/knserve/hello:" + "t" * 129),
        ("tag-128", "ghcr.io/knserve/hello:" + "t" * 128),
        ("underscore-path", "ghcr.io/kn_serve/hello:1"),
        ("double-slash", "ghcr.io//hello:1"),
        ("trailing-slash", "ghcr.io/knserve/:1"),
        ("tag-dot-start", "ghcr.io/knserve/hello:.1"),
        ("http-scheme", "https://ghcr.io/knserve/hello:1"),
        ("number", "1"),
    ]
    for n, v in imgs:
        add(A, n, service(image=v))
    add(A, "missing", service(image=None, cname="app"))
    add(A, "configuration/uppercase", configuration(image="ghcr.io/KnServe/Hello:1"))
    add(A, "revision/empty", revision(image='""'))


# ---------------------------------------------------------------- env


def gen_env():
    A = "env"
    E = lambda y: service(container=y)
    add(A, "value", E("env:\n- name: A\n  value: b\n"))
    add(A, "no-value", E("env:\n- name: A\n"))
    add(A, "empty-value", E("env:\n- name: A\n  value: \"\"\n"))
    for tag, nm in [("empty", '""'), ("PORT", "PORT"), ("K_SERVICE", "K_SERVICE"),
                    ("K_CONFIGURATION", "K_CONFIGURATION"), ("K_REVISION", "K_REVISION"),
                    ("K_CONFIG", "K_CONFIG"), ("port-lower", "port"), ("dash", "MY-VAR"), ("dot", "my.var"),
                    ("space", '"MY VAR"'), ("leading-digit", "1VAR"), ("equals", '"A=B"'), ("unicode", '"É"'),
                    ("underscore", "_A")]:
        add(A, "name/" + tag, E("env:\n- name: %s\n  value: x\n" % nm))
    add(A, "name/duplicate", E("env:\n- name: A\n  value: x1\n- name: A\n  value: x2\n"))
    # YAML 1.1 reads y/n/on/off as bools: refused as a string value
    for v in ["y", "n", "on", "off", "yes", "\"y\""]:
        add(A, "value-yaml11/" + v.strip('"') + ("-quoted" if v.startswith('"') else ""), E("env:\n- name: A\n  value: %s\n" % v))
    vf = lambda y: E("env:\n- name: A\n  valueFrom:\n" + ind(y, 4))
    add(A, "valueFrom/configMapKeyRef", vf("configMapKeyRef:\n  name: cm\n  key: k\n"))
    add(A, "valueFrom/configMapKeyRef-optional", vf("configMapKeyRef:\n  name: cm\n  key: k\n  optional: true\n"))
    add(A, "valueFrom/configMapKeyRef-no-key", vf("configMapKeyRef:\n  name: cm\n"))
    add(A, "valueFrom/configMapKeyRef-no-name", vf("configMapKeyRef:\n  key: k\n"))
    add(A, "valueFrom/secretKeyRef", vf("secretKeyRef:\n  name: s\n  key: k\n"))
    add(A, "valueFrom/secretKeyRef-no-key", vf("secretKeyRef:\n  name: s\n"))
    add(A, "valueFrom/both-refs", vf("configMapKeyRef:\n  name: cm\n  key: k\nsecretKeyRef:\n  name: s\n  key: k\n"))
    add(A, "valueFrom/empty", E("env:\n- name: A\n  valueFrom: {}\n"))
    add(A, "valueFrom/and-value", E("env:\n- name: A\n  value: x\n  valueFrom:\n    secretKeyRef:\n      name: s\n      key: k\n"))
    add(A, "valueFrom/fieldRef", vf("fieldRef:\n  fieldPath: metadata.name\n"))
    add(A, "valueFrom/fieldRef-flag", vf("fieldRef:\n  fieldPath: metadata.name\n"),
        config=featk("kubernetes.podspec-fieldref", "Enabled"))
    add(A, "valueFrom/fieldRef-flag-bad-path", vf("fieldRef:\n  fieldPath: spec.bogus\n"),
        config=featk("kubernetes.podspec-fieldref", "Enabled"))
    add(A, "valueFrom/resourceFieldRef-flag", vf("resourceFieldRef:\n  resource: limits.cpu\n"),
        config=featk("kubernetes.podspec-fieldref", "Enabled"))
    add(A, "valueFrom/fileKeyRef", vf("fileKeyRef:\n  volumeName: v\n  path: p\n  key: k\n"))
    ef = lambda y: E("envFrom:\n" + y)
    add(A, "envFrom/configMapRef", ef("- configMapRef:\n    name: cm\n"))
    add(A, "envFrom/secretRef", ef("- secretRef:\n    name: s\n"))
    add(A, "envFrom/neither", ef("- prefix: P_\n"))
    add(A, "envFrom/empty-item", ef("- {}\n"))
    add(A, "envFrom/both", ef("- configMapRef:\n    name: cm\n  secretRef:\n    name: s\n"))
    add(A, "envFrom/prefix", ef("- prefix: APP_\n  configMapRef:\n    name: cm\n"))
    add(A, "envFrom/bad-prefix", ef("- prefix: \"1=\"\n  configMapRef:\n    name: cm\n"))
    add(A, "envFrom/no-name", ef("- configMapRef: {}\n"))
    add(A, "envFrom/optional", ef("- secretRef:\n    name: s\n    optional: true\n"))


# ---------------------------------------------------------------- volumes


def gen_volumes():
    A = "volumes"
    V = lambda vol, mounts="- name: v\n  mountPath: /data\n", cfg=None: (
        service(pod="volumes:\n" + vol, container="volumeMounts:\n" + mounts), cfg)
    add_v = lambda n, vol, mounts="- name: v\n  mountPath: /data\n", config=None: add(
        A, n, service(pod="volumes:\n" + vol, container="volumeMounts:\n" + mounts), config=config)
    add_v("configMap", "- name: v\n  configMap:\n    name: cm\n")
    add_v("configMap-items", "- name: v\n  configMap:\n    name: cm\n    items:\n    - key: a\n      path: a.txt\n")
    add_v("configMap-item-no-key", "- name: v\n  configMap:\n    name: cm\n    items:\n    - path: a.txt\n")
    add_v("configMap-item-no-path", "- name: v\n  configMap:\n    name: cm\n    items:\n    - key: a\n")
    add_v("configMap-item-abs-path", "- name: v\n  configMap:\n    name: cm\n    items:\n    - key: a\n      path: /a.txt\n")
    add_v("configMap-item-dotdot", "- name: v\n  configMap:\n    name: cm\n    items:\n    - key: a\n      path: ../a.txt\n")
    add_v("configMap-no-name", "- name: v\n  configMap: {}\n")
    add_v("configMap-defaultMode", "- name: v\n  configMap:\n    name: cm\n    defaultMode: 0644\n")
    add_v("configMap-defaultMode-big", "- name: v\n  configMap:\n    name: cm\n    defaultMode: 1000\n")
    add_v("secret", "- name: v\n  secret:\n    secretName: s\n")
    add_v("secret-no-name", "- name: v\n  secret: {}\n")
    add_v("secret-items", "- name: v\n  secret:\n    secretName: s\n    items:\n    - key: a\n      path: a\n")
    add_v("projected", "- name: v\n  projected:\n    sources:\n    - configMap:\n        name: cm\n    - secret:\n        name: s\n")
    add_v("projected-serviceAccountToken", "- name: v\n  projected:\n    sources:\n    - serviceAccountToken:\n        path: token\n        audience: x\n")
    add_v("projected-downwardAPI", "- name: v\n  projected:\n    sources:\n    - downwardAPI:\n        items:\n        - path: podname\n          fieldRef:\n            fieldPath: metadata.name\n")
    add_v("projected-empty-source", "- name: v\n  projected:\n    sources:\n    - {}\n")
    add_v("projected-two-in-one", "- name: v\n  projected:\n    sources:\n    - configMap:\n        name: cm\n      secret:\n        name: s\n")
    add_v("projected-clusterTrustBundle", "- name: v\n  projected:\n    sources:\n    - clusterTrustBundle:\n        name: b\n        path: b.pem\n")
    add_v("downwardAPI", "- name: v\n  downwardAPI:\n    items:\n    - path: podname\n      fieldRef:\n        fieldPath: metadata.name\n")
    add_v("emptyDir", "- name: v\n  emptyDir: {}\n")
    for med in ["Memory", "\"\"", "Disk", "HugePages", "memory"]:
        add_v("emptyDir-medium-" + (med.strip('"') or "empty"), "- name: v\n  emptyDir:\n    medium: %s\n" % med)
    add_v("emptyDir-sizeLimit", "- name: v\n  emptyDir:\n    sizeLimit: 1Gi\n")
    add_v("emptyDir-disabled", "- name: v\n  emptyDir: {}\n", config=featk("kubernetes.podspec-volumes-emptydir", "Disabled"))
    add_v("hostPath", "- name: v\n  hostPath:\n    path: /var/log\n")
    add_v("hostPath-enabled", "- name: v\n  hostPath:\n    path: /var/log\n",
          config=featk("kubernetes.podspec-volumes-hostpath", "Enabled"))
    add_v("pvc", "- name: v\n  persistentVolumeClaim:\n    claimName: data\n")
    add_v("pvc-enabled-readonly", "- name: v\n  persistentVolumeClaim:\n    claimName: data\n    readOnly: true\n",
          mounts="- name: v\n  mountPath: /data\n  readOnly: true\n",
          config=featk("kubernetes.podspec-persistent-volume-claim", "Enabled"))
    add_v("csi", "- name: v\n  csi:\n    driver: csi.example.com\n")
    add_v("csi-enabled", "- name: v\n  csi:\n    driver: csi.example.com\n", config=featk("kubernetes.podspec-volumes-csi", "Enabled"))
    add_v("nfs", "- name: v\n  nfs:\n    server: nfs.local\n    path: /x\n")
    add_v("gitRepo", "- name: v\n  gitRepo:\n    repository: https://example.com/r.git\n")
    add_v("no-source", "- name: v\n")
    add_v("two-sources", "- name: v\n  emptyDir: {}\n  secret:\n    secretName: s\n")
    add_v("duplicate-names", "- name: v\n  emptyDir: {}\n- name: v\n  secret:\n    secretName: s\n")
    add_v("bad-name", "- name: V_1\n  emptyDir: {}\n", mounts="- name: V_1\n  mountPath: /data\n")
    add_v("empty-name", "- name: \"\"\n  emptyDir: {}\n", mounts="- name: \"\"\n  mountPath: /data\n")
    add(A, "never-mounted", service(pod="volumes:\n- name: v\n  emptyDir: {}\n"))
    add(A, "mount-without-volume", service(container="volumeMounts:\n- name: v\n  mountPath: /data\n"))
    vol = "- name: v\n  emptyDir: {}\n"
    for tag, p in [("tmp", "/tmp"), ("var", "/var"), ("var-log", "/var/log"), ("root", "/"), ("dev", "/dev"),
                   ("dev-log", "/dev/log"), ("dev-dot-log", "/dev/./log"), ("dev-slash", "/dev/"),
                   ("relative", "data"), ("trailing-slash", "/data/"), ("dotdot", "/data/../etc"),
                   ("empty", '""'), ("colon", "/data:x"), ("var-run", "/var/run"), ("knative", "/var/knative-internal"),
                   ("tmp-trailing", "/tmp/"), ("double-slash", "//data"), ("proc", "/proc")]:
        add_v("mountPath/" + tag, vol, mounts="- name: v\n  mountPath: %s\n" % p)
    add_v("mountPath/duplicate", "- name: v\n  emptyDir: {}\n- name: w\n  emptyDir: {}\n",
          mounts="- name: v\n  mountPath: /data\n- name: w\n  mountPath: /data\n")
    add_v("mountPath/nested", "- name: v\n  emptyDir: {}\n- name: w\n  emptyDir: {}\n",
          mounts="- name: v\n  mountPath: /data\n- name: w\n  mountPath: /data/sub\n")
    add_v("mount/twice-same-volume", vol, mounts="- name: v\n  mountPath: /a\n- name: v\n  mountPath: /b\n")
    for tag, sp in [("ok", "sub"), ("abs", "/sub"), ("dotdot", "../x"), ("empty", '""'), ("nested", "a/b")]:
        add_v("subPath/" + tag, vol, mounts="- name: v\n  mountPath: /data\n  subPath: %s\n" % sp)
    add_v("subPathExpr", vol, mounts="- name: v\n  mountPath: /data\n  subPathExpr: $(POD)\n")
    add_v("readOnly-false", vol, mounts="- name: v\n  mountPath: /data\n  readOnly: false\n")
    add_v("recursiveReadOnly", vol, mounts="- name: v\n  mountPath: /data\n  readOnly: true\n  recursiveReadOnly: Enabled\n")
    add_v("mountPropagation-default-flag", vol, mounts="- name: v\n  mountPath: /data\n  mountPropagation: None\n")
    add_v("secret-writable-mount", "- name: v\n  secret:\n    secretName: s\n",
          mounts="- name: v\n  mountPath: /data\n  readOnly: false\n")


# ---------------------------------------------------------------- probes


def gen_probes():
    A = "probes"
    PR = lambda kind, body, **kw: service(container="%s:\n" % kind + ind(body, 2), **kw)
    for kind in ["readinessProbe", "livenessProbe", "startupProbe"]:
        k = kind.replace("Probe", "")
        add(A, k + "/httpGet", PR(kind, "httpGet:\n  path: /healthz\n"))
        add(A, k + "/httpGet-port-8080", PR(kind, "httpGet:\n  path: /\n  port: 8080\n"))
        add(A, k + "/httpGet-port-other", PR(kind, "httpGet:\n  path: /\n  port: 9000\n"))
        add(A, k + "/httpGet-port-string-8080", PR(kind, "httpGet:\n  port: \"8080\"\n"))
        add(A, k + "/httpGet-port-named-http", PR(kind, "httpGet:\n  port: http\n"))
        add(A, k + "/httpGet-port-named-matching", PR(kind, "httpGet:\n  port: http1\n"), )
        add(A, k + "/httpGet-port-0", PR(kind, "httpGet:\n  port: 0\n"))
        add(A, k + "/httpGet-host", PR(kind, "httpGet:\n  host: example.com\n"))
        add(A, k + "/httpGet-scheme-HTTPS", PR(kind, "httpGet:\n  scheme: HTTPS\n"))
        add(A, k + "/httpGet-scheme-bad", PR(kind, "httpGet:\n  scheme: FTP\n"))
        add(A, k + "/httpGet-headers", PR(kind, "httpGet:\n  httpHeaders:\n  - name: X-A\n    value: b\n"))
        add(A, k + "/tcpSocket", PR(kind, "tcpSocket: {}\n"))
        add(A, k + "/tcpSocket-port", PR(kind, "tcpSocket:\n  port: 8080\n"))
        add(A, k + "/tcpSocket-port-other", PR(kind, "tcpSocket:\n  port: 9000\n"))
        add(A, k + "/grpc", PR(kind, "grpc:\n  port: 8080\n"))
        add(A, k + "/grpc-other-port", PR(kind, "grpc:\n  port: 9000\n"))
        add(A, k + "/grpc-service", PR(kind, "grpc:\n  port: 8080\n  service: health\n"))
        add(A, k + "/exec", PR(kind, "exec:\n  command:\n  - /bin/true\n"))
        add(A, k + "/exec-empty", PR(kind, "exec: {}\n"))
        add(A, k + "/empty", service(container="%s: {}\n" % kind))
        add(A, k + "/periodSeconds-only", PR(kind, "periodSeconds: 5\n"))
        add(A, k + "/two-handlers", PR(kind, "httpGet:\n  path: /\ntcpSocket:\n  port: 8080\n"))
        fs = ["successThreshold", "failureThreshold", "periodSeconds", "timeoutSeconds", "initialDelaySeconds",
              "terminationGracePeriodSeconds"]
        for f in (fs if k == "readiness" else fs[:4]):
            for v in (["0", "1", "2", "-1"] if k == "readiness" else ["0", "2", "-1"]):
                add(A, "%s/%s-%s" % (k, f, v), PR(kind, "httpGet:\n  path: /\n%s: %s\n" % (f, v)))
    add(A, "readiness/periodSeconds-0-successThreshold-1", PR("readinessProbe", "tcpSocket: {}\nperiodSeconds: 0\nsuccessThreshold: 1\n"))
    add(A, "readiness/periodSeconds-0-timeout-5", PR("readinessProbe", "tcpSocket: {}\nperiodSeconds: 0\ntimeoutSeconds: 5\n"))
    add(A, "readiness/named-port-unnamed-container-port", service(
        ports=False, container="ports:\n- containerPort: 8080\nreadinessProbe:\n  httpGet:\n    port: http\n"))
    add(A, "readiness/named-port-named-container-port", service(
        ports=False, container="ports:\n- containerPort: 8080\n  name: http1\nreadinessProbe:\n  httpGet:\n    port: http1\n"))
    add(A, "readiness/no-ports", service(ports=False, container="readinessProbe:\n  httpGet:\n    path: /\n"))
    add(A, "readiness/no-ports-port-9000", service(ports=False, container="readinessProbe:\n  tcpSocket:\n    port: 9000\n"))
    add(A, "revision/readiness-empty", revision().replace("  - image:", "  - readinessProbe: {}\n    image:"))


# ---------------------------------------------------------------- names


def gen_names():
    A = "names"
    for tag, nm in [("ok", "hello"), ("63", "a" * 63), ("64", "a" * 64), ("long-49", "a" * 49), ("long-50", "a" * 50),
                    ("uppercase", "Hello"), ("dots", "hello.world"), ("leading-digit", "1hello"),
                    ("underscore", "hello_world"), ("trailing-dash", "hello-"), ("empty", '""'),
                    ("digits", '"123"'), ("digits-unquoted", "123")]:
        add(A, "service/" + tag, service(name=nm))
        add(A, "configuration/" + tag, configuration(name=nm))
        add(A, "route/" + tag, route("traffic:\n- configurationName: hello\n  percent: 100\n", name=nm))
    for tag, nm in [("ok", "hello-00001"), ("uppercase", "Hello-1"), ("dots", "hello.1"), ("64", "a" * 64)]:
        add(A, "revision/" + tag, revision(name=nm))
    # generateName
    add(A, "generateName/parent-only", service(name=None, meta="generateName: hello-\n"))
    add(A, "generateName/parent-and-name", service(meta="generateName: hello-\n"))
    add(A, "generateName/bad", service(name=None, meta="generateName: Hello_\n"))
    add(A, "generateName/long", service(name=None, meta="generateName: %s\n" % ("a" * 70)))
    add(A, "generateName/neither", service(name=None))
    add(A, "generateName/template", service(tmeta="generateName: hello-\n"))
    add(A, "generateName/template-and-name", service(tmeta="name: hello-v1\ngenerateName: hello-\n"))
    add(A, "generateName/template-bad", service(tmeta="generateName: Bad_\n"))
    add(A, "generateName/parent-and-template-name", service(name=None, meta="generateName: hello-\n", tmeta="name: hello-v1\n"))
    add(A, "generateName/configuration", configuration(name=None, meta="generateName: hello-\n"))
    add(A, "generateName/revision", revision(name=None, meta="generateName: hello-\n"))
    # BYO revision names
    for tag, nm in [("right-prefix", "hello-v1"), ("wrong-prefix", "other-v1"), ("equal", "hello"),
                    ("prefix-no-dash", "hellov1"), ("uppercase", "hello-V1"), ("long", "hello-" + "a" * 60),
                    ("dots", "hello-v1.2")]:
        add(A, "byo/" + tag, service(tmeta="name: %s\n" % nm))
        add(A, "byo/configuration-" + tag, configuration(tmeta="name: %s\n" % nm))
    add(A, "template/namespace-same", service(tmeta="namespace: default\n"))
    add(A, "template/namespace-other", service(tmeta="namespace: other\n"))
    # visibility label
    for tag, v in [("cluster-local", "cluster-local"), ("other", "public"), ("empty", '""'), ("upper", "Cluster-Local")]:
        add(A, "visibility/service/" + tag, service(meta="labels:\n  networking.knative.dev/visibility: %s\n" % v))
        add(A, "visibility/route/" + tag, route("traffic:\n- configurationName: hello\n  percent: 100\n",
                                                  meta="labels:\n  networking.knative.dev/visibility: %s\n" % v))
    add(A, "visibility/template", service(tmeta="labels:\n  networking.knative.dev/visibility: cluster-local\n"))
    add(A, "visibility/old-serving-key", service(meta="labels:\n  serving.knative.dev/visibility: cluster-local\n"))
    # labels and annotations of the Knative groups
    for key in ["serving.knative.dev/creator", "serving.knative.dev/lastModifier", "serving.knative.dev/foo",
                "serving.knative.dev/routes", "serving.knative.dev/rollout-duration", "serving.knative.dev/no-gc",
                "networking.knative.dev/foo", "networking.knative.dev/ingress.class",
                "networking.knative.dev/wildcardDomain", "autoscaling.knative.dev/foo",
                "features.knative.dev/foo", "example.com/foo", "foo"]:
        t = key.replace("/", "_")
        add(A, "annotation/service/" + t, service(meta="annotations:\n  %s: x\n" % key))
        add(A, "annotation/template/" + t, service(tmeta="annotations:\n  %s: x\n" % key))
    add(A, "annotation/service/creator-admin", service(meta="annotations:\n  serving.knative.dev/creator: admin\n"))
    add(A, "annotation/rollout-duration/ok", service(meta="annotations:\n  serving.knative.dev/rollout-duration: 120s\n"))
    add(A, "annotation/rollout-duration/negative", service(meta="annotations:\n  serving.knative.dev/rollout-duration: -1s\n"))
    add(A, "annotation/rollout-duration/route", route("traffic:\n- configurationName: hello\n  percent: 100\n",
                                                       meta="annotations:\n  serving.knative.dev/rollout-duration: 5m\n"))
    for key in ["serving.knative.dev/service", "serving.knative.dev/route", "serving.knative.dev/configuration",
                "serving.knative.dev/revision", "serving.knative.dev/foo", "networking.knative.dev/foo",
                "example.com/a"]:
        t = key.replace("/", "_")
        add(A, "label/service/" + t, service(meta="labels:\n  %s: x\n" % key))
        add(A, "label/template/" + t, service(tmeta="labels:\n  %s: x\n" % key))
        add(A, "label/configuration/" + t, configuration(meta="labels:\n  %s: x\n" % key))
    add(A, "label/configuration/service-owned-bad-template", configuration(
        meta="labels:\n  serving.knative.dev/service: hello\n", pod="restartPolicy: Always\n"))
    add(A, "label/bad-key", service(meta="labels:\n  \"bad key\": x\n"))
    add(A, "label/bad-value", service(meta="labels:\n  a: \"bad value\"\n"))
    add(A, "annotation/bad-key", service(meta="annotations:\n  \"bad key\": x\n"))
    # the API server's own metadata checks
    add(A, "label/value-63", service(meta="labels:\n  a: %s\n" % ("v" * 63)))
    add(A, "label/value-64", service(meta="labels:\n  a: %s\n" % ("v" * 64)))
    add(A, "label/bad-prefix", service(meta="labels:\n  Example_Com/a: x\n"))
    add(A, "label/empty-value", service(meta="labels:\n  a: \"\"\n"))
    add(A, "label/template-bad-value", service(tmeta="labels:\n  a: \"bad value\"\n"))
    add(A, "annotation/upper-key", service(meta="annotations:\n  Example.com/Key: x\n"))
    add(A, "annotation/name-64", service(meta="annotations:\n  example.com/%s: x\n" % ("k" * 64)))
    add(A, "annotation/template-bad-key", service(tmeta="annotations:\n  \"bad key\": x\n"))
    add(A, "annotation/value-spaces", service(meta="annotations:\n  example.com/a: \" x \"\n"))


# ---------------------------------------------------------------- annotations


AS = "autoscaling.knative.dev/"


def gen_annotations():
    A = "annotations"
    vals = {
        "class": ["kpa.autoscaling.knative.dev", "hpa.autoscaling.knative.dev", "custom.example.com", "kpa", '""'],
        "metric": ["concurrency", "rps", "cpu", "memory", "custom", '""'],
        "target": ["0.01", "100", "0", "-1", "abc", "NaN", "Inf", "+Inf", "0x1p-2", "1e3", " 10", "10 ", "1_0"],
        "target-utilization-percentage": ["70", "1", "100", "0", "101", "0.5", "abc", "NaN"],
        "window": ["60s", "6s", "1h", "5s", "1h1s", "60", "abc", "-1s", "1m30s"],
        "panic-window-percentage": ["10", "1", "100", "0.9", "101", "abc", "Inf"],
        "panic-threshold-percentage": ["200", "110", "1000", "109", "1001", "abc", "NaN"],
        "min-scale": ["0", "1", "3", "-1", "abc", "1.5", "2147483648", " 1", "0x10"],
        "max-scale": ["0", "10", "-1", "abc", "1.5", "1000", "1001"],
        "initial-scale": ["0", "1", "5", "-1", "abc"],
        "scale-down-delay": ["0s", "15m", "1h", "1h1s", "-1s", "abc", "10"],
        "activation-scale": ["1", "2", "0", "-1", "abc"],
        "scale-to-zero-pod-retention-period": ["0s", "1m", "1h1s", "-1s", "abc"],
        "target-burst-capacity": ["200", "0", "-1", "-2", "abc", "1.5", "NaN"],
        "metric-aggregation-algorithm": ["linear", "weightedExponential", "Linear", "bogus", '""'],
    }
    for key, vs in vals.items():
        for v in vs:
            t = v.strip('"') or "empty"
            t = t.replace(" ", "SP")
            raw = "" if v == '""' else v
            if v in vs[:4] or raw in ("abc", ""):
                # quoted: the value must reach Knative, not stop at the decode
                add(A, "template/%s/%s" % (key, t), service(tmeta="annotations:\n  %s%s: %s\n" % (AS, key, json.dumps(raw))))
            add(A, "check/%s/%s" % (key, t), check="annotations", annotations={AS + key: raw})
    # interplay
    pairs = [
        ("min-above-max", {"min-scale": "5", "max-scale": "2"}),
        ("min-equal-max", {"min-scale": "2", "max-scale": "2"}),
        ("max-zero-min", {"min-scale": "5", "max-scale": "0"}),
        ("hpa-cpu", {"class": "hpa.autoscaling.knative.dev", "metric": "cpu"}),
        ("hpa-memory", {"class": "hpa.autoscaling.knative.dev", "metric": "memory"}),
        ("hpa-concurrency", {"class": "hpa.autoscaling.knative.dev", "metric": "concurrency"}),
        ("hpa-rps", {"class": "hpa.autoscaling.knative.dev", "metric": "rps"}),
        ("hpa-custom", {"class": "hpa.autoscaling.knative.dev", "metric": "custom"}),
        ("kpa-cpu", {"class": "kpa.autoscaling.knative.dev", "metric": "cpu"}),
        ("kpa-memory", {"class": "kpa.autoscaling.knative.dev", "metric": "memory"}),
        ("hpa-window", {"class": "hpa.autoscaling.knative.dev", "window": "60s"}),
        ("hpa-target-cpu-50", {"class": "hpa.autoscaling.knative.dev", "metric": "cpu", "target": "50"}),
        ("custom-class-window", {"class": "custom.example.com", "window": "5s"}),
        ("custom-class-metric", {"class": "custom.example.com", "metric": "whatever"}),
        ("hpa-algorithm", {"class": "hpa.autoscaling.knative.dev", "metric-aggregation-algorithm": "bogus"}),
        ("kpa-algorithm-bogus", {"class": "kpa.autoscaling.knative.dev", "metric-aggregation-algorithm": "bogus"}),
        ("kpa-algorithm-linear", {"class": "kpa.autoscaling.knative.dev", "metric-aggregation-algorithm": "linear"}),
        ("kpa-algorithm-old-key", {"class": "kpa.autoscaling.knative.dev", "metricAggregationAlgorithm": "bogus"}),
        ("activation-above-min", {"min-scale": "1", "activation-scale": "3"}),
        ("activation-above-max", {"max-scale": "2", "activation-scale": "3"}),
        ("minScale-old-key", {"minScale": "2"}),
        ("minScale-both-keys", {"minScale": "2", "min-scale": "3"}),
        ("maxScale-old-key-bad", {"maxScale": "x"}),
        ("initial-zero-default-config", {"initial-scale": "0"}),
    ]
    for tag, anns in pairs:
        full = {AS + k: v for k, v in anns.items()}
        body = "annotations:\n" + "".join("  %s: \"%s\"\n" % (k, v) for k, v in sorted(full.items()))
        add(A, "template/pair/" + tag, service(tmeta=body))
        add(A, "check/pair/" + tag, check="annotations", annotations=full)
    # with config-autoscaler changes
    add(A, "check/config/max-scale-limit-over", check="annotations", annotations={AS + "max-scale": "20"},
        config={"config-autoscaler": {"max-scale-limit": "10", "max-scale": "10"}})
    add(A, "check/config/max-scale-limit-zero-max", check="annotations", annotations={AS + "max-scale": "0"},
        config={"config-autoscaler": {"max-scale-limit": "10", "max-scale": "10"}})
    add(A, "check/config/max-scale-limit-ok", check="annotations", annotations={AS + "max-scale": "5"},
        config={"config-autoscaler": {"max-scale-limit": "10", "max-scale": "10"}})
    add(A, "check/config/initial-zero-not-allowed", check="annotations", annotations={AS + "initial-scale": "0"},
        config={"config-autoscaler": {"allow-zero-initial-scale": "false"}})
    add(A, "check/config/initial-zero-allowed", check="annotations", annotations={AS + "initial-scale": "0"},
        config={"config-autoscaler": {"allow-zero-initial-scale": "true"}})
    add(A, "template/config/max-scale-limit-over", service(tmeta="annotations:\n  %smax-scale: \"20\"\n" % AS),
        config={"config-autoscaler": {"max-scale-limit": "10", "max-scale": "10"}})
    add(A, "template/config/initial-zero-not-allowed", service(tmeta="annotations:\n  %sinitial-scale: \"0\"\n" % AS))
    add(A, "check/empty", check="annotations", annotations={})
    add(A, "check/unknown-key", check="annotations", annotations={AS + "bogus": "1"})
    # the same on the Service's own metadata (not the template)
    for key, v in [("min-scale", "abc"), ("max-scale", "-1"), ("window", "1s"), ("class", "bogus"), ("min-scale", "1")]:
        add(A, "service-metadata/%s-%s" % (key, v), service(meta="annotations:\n  %s%s: \"%s\"\n" % (AS, key, v)))
    add(A, "configuration-metadata/min-scale-abc", configuration(meta="annotations:\n  %smin-scale: abc\n" % AS))
    add(A, "revision/min-scale-abc", revision(meta="annotations:\n  %smin-scale: abc\n" % AS))
    add(A, "revision/max-scale-10", revision(meta="annotations:\n  %smax-scale: \"10\"\n" % AS))
    # queue sidecar resources and progress deadline
    Q = "queue.sidecar.serving.knative.dev/"
    for key, vs in [("cpu-resource-request", ["100m", "abc", "-1", "1"]),
                    ("cpu-resource-limit", ["1", "x"]),
                    ("memory-resource-request", ["128Mi", "1Gi", "lots"]),
                    ("memory-resource-limit", ["1Gi", "-1Gi"]),
                    ("ephemeral-storage-resource-request", ["1Gi", "x"]),
                    ("ephemeral-storage-resource-limit", ["2Gi"]),
                    ("resource-percentage", ["10", "0", "101", "abc", "50.5"]),
                    ("resourcePercentage", ["10", "abc"])]:
        for v in vs:
            add(A, "queue-sidecar/%s/%s" % (key, v), service(tmeta="annotations:\n  %s%s: \"%s\"\n" % (Q, key, v)))
    for v in ["600s", "10m", "0s", "-1s", "abc", "1h"]:
        add(A, "progress-deadline/" + v, service(tmeta="annotations:\n  serving.knative.dev/progress-deadline: \"%s\"\n" % v))
        add(A, "progress-deadline/service-metadata-" + v,
            service(meta="annotations:\n  serving.knative.dev/progress-deadline: \"%s\"\n" % v))


# ---------------------------------------------------------------- traffic


def gen_traffic():
    A = "traffic"
    T = lambda t, **kw: service(spec="traffic:\n" + t, **kw)
    add(A, "latest-100", T("- latestRevision: true\n  percent: 100\n"))
    add(A, "latest-no-percent", T("- latestRevision: true\n"))
    add(A, "latest-50", T("- latestRevision: true\n  percent: 50\n"))
    add(A, "split-50-50", T("- latestRevision: true\n  percent: 50\n- revisionName: hello-00001\n  percent: 50\n"))
    add(A, "split-sum-99", T("- latestRevision: true\n  percent: 49\n- revisionName: hello-00001\n  percent: 50\n"))
    add(A, "split-sum-101", T("- latestRevision: true\n  percent: 51\n- revisionName: hello-00001\n  percent: 50\n"))
    add(A, "percent-negative", T("- latestRevision: true\n  percent: -1\n"))
    add(A, "percent-101", T("- latestRevision: true\n  percent: 101\n"))
    add(A, "percent-0-tagged", T("- latestRevision: true\n  percent: 100\n- revisionName: hello-00001\n  percent: 0\n  tag: old\n"))
    add(A, "percent-zero-all", T("- latestRevision: true\n  percent: 0\n"))
    add(A, "empty-list", service(spec="traffic: []\n"))
    add(A, "latest-false-no-name", T("- latestRevision: false\n  percent: 100\n"))
    add(A, "latest-and-revisionName", T("- latestRevision: true\n  revisionName: hello-00001\n  percent: 100\n"))
    add(A, "latest-false-revisionName", T("- latestRevision: false\n  revisionName: hello-00001\n  percent: 100\n"))
    add(A, "revisionName-only", T("- revisionName: hello-00001\n  percent: 100\n"))
    add(A, "configurationName-in-service", T("- configurationName: hello\n  percent: 100\n"))
    add(A, "revisionName-bad", T("- revisionName: Hello_1\n  percent: 100\n"))
    add(A, "nothing", T("- percent: 100\n"))
    add(A, "url-set", T("- latestRevision: true\n  percent: 100\n  url: http://x.example.com\n"))
    add(A, "two-latest", T("- latestRevision: true\n  percent: 50\n- latestRevision: true\n  percent: 50\n"))
    for tag, v in [("valid", "canary"), ("empty", '""'), ("upper", "Canary"), ("underscore", "my_tag"),
                   ("dots", "a.b"), ("long", "t" * 64), ("leading-digit", "1a"), ("dash-end", "a-"),
                   ("63", "t" * 63), ("latest", "latest")]:
        add(A, "tag/" + tag, T("- latestRevision: true\n  percent: 100\n  tag: %s\n" % v))
    add(A, "tag/duplicate", T("- latestRevision: true\n  percent: 50\n  tag: a\n- revisionName: hello-00001\n  percent: 50\n  tag: a\n"))
    add(A, "tag/two-distinct", T("- latestRevision: true\n  percent: 50\n  tag: a\n- revisionName: hello-00001\n  percent: 50\n  tag: b\n"))
    add(A, "tag/long-service-name", T("- latestRevision: true\n  percent: 100\n  tag: canary\n", name="s" * 60))
    add(A, "byo-name-in-traffic", T("- revisionName: hello-v1\n  percent: 100\n", tmeta="name: hello-v1\n"))
    add(A, "byo-latest-in-traffic", T("- latestRevision: true\n  percent: 100\n", tmeta="name: hello-v1\n"))
    # Route objects
    R = lambda t, **kw: route("traffic:\n" + t, **kw)
    add(A, "route/config-100", R("- configurationName: hello\n  percent: 100\n"))
    add(A, "route/config-latest", R("- configurationName: hello\n  latestRevision: true\n  percent: 100\n"))
    add(A, "route/config-latest-false", R("- configurationName: hello\n  latestRevision: false\n  percent: 100\n"))
    add(A, "route/revision-100", R("- revisionName: hello-00001\n  percent: 100\n"))
    add(A, "route/both-names", R("- revisionName: hello-00001\n  configurationName: hello\n  percent: 100\n"))
    add(A, "route/neither", R("- percent: 100\n"))
    add(A, "route/latest-only", R("- latestRevision: true\n  percent: 100\n"))
    add(A, "route/revision-latest-true", R("- revisionName: hello-00001\n  latestRevision: true\n  percent: 100\n"))
    add(A, "route/sum-90", R("- configurationName: hello\n  percent: 90\n"))
    add(A, "route/no-traffic", route(""))
    add(A, "route/empty-traffic", route("traffic: []\n"))
    add(A, "route/tag-dup", R("- configurationName: hello\n  percent: 50\n  tag: a\n- revisionName: hello-00001\n  percent: 50\n  tag: a\n"))
    add(A, "route/tag-bad", R("- configurationName: hello\n  percent: 100\n  tag: A_B\n"))
    add(A, "route/config-bad-name", R("- configurationName: Hello_World\n  percent: 100\n"))
    add(A, "route/url", R("- configurationName: hello\n  percent: 100\n  url: http://x\n"))


# ---------------------------------------------------------------- timeouts


def gen_timeouts():
    A = "timeouts"
    for f in ["timeoutSeconds", "responseStartTimeoutSeconds", "idleTimeoutSeconds"]:
        for tag, v in [("0", "0"), ("1", "1"), ("-1", "-1"), ("300", "300"), ("600", "600"), ("601", "601"),
                       ("huge", "9223372036854775807"), ("3600", "3600")]:
            add(A, "%s/%s" % (f, tag), service(pod="%s: %s\n" % (f, v)))
    add(A, "responseStart-above-timeout", service(pod="timeoutSeconds: 100\nresponseStartTimeoutSeconds: 200\n"))
    add(A, "responseStart-equal-timeout", service(pod="timeoutSeconds: 100\nresponseStartTimeoutSeconds: 100\n"))
    add(A, "idle-above-timeout", service(pod="timeoutSeconds: 100\nidleTimeoutSeconds: 200\n"))
    add(A, "idle-below-timeout", service(pod="timeoutSeconds: 100\nidleTimeoutSeconds: 50\n"))
    add(A, "timeout-0-responseStart-10", service(pod="timeoutSeconds: 0\nresponseStartTimeoutSeconds: 10\n"))
    add(A, "timeout-below-default-responseStart", service(pod="timeoutSeconds: 10\n"))
    mx = {"config-defaults": {"max-revision-timeout-seconds": "1200"}}
    add(A, "max-1200/timeout-900", service(pod="timeoutSeconds: 900\n"), config=mx)
    add(A, "max-1200/timeout-1201", service(pod="timeoutSeconds: 1201\n"), config=mx)
    add(A, "max-1200/idle-1000", service(pod="idleTimeoutSeconds: 1000\n"), config=mx)
    add(A, "max-1200/responseStart-1000", service(pod="responseStartTimeoutSeconds: 1000\n"), config=mx)
    add(A, "default-timeout-100/base", service(), config={"config-defaults": {"revision-timeout-seconds": "100"}})
    add(A, "default-timeout-100/responseStart-200", service(pod="responseStartTimeoutSeconds: 200\n"),
        config={"config-defaults": {"revision-timeout-seconds": "100"}})
    # containerConcurrency
    for tag, v in [("0", "0"), ("1", "1"), ("1000", "1000"), ("1001", "1001"), ("-1", "-1"), ("100", "100")]:
        add(A, "containerConcurrency/" + tag, service(pod="containerConcurrency: %s\n" % v))
    add(A, "containerConcurrency/0-zero-disallowed", service(pod="containerConcurrency: 0\n"),
        config={"config-defaults": {"allow-container-concurrency-zero": "false"}})
    add(A, "containerConcurrency/1-zero-disallowed", service(pod="containerConcurrency: 1\n"),
        config={"config-defaults": {"allow-container-concurrency-zero": "false"}})
    add(A, "containerConcurrency/base-zero-disallowed", service(),
        config={"config-defaults": {"allow-container-concurrency-zero": "false"}})
    add(A, "containerConcurrency/base-zero-disallowed-default-5", service(),
        config={"config-defaults": {"allow-container-concurrency-zero": "false", "container-concurrency": "5"}})
    add(A, "containerConcurrency/50-max-limit-10", service(pod="containerConcurrency: 50\n"),
        config={"config-defaults": {"container-concurrency-max-limit": "10"}})
    add(A, "containerConcurrency/10-max-limit-10", service(pod="containerConcurrency: 10\n"),
        config={"config-defaults": {"container-concurrency-max-limit": "10"}})
    add(A, "containerConcurrency/2000-max-limit-5000", service(pod="containerConcurrency: 2000\n"),
        config={"config-defaults": {"container-concurrency-max-limit": "5000"}})
    add(A, "revision/timeout-601", revision(spec_extra="timeoutSeconds: 601\n"))
    add(A, "revision/containerConcurrency-1001", revision(spec_extra="containerConcurrency: 1001\n"))
    add(A, "configuration/idle-above", configuration(pod="timeoutSeconds: 10\nidleTimeoutSeconds: 20\n"))


# ---------------------------------------------------------------- config maps


def gen_configmaps():
    A = "configmaps"

    def cm(name, key, values):
        for v in values:
            t = v if v else "empty"
            t = t.replace(" ", "SP").replace("/", "_").replace("\n", "NL")
            add(A, "%s/%s/%s" % (name, key, t), check="configmap", name=name, data={key: v})

    for n in ["config-autoscaler", "config-defaults", "config-features", "config-network"]:
        add(A, n + "/empty", check="configmap", name=n, data={})
        add(A, n + "/unknown-key", check="configmap", name=n, data={"bogus-key": "x"})
        add(A, n + "/example-only", check="configmap", name=n, data={"_example": "################################\n# docs\n"})
    bools = ["true", "false", "True", "FALSE", "1", "0", "t", "f", "T", "F", "TRUE", "yes", "on", "enabled", "", " true"]
    # config-autoscaler
    N = "config-autoscaler"
    cm(N, "enable-scale-to-zero", bools)
    cm(N, "allow-zero-initial-scale", ["true", "false", "yes"])
    cm(N, "pod-autoscaler-class", ["kpa.autoscaling.knative.dev", "hpa.autoscaling.knative.dev", "custom", ""])
    cm(N, "max-scale-up-rate", ["1000", "1.5", "1", "0.5", "0", "-1", "abc", "NaN", "Inf"])
    cm(N, "max-scale-down-rate", ["2", "1", "1.5", "0.5", "0", "abc"])
    cm(N, "container-concurrency-target-percentage", ["70", "0.5", "100", "101", "0", "abc", "1e2"])
    cm(N, "container-concurrency-target-default", ["100", "0.01", "0", "-1", "abc"])
    cm(N, "requests-per-second-target-default", ["200", "0.01", "0", "-1", "abc"])
    cm(N, "target-burst-capacity", ["211", "0", "-1", "-2", "1.5", "abc"])
    cm(N, "panic-window-percentage", ["10", "1", "100", "0.5", "101", "abc"])
    cm(N, "panic-threshold-percentage", ["200", "110", "1000", "100", "1001", "abc"])
    cm(N, "activator-capacity", ["100", "1", "0.5", "0", "-1", "abc"])
    cm(N, "initial-scale", ["1", "0", "5", "-1", "abc", "1.5"])
    cm(N, "min-scale", ["0", "1", "-1", "abc"])
    cm(N, "max-scale", ["0", "10", "-1", "abc"])
    cm(N, "max-scale-limit", ["0", "10", "-1", "abc"])
    cm(N, "stable-window", ["60s", "6s", "5s", "1h", "1h1s", "1m30s", "60", "abc", "5999ms", "6500ms"])
    cm(N, "scale-down-delay", ["0s", "15m", "1h", "1h1s", "-1s", "abc", "1500ms"])
    cm(N, "scale-to-zero-grace-period", ["30s", "0s", "-1s", "6s", "abc"])
    cm(N, "scale-to-zero-pod-retention-period", ["0s", "1m", "-1s", "abc"])
    add(A, N + "/pair/min-above-max", check="configmap", name=N, data={"min-scale": "5", "max-scale": "2"})
    add(A, N + "/pair/max-above-limit", check="configmap", name=N, data={"max-scale": "20", "max-scale-limit": "10"})
    add(A, N + "/pair/initial-zero-not-allowed", check="configmap", name=N,
        data={"initial-scale": "0", "allow-zero-initial-scale": "false"})
    add(A, N + "/pair/initial-zero-allowed", check="configmap", name=N,
        data={"initial-scale": "0", "allow-zero-initial-scale": "true"})
    add(A, N + "/pair/target-default-with-tbc", check="configmap", name=N,
        data={"container-concurrency-target-default": "10", "target-burst-capacity": "0"})
    add(A, N + "/pair/stable-6s-panic-1", check="configmap", name=N,
        data={"stable-window": "6s", "panic-window-percentage": "1"})
    add(A, N + "/pair/stable-6s-panic-17", check="configmap", name=N,
        data={"stable-window": "6s", "panic-window-percentage": "17"})
    add(A, N + "/pair/scale-to-zero-off-min-0", check="configmap", name=N,
        data={"enable-scale-to-zero": "false", "min-scale": "0"})
    # config-defaults
    N = "config-defaults"
    for k in ["revision-timeout-seconds", "max-revision-timeout-seconds", "revision-idle-timeout-seconds",
              "revision-response-start-timeout-seconds"]:
        cm(N, k, ["300", "0", "-1", "601", "1200", "abc", "1.5", "1e2"])
    cm(N, "container-concurrency", ["0", "10", "1000", "1001", "-1", "abc"])
    cm(N, "container-concurrency-max-limit", ["1000", "1", "0", "-1", "2147483648", "abc"])
    cm(N, "allow-container-concurrency-zero", ["true", "false", "yes", ""])
    cm(N, "enable-service-links", ["true", "false", "default", "True", "yes", ""])
    for k in ["revision-cpu-request", "revision-memory-request", "revision-ephemeral-storage-request",
              "revision-cpu-limit", "revision-memory-limit", "revision-ephemeral-storage-limit"]:
        cm(N, k, ["100m", "1Gi", "abc", "-1", ""] if k.startswith("revision-cpu") else ["1Gi", "abc"])
    cm(N, "container-name-template", ["user-container", "{{.Name}}", "{{.Bogus}}", "{{", "Bad_Name", ""])
    cm(N, "init-container-name-template", ["init-container", "{{.Name}}-init", "{{"])
    add(A, N + "/pair/timeout-above-max", check="configmap", name=N,
        data={"revision-timeout-seconds": "700", "max-revision-timeout-seconds": "600"})
    add(A, N + "/pair/timeout-700-max-1200", check="configmap", name=N,
        data={"revision-timeout-seconds": "700", "max-revision-timeout-seconds": "1200"})
    add(A, N + "/pair/response-above-timeout", check="configmap", name=N,
        data={"revision-timeout-seconds": "100", "revision-response-start-timeout-seconds": "200"})
    add(A, N + "/pair/idle-above-timeout", check="configmap", name=N,
        data={"revision-timeout-seconds": "100", "revision-idle-timeout-seconds": "200"})
    add(A, N + "/pair/cc-above-max", check="configmap", name=N,
        data={"container-concurrency": "50", "container-concurrency-max-limit": "10"})
    # config-features: every key, every state, and odd values
    N = "config-features"
    keys = ["multi-container", "multi-container-probing", "kubernetes.podspec-affinity", "kubernetes.podspec-dnsconfig",
            "kubernetes.podspec-dnspolicy", "kubernetes.podspec-volumes-emptydir", "kubernetes.podspec-fieldref",
            "kubernetes.podspec-hostaliases", "kubernetes.podspec-hostipc", "kubernetes.podspec-hostnetwork",
            "kubernetes.podspec-hostpid", "kubernetes.podspec-volumes-hostpath", "kubernetes.podspec-volumes-csi",
            "kubernetes.podspec-init-containers", "kubernetes.podspec-volumes-mount-propagation",
            "kubernetes.podspec-nodeselector", "kubernetes.podspec-persistent-volume-claim",
            "kubernetes.podspec-persistent-volume-write", "kubernetes.podspec-priorityclassname",
            "kubernetes.podspec-runtimeclassname", "kubernetes.podspec-schedulername",
            "kubernetes.podspec-securitycontext", "kubernetes.podspec-shareprocessnamespace",
            "kubernetes.podspec-tolerations", "kubernetes.podspec-topologyspreadconstraints",
            "kubernetes.podspec-volumes-ephemeral", "kubernetes.podspec-volumes-image",
            "kubernetes.containerspec-addcapabilities", "queueproxy.mount-podinfo", "queueproxy.resource-defaults",
            "tag-header-based-routing", "autodetect-http2", "secure-pod-defaults"]
    for i, k in enumerate(keys):
        cm(N, k, ["Enabled", "Disabled", "Allowed", "enabled", "bogus"] if i % 6 == 0 else ["Allowed", "bogus"])
    cm(N, "secure-pod-defaults", ["AllowRootBounded", "allowrootbounded"])
    # config-network
    N = "config-network"
    cm(N, "ingress-class", ["kourier.ingress.networking.knative.dev", ""])
    cm(N, "ingress.class", ["istio.ingress.networking.knative.dev"])
    cm(N, "certificate-class", ["cert-manager.certificate.networking.knative.dev"])
    cm(N, "domain-template", ["{{.Name}}.{{.Namespace}}.{{.Domain}}", "{{.Name}}-{{.Namespace}}.{{.Domain}}",
                              "{{.Name}}.{{.Domain}}", "{{.Name}}", "{{.Bogus}}", "{{", "{{.Name}}.{{.Namespace}}",
                              "{{.Name}}.{{.Namespace}}.{{.Domain}}.", ""])
    cm(N, "tag-template", ["{{.Tag}}-{{.Name}}", "{{.Name}}", "{{.Tag}}", "{{", "{{.Bogus}}", ""])
    cm(N, "rollout-duration", ["0", "120", "-1", "abc", "1.5", "120s"])
    cm(N, "autocreate-cluster-domain-claims", ["true", "false", "yes", "abc"])
    cm(N, "enable-mesh-pod-addressability", ["true", "false", "yes"])
    cm(N, "default-external-scheme", ["http", "https", "HTTPS", "ftp", ""])
    cm(N, "http-protocol", ["enabled", "redirected", "disabled", "Redirected", "bogus", ""])
    cm(N, "external-domain-tls", ["enabled", "disabled", "Enabled", "bogus"])
    cm(N, "auto-tls", ["enabled", "disabled", "bogus"])
    cm(N, "cluster-local-domain-tls", ["enabled", "disabled", "bogus"])
    cm(N, "system-internal-tls", ["enabled", "disabled", "bogus"])
    cm(N, "internal-encryption", ["true", "false", "yes"])
    cm(N, "mesh-compatibility-mode", ["auto", "enabled", "disabled", "bogus"])
    for tag, v in [("empty-object", "{}"), ("matchLabels", "matchLabels:\n  a: b\n"), ("bad-yaml", "{bad"),
                   ("bad-operator", "matchExpressions:\n- key: a\n  operator: Bogus\n"),
                   ("unknown-field", "matchLabel:\n  a: b\n")]:
        add(A, "%s/namespace-wildcard-cert-selector/%s" % (N, tag), check="configmap", name=N,
            data={"namespace-wildcard-cert-selector": v})


# ---------------------------------------------------------------- update


def gen_update():
    A = "update"
    base = service()
    add(A, "unchanged", base, op="update", old=base)
    add(A, "image-changed", service(image="ghcr.io/knserve/hello:2.0"), op="update", old=base)
    add(A, "annotation-added", service(meta="annotations:\n  example.com/a: b\n"), op="update", old=base)
    byo1 = service(tmeta="name: hello-v1\n")
    add(A, "byo/unchanged", byo1, op="update", old=byo1)
    add(A, "byo/spec-changed-same-name", service(tmeta="name: hello-v1\n", image="ghcr.io/knserve/hello:2.0"),
        op="update", old=byo1)
    add(A, "byo/spec-changed-new-name", service(tmeta="name: hello-v2\n", image="ghcr.io/knserve/hello:2.0"),
        op="update", old=byo1)
    add(A, "byo/only-name-changed", service(tmeta="name: hello-v2\n"), op="update", old=byo1)
    add(A, "byo/annotation-changed-same-name", service(tmeta="name: hello-v1\nannotations:\n  example.com/a: b\n"),
        op="update", old=byo1)
    add(A, "byo/label-changed-same-name", service(tmeta="name: hello-v1\nlabels:\n  a: b\n"),
        op="update", old=byo1)
    add(A, "byo/name-removed", service(image="ghcr.io/knserve/hello:2.0"), op="update", old=byo1)
    add(A, "byo/traffic-changed-same-name", service(tmeta="name: hello-v1\n",
                                                    spec="traffic:\n- latestRevision: true\n  percent: 100\n  tag: t\n"),
        op="update", old=byo1)
    add(A, "byo/configuration-spec-changed-same-name",
        configuration(tmeta="name: hello-v1\n", image="ghcr.io/knserve/hello:2.0"),
        op="update", old=configuration(tmeta="name: hello-v1\n"))
    add(A, "byo/configuration-unchanged", configuration(tmeta="name: hello-v1\n"),
        op="update", old=configuration(tmeta="name: hello-v1\n"))
    add(A, "creator/changed", service(meta="annotations:\n  serving.knative.dev/creator: mallory\n"), op="update", old=base)
    add(A, "creator/same", service(meta="annotations:\n  serving.knative.dev/creator: admin\n"), op="update", old=base)
    add(A, "lastModifier/changed-spec-unchanged", service(meta="annotations:\n  serving.knative.dev/lastModifier: mallory\n"),
        op="update", old=base)
    add(A, "lastModifier/changed-spec-changed", service(meta="annotations:\n  serving.knative.dev/lastModifier: mallory\n",
                                                       image="ghcr.io/knserve/hello:2.0"), op="update", old=base)
    add(A, "revision/spec-changed", revision(image="ghcr.io/knserve/hello:2.0"), op="update", old=revision())
    add(A, "revision/unchanged", revision(), op="update", old=revision())
    add(A, "revision/annotation-changed", revision(meta="annotations:\n  example.com/a: b\n"), op="update", old=revision())
    add(A, "route/changed", route("traffic:\n- configurationName: hello\n  percent: 100\n  tag: t\n"),
        op="update", old=route("traffic:\n- configurationName: hello\n  percent: 100\n"))
    add(A, "route/creator-changed", route("traffic:\n- configurationName: hello\n  percent: 100\n",
                                          meta="annotations:\n  serving.knative.dev/creator: mallory\n"),
        op="update", old=route("traffic:\n- configurationName: hello\n  percent: 100\n"))
    add(A, "invalid-new", service(pod="restartPolicy: Always\n"), op="update", old=base)
    add(A, "decode-error-new", service(pod="containerconcurrency: 1\n"), op="update", old=base)
    add(A, "generateName-old", service(name=None, meta="generateName: hello-\n", image="ghcr.io/knserve/hello:2.0"),
        op="update", old=service(name=None, meta="generateName: hello-\n"))
    # a flag turned off after the object was made
    ns = service(pod="nodeSelector:\n  a: b\n")
    add(A, "flag-off/unchanged", ns, op="update", old=ns)
    add(A, "flag-on/unchanged", ns, op="update", old=ns, config=featk("kubernetes.podspec-nodeselector", "Enabled"))
    add(A, "timeout/raised", service(pod="timeoutSeconds: 400\n"), op="update", old=service(pod="timeoutSeconds: 300\n"))
    add(A, "service-to-cluster-local", service(meta="labels:\n  networking.knative.dev/visibility: cluster-local\n"),
        op="update", old=base)


# ---------------------------------------------------------------- kinds


def gen_kinds():
    A = "kinds"
    add(A, "configuration/base", configuration())
    add(A, "configuration/restartPolicy", configuration(pod="restartPolicy: Always\n"))
    add(A, "configuration/traffic-field", configuration(spec="traffic: []\n"))
    add(A, "configuration/no-template",
        "apiVersion: serving.knative.dev/v1\nkind: Configuration\nmetadata:\n  name: hello\nspec: {}\n")
    add(A, "configuration/queue-proxy", configuration(cname="queue-proxy"))
    add(A, "service/no-spec", "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: hello\n")
    add(A, "service/empty-spec", "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: hello\nspec: {}\n")
    add(A, "service/empty-template",
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: hello\nspec:\n  template: {}\n")
    add(A, "revision/base", revision())
    add(A, "revision/no-containers",
        "apiVersion: serving.knative.dev/v1\nkind: Revision\nmetadata:\n  name: hello-00001\nspec: {}\n")
    add(A, "revision/timeout", revision(spec_extra="timeoutSeconds: 60\n"))
    add(A, "revision/unknown-field", revision(spec_extra="traffic: []\n"))
    add(A, "revision/template-field", revision(spec_extra="template: {}\n"))
    add(A, "revision/hostNetwork", revision(pod="hostNetwork: true\n"))
    add(A, "revision/two-containers", revision(containers=(
        "- image: %s\n  name: a\n  ports:\n  - containerPort: 8080\n- image: %s\n  name: b\n" % (IMAGE, IMAGE))))
    add(A, "revision/multi-no-port", revision(containers=(
        "- image: %s\n  name: a\n- image: %s\n  name: b\n" % (IMAGE, IMAGE))))
    add(A, "route/base", route("traffic:\n- configurationName: hello\n  percent: 100\n"))
    add(A, "route/template-field", route("template: {}\n"))
    add(A, "route/with-labels", route("traffic:\n- configurationName: hello\n  percent: 100\n",
                                      meta="labels:\n  serving.knative.dev/service: hello\n"))


def main():
    for g in [gen_decode, gen_podspec, gen_features, gen_container, gen_security, gen_images, gen_env,
              gen_volumes, gen_probes, gen_names, gen_annotations, gen_traffic, gen_timeouts, gen_configmaps,
              gen_update, gen_kinds]:
        g()
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.endswith(".jsonl") and old[:-6] not in CASES:
            os.remove(os.path.join(OUT, old))
    total = 0
    for area in sorted(CASES):
        cases = CASES[area]
        with open(os.path.join(OUT, area + ".jsonl"), "w", encoding="utf-8", newline="\n") as f:
            for cid in sorted(cases):
                f.write(json.dumps(cases[cid], sort_keys=True, ensure_ascii=False) + "\n")
        total += len(cases)
        print("%-16s %4d" % (area + ".jsonl", len(cases)))
    print("%-16s %4d" % ("total", total))


if __name__ == "__main__":
    main()
