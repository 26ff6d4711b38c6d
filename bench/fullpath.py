#!/usr/bin/env python3
"""The warm full path (issue 6 §2, perf-anchors §4.1 `our-full`): router → activator →
queue-proxy → backend through the real `knserve serve` binary, against a chain of the
same number of nginx hops, and direct.

    python3 bench/fullpath.py --out DIR [--quick] [--reps N] [--seconds S]
        --tools <bench/tools release dir> --knserve <knserve binary>

Re-runs itself inside `unshare -n` when it is not already in a private network
namespace (needs root). Topology as harness.py (perf-anchors §3.1): wrk/knb-load and
the backends on core 0, the hops alone on core 1, one worker each.

Targets:
  direct              client → knb-backend
  knserve-activator   `knserve serve` (TOKIO_WORKER_THREADS=1) with a Service annotated
                      target-burst-capacity "-1", min-scale 1: the router sends to the
                      activator (SKS Proxy mode) while warm, as Knative does
                      → ingress → activator → queue-proxy → knb-backend (its instance)
  knserve-serve       the same with target-burst-capacity "0": SKS Serve mode
                      → ingress → queue-proxy → knb-backend
  nginx-3hop          one nginx worker, three chained server blocks → knb-backend
  nginx-2hop          the same with two
knserve runs ingress, activator and queue-proxy in one process; its instance's app is
a child process (`taskset -c 0 knb-backend`), so the hop CPU is the knserve process's
own utime+stime, its children excluded. The nginx figures are master + worker.

Each repetition starts every target fresh; each point runs every target in a freshly
shuffled order; added latency and CPU ratios are paired per repetition. Checks: every
request 2xx, and the activator really carries the knserve-activator row's traffic and
not the knserve-serve row's (`knserve_activator_requests_total` on the admin
listener's /metrics: the activator is an in-process hop, so its socket sees nothing).
Writes DIR/fullpath.json and DIR/fullpath.md.
"""

import argparse
import datetime
import http.client
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  (the shared helpers: process CPU, wrk, knb-load, spread)

HOST = "hello.default.example.com"  # the Service below; knb-load sends this Host too
BACKEND = harness.BACKEND  # the standalone knb-backend for direct and the nginx chains
TARGET_P50_US = 300  # issue 6 §3: full warm path added p50 ≤ 300 µs over direct at 5k rps

FULL_POINTS = [
    ("hello c=16", "/", 16, None),
    ("open 5000 rps", "/", 16, 5000),
]
QUICK_POINTS = FULL_POINTS
OPEN = "open 5000 rps"

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fullpath")


def service_yaml(tbc, tools):
    """bench/fullpath/service.yaml for target-burst-capacity `tbc`, its app on the client's core."""
    with open(os.path.join(CONFIG_DIR, "service.yaml")) as f:
        return f.read().format(tbc=tbc, taskset=shutil.which("taskset") or "taskset", core=harness.CLIENT_CPU,
                               backend=os.path.join(os.path.abspath(tools), "knb-backend"))


NGINX_CHAIN = """daemon off; master_process on; worker_processes 1; pid {dir}/nginx-{name}.pid;
error_log {dir}/nginx-{name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {dir}/nb; proxy_temp_path {dir}/np; fastcgi_temp_path {dir}/nf;
  uwsgi_temp_path {dir}/nu; scgi_temp_path {dir}/ns;
{blocks}
}}
"""

NGINX_HOP = """  upstream next{i} {{ server {upstream}; keepalive 256; keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ proxy_pass http://next{i}; proxy_http_version 1.1;
                 proxy_set_header Connection ""; proxy_buffering on; }}
  }}
"""


def nginx_chain(workdir, name, ports):
    """One nginx worker whose server blocks chain ports[0] → ports[1] → … → the backend."""
    upstreams = [f"127.0.0.1:{p}" for p in ports[1:]] + [BACKEND]
    blocks = "".join(NGINX_HOP.format(i=i, port=p, upstream=u)
                     for i, (p, u) in enumerate(zip(ports, upstreams)))
    conf = os.path.join(workdir, f"nginx-{name}.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CHAIN.format(dir=workdir, name=name, blocks=blocks))
    return conf


# ---------------------------------------------------------------- knserve


def get(port, timeout=1.0):
    """GET / with the Service's Host header: the status, or None when nothing answered."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", "/", headers={"Host": HOST})
        status = conn.getresponse().status
        conn.close()
        return status
    except OSError:
        return None


def activator_requests(admin):
    """`knserve_activator_requests_total` from the admin listener's /metrics."""
    conn = http.client.HTTPConnection("127.0.0.1", admin, timeout=5)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    found = re.search(r"^knserve_activator_requests_total (\d+)$", text, re.M)
    return int(found.group(1)) if found else None


class Knserve(harness.Target):
    """`knserve serve` with one Service `hello`; the hop is the knserve process alone."""

    def __init__(self, name, port, args, tbc, workdir):
        super().__init__(name, port, argv=[args.knserve], version=args.knserve_version)
        self.tbc, self.workdir, self.args = tbc, workdir, args
        self.admin_port = None

    def start(self, logdir, cc=0):
        state = tempfile.mkdtemp(prefix=f"{self.name}-", dir=self.workdir)
        service, config = os.path.join(state, "service.yaml"), os.path.join(CONFIG_DIR, "config.yaml")
        with open(service, "w") as f:
            f.write(service_yaml(self.tbc, self.args.tools))
        self.log = os.path.join(logdir, f"{self.name}.log")
        env = {"PATH": os.environ["PATH"], "TOKIO_WORKER_THREADS": "1", "NO_COLOR": "1",
               "KNSERVE_LOG": "warn,knserve=info,knserve_local::server=info"}
        self.proc = subprocess.Popen(
            ["taskset", "-c", harness.SUT_CPU, self.args.knserve, "serve", "--listen",
             f"127.0.0.1:{self.port}", "--state-dir", os.path.join(state, "state"), "--config", config,
             "--apply", service], env=env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline and self.proc.poll() is None:
            if get(self.port) == 200:
                break
            time.sleep(0.05)
        else:
            return False
        # The admin address of this start, for the activator's request count.
        with open(os.path.join(state, "state", "server.json")) as f:
            self.admin_port = int(json.load(f)["admin"].rsplit(":", 1)[1])
        return activator_requests(self.admin_port) is not None

    def stop(self):
        """SIGTERM (knserve stops its instances), then SIGKILL whatever of the tree is left:
        instances run in their own process groups, so a killpg alone would miss them."""
        if not self.proc:
            return
        pids = harness.tree(self.proc.pid)
        try:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        for p in reversed(pids):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        harness.kill_tree(self.proc)
        self.proc = None

    def cpu(self):
        """utime+stime of the knserve process (all its threads), not of its children."""
        if not self.proc:
            return 0.0
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / harness.TICK

    def mem(self, key):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0


def targets(args, workdir):
    out = [harness.Target("direct", 8080, version="knb-backend"),
           Knserve("knserve-activator", 8090, args, "-1", workdir),
           Knserve("knserve-serve", 8091, args, "0", workdir)]
    if shutil.which("nginx"):
        version = harness.sh(["nginx", "-v"]).stderr.strip()
        for name, ports in (("nginx-3hop", [8093, 8094, 8095]), ("nginx-2hop", [8096, 8097])):
            conf = nginx_chain(workdir, name, ports)
            out.append(harness.Target(name, ports[0], ["nginx", "-c", conf, "-e",
                                                       os.path.join(workdir, f"nginx-{name}-error.log")],
                                      version=version))
    return out


# ---------------------------------------------------------------- load


_sh, _measure = harness.sh, harness.measure


def sh_with_host(cmd, **kw):
    """harness.sh, giving wrk the Service's Host header (`-H`): knserve routes by it."""
    if cmd[:4] == ["taskset", "-c", harness.CLIENT_CPU, "wrk"]:
        cmd = cmd[:-1] + ["-H", f"Host: {HOST}", cmd[-1]]
    return _sh(cmd, **kw)


def measure(args, target, point, rep):
    """harness.measure, recording how many requests the activator took during the run."""
    via = activator_requests(target.admin_port) if isinstance(target, Knserve) else 0
    r = _measure(args, target, point, rep)
    if isinstance(target, Knserve):
        r["activator_requests"] = activator_requests(target.admin_port) - via
    return r


# harness.main_phase runs the repetitions (fresh start, idle RSS, shuffled points, peak
# RSS) through these.
harness.sh, harness.measure = sh_with_host, measure


# ---------------------------------------------------------------- summary


def summarise(runs, memory, names, points):
    """harness.summarise, plus CPU per request paired against the nginx chain with as many hops."""
    out = harness.summarise(runs, memory, [], names, points)
    by = {}
    for r in runs:
        by.setdefault((r["point"], r["target"]), {})[r["rep"]] = r
    for p in out["points"]:
        for n, peer in (("knserve-activator", "nginx-3hop"), ("knserve-serve", "nginx-2hop")):
            mine, theirs = by.get((p, n), {}), by.get((p, peer), {})
            if n in out["points"][p]:
                out["points"][p][n]["peer"] = peer
                out["points"][p][n]["cpu_vs_peer"] = harness.spread(
                    [mine[k]["cpu_us_per_req"] / theirs[k]["cpu_us_per_req"] for k in mine
                     if k in theirs and mine[k].get("cpu_us_per_req") and theirs[k].get("cpu_us_per_req")])
    return out


def verdicts(summary):
    """One line per issue-6 target: (text, met or None when not measured)."""
    pts = summary["points"]
    lines = []
    act = pts.get(OPEN, {}).get("knserve-activator", {})
    added = act.get("added_p50_us")
    if added:
        met = added["median"] <= TARGET_P50_US
        lines.append((f"Full warm path (router → activator → queue-proxy) added p50 over direct at 5,000 rps "
                      f"≤ {TARGET_P50_US} µs: **{'met' if met else 'missed'}** — "
                      f"+{harness.fmt(added, 0)} µs (median (min–max) of paired repetitions)", met))
    else:
        lines.append(("Full warm path added p50 at 5,000 rps: **not measured**", None))
    for p in pts:
        e = pts[p].get("knserve-activator", {})
        ratio = e.get("cpu_vs_peer")
        if ratio:
            met = ratio["median"] <= 1.0
            lines.append((f"Full warm path CPU per request ≤ three nginx hops ({p}): "
                          f"**{'met' if met else 'missed'}** — {harness.fmt(e['cpu_us_per_req'], 1)} µs vs "
                          f"{harness.fmt(pts[p]['nginx-3hop']['cpu_us_per_req'], 1)} µs, paired ratio "
                          f"{harness.fmt(ratio, 2)}×", met))
        else:
            lines.append((f"Full warm path CPU per request vs three nginx hops ({p}): **not measured**", None))
    return lines


def markdown(record):
    s, m = record["summary"], record["machine"]
    names, pts = record["targets"], list(record["summary"]["points"])
    fmt = harness.fmt
    L = [f"## Full warm path: router → activator → queue-proxy vs nginx chains — {record['date']}", "",
         f"Machine: {m['cpu_model']}, nproc {m['nproc']}, kernel {m['kernel']}; load before/after: "
         f"{m['loadavg_before']} / {m['loadavg_after']}. Mode: {record['mode']}, {record['config']['reps']} "
         f"repetitions × {record['config']['seconds']} s per point (+{record['config']['warmup']} s warm-up), "
         f"targets interleaved in a shuffled order per point. Git {record['git']}.", "",
         "Topology: wrk/knb-load and the backends (knb-backend, one thread) on core 0; the hops alone on core 1. "
         "`knserve serve` (one process: ingress router, activator, queue-proxy, autoscaler, the hops after the "
         "ingress called in-process; a current-thread tokio runtime with `TOKIO_WORKER_THREADS=1`) with one Service whose instance is a knb-backend child on core 0; "
         "`knserve-activator` has `target-burst-capacity: \"-1\"` (the router sends to the activator while warm), "
         "`knserve-serve` has `\"0\"` (router → queue-proxy). nginx chains: one worker, server blocks proxying to "
         "each other with keep-alive upstreams. Hop CPU: the knserve process's own utime+stime (its app child "
         "excluded), nginx master+worker. Cells: median (min–max); ratios paired per repetition.", "",
         "| target | " + " | ".join(f"{p} rps" for p in pts) + " | "
         + " | ".join(f"{p} hop CPU µs/req" for p in pts) + " | idle RSS MiB |",
         "|---" * (2 * len(pts) + 2) + "|"]
    for n in names:
        e = [s["points"][p][n] for p in pts]
        rss = s["memory"].get(n, {}).get("idle_rss_mib")
        L.append(f"| {n} | " + " | ".join(fmt(x["rps"]) for x in e) + " | "
                 + " | ".join("—" if n == "direct" else fmt(x["cpu_us_per_req"], 1) for x in e)
                 + f" | {fmt(rss, 1) if rss else '—'} |")
    L += ["", "CPU per request vs the nginx chain with the same number of hops (paired):", "",
          "| target | peer | " + " | ".join(pts) + " |", "|---" * (len(pts) + 2) + "|"]
    for n in names:
        e = s["points"][pts[0]][n]
        if "peer" in e:
            L.append(f"| {n} | {e['peer']} | " + " | ".join(fmt(s["points"][p][n]["cpu_vs_peer"], 2) for p in pts) + " |")
    if OPEN in s["points"]:
        L += ["", f"Open loop {OPEN} (knb-load, 16 connections, corrected for coordinated omission), µs:", "",
              "| target | p50 | p99 | p99.9 | added p50 | added p99 | added p99.9 |", "|---" * 7 + "|"]
        for n in names:
            e = s["points"][OPEN][n]
            added = ["—"] * 3 if n == "direct" else [fmt(e[f"added_{q}"]) for q in ("p50_us", "p99_us", "p999_us")]
            L.append(f"| {n} | {fmt(e['p50_us'])} | {fmt(e['p99_us'])} | {fmt(e['p999_us'])} | " + " | ".join(added) + " |")
    L += ["", "Issue 6 targets:", ""] + [f"- {text}" for text, _ in record["verdicts"]]
    L += ["", "Versions: " + "; ".join(f"{k}: {v}" for k, v in record["versions"].items())]
    if record["notes"]:
        L += [""] + [f"- {x}" for x in record["notes"]]
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------- main


def in_private_netns():
    links = [line.split(":")[1].strip() for line in harness.sh(["ip", "-o", "link"]).stdout.splitlines()]
    return links == ["lo"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--seconds", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--idle", type=float, default=2.0)
    ap.add_argument("--knserve", required=True)
    ap.add_argument("--knserve-version", default="")
    ap.add_argument("--tools", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--git", default="?")
    args = ap.parse_args()
    if not in_private_netns():
        if os.environ.get("KNSERVE_FULLPATH_NETNS"):
            sys.exit("not in a private network namespace after unshare -n")
        os.environ["KNSERVE_FULLPATH_NETNS"] = "1"
        os.execvp("unshare", ["unshare", "-n", sys.executable, os.path.abspath(__file__)] + sys.argv[1:])
    args.reps = args.reps or (1 if args.quick else 5)
    args.seconds = args.seconds or (2 if args.quick else 5)
    args.warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)
    if args.quick:
        args.idle = 0.5
    args.knserve, args.tools = os.path.abspath(args.knserve), os.path.abspath(args.tools)
    if args.git == "?":  # as run.sh records it: the commit, +dirty when the data path changed
        repo = os.path.dirname(CONFIG_DIR.rsplit(os.sep, 1)[0])
        head = harness.sh(["git", "-C", repo, "rev-parse", "--short", "HEAD"]).stdout.strip()
        dirty = harness.sh(["git", "-C", repo, "diff", "--quiet", "HEAD", "--", "knserve-core", "knserve-local"])
        args.git = (head + ("+dirty" if dirty.returncode else "")) if head else "?"
    if not args.knserve_version:
        args.knserve_version = harness.sh([args.knserve, "--version"]).stdout.strip()
    points = QUICK_POINTS if args.quick else FULL_POINTS

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["sysctl", "-qw", "net.core.somaxconn=4096"], check=False)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.time()
    mach = harness.machine()
    workdir = tempfile.mkdtemp(prefix="knserve-fullpath-")
    backend = subprocess.Popen(["taskset", "-c", harness.CLIENT_CPU, os.path.join(args.tools, "knb-backend"),
                                "--listen", BACKEND], stdout=subprocess.DEVNULL, start_new_session=True)
    all_targets = targets(args, workdir)
    names = [t.name for t in all_targets]
    notes = [] if "nginx-3hop" in names else ["nginx unavailable on this machine: the chains are not measured"]
    print(f"targets: {', '.join(names)}; {args.reps} reps × {args.seconds} s", flush=True)
    try:
        if not harness.wait_http(8080):
            sys.exit("backend did not start")
        runs, memory = harness.main_phase(args, all_targets, workdir, points)
    finally:
        for t in all_targets:
            t.stop()
        harness.kill_tree(backend)
    mach["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    now = datetime.datetime.now(datetime.timezone.utc)
    notes.append("Open-loop CPU/request counts the warm-up's requests too (all sent requests).")
    record = {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"), "mode": "quick" if args.quick else "full",
        "git": args.git, "machine": mach, "targets": names,
        "config": {"reps": args.reps, "seconds": args.seconds, "warmup": args.warmup,
                   "points": [list(p) for p in points], "client_cpu": harness.CLIENT_CPU,
                   "sut_cpu": harness.SUT_CPU, "host": HOST},
        "versions": {t.name: t.version for t in all_targets} | {
            "wrk": harness.sh(["wrk", "-v"]).stdout.splitlines()[0] if shutil.which("wrk") else "missing"},
        "timing_s": {"run": round(time.time() - started, 1)},
        "notes": notes, "runs": runs, "memory": memory,
    }
    record["summary"] = summarise(runs, memory, names, points)
    slow = [n for n, e in record["summary"]["points"].get(OPEN, {}).items()
            if e.get("p50_us") and e["p50_us"]["median"] > 10_000]
    if slow:
        notes.append(f"At {OPEN} the p50 of {', '.join(slow)} is over 10 ms: those hops did not keep up with the "
                     "offered rate (too slow, or their core was shared: see the load average), so their latency "
                     "there is queueing, not the hop's cost.")
    record["verdicts"] = verdicts(record["summary"])
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "fullpath.json"), "w") as f:
        json.dump(record, f, indent=1)
    text = markdown(record)
    with open(os.path.join(args.out, "fullpath.md"), "w") as f:
        f.write(text)
    print(text)
    # Invariants: every target ran every point with 2xx only, and each knserve row took
    # the path it is named for.
    bad = [f"{r['target']} {r['point']} rep {r['rep']}" for r in runs
           if r["non2xx"] or r.get("socket_errors") or r.get("errors") or not r["rps"]]
    bad += [f"{r['target']} {r['point']} rep {r['rep']}: the activator took {r['activator_requests']} requests"
            for r in runs if "activator_requests" in r
            and (r["target"] == "knserve-activator") != (r["activator_requests"] > 0)]
    missing = [f"{n} {p[0]}" for n in names for p in points
               if sum(r["target"] == n and r["point"] == p[0] for r in runs) != args.reps]
    if bad or missing:
        print(f"FAILED: runs with errors or on the wrong path: {bad}; missing repetitions: {missing}",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
