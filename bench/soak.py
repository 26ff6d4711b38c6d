#!/usr/bin/env python3
"""Soak of the local backend: minutes of load with scale-to-zero cycles.

Through the real `knserve serve` (a dist build) with examples/helloworld as its one
Service, given a 6 s stable window (`autoscaling.knative.dev/window`, Knative's
minimum), no last-pod retention and a target of 10 concurrent requests per instance, and
served with bench/soak/config.yaml (scale-to-zero grace period 2 s). Each cycle:

* burst: `--clients` closed-loop clients (20) send `GET /` for `--burst-seconds` (30;
  quick 10), each on a keep-alive connection opened for the burst (a new one every
  RECONNECT_EVERY requests, so accepts are part of the load); all clients connect first
  and send their first request together, so the burst arrives at once at a revision at
  zero and the activator holds it while the revision cold-starts;
* idle: no request until the server runs no instance of the revision (the process tree
  of `knserve serve` holds no `helloworld`; `--zero-timeout` 60 s), then `--settle` (3 s)
  more, so the next burst starts cold again.

Before the first cycle the revision, applied at its initial scale of 1, is waited down to
zero the same way. Cycles are run for `--minutes` (5; quick 1), not counting start-up
and that first wait; a cycle is started only if it fits in what is left (at least two).

Every second: requests answered 2xx, non-2xx and connection errors (cumulative), the
revision's instances (process tree) and `actualReplicas` (admin API), and the server
process's own VmRSS, open descriptors and threads (/proc/<pid>/status, /proc/<pid>/fd).
Non-2xx answers (status, first 200 bytes of body) and connection errors are sampled.

Writes OUT/soak-<UTC stamp>.json (the series, cycles, samples, summary) and .md, and exits
non-zero if any request failed (non-2xx or connection error), a cycle did not reach zero,
a burst had no request held for a cold start (`knserve_cold_start_seconds_count` did not
grow: it did not start at zero), fewer than two cycles ran, the server died, or the server's RSS at zero after the last
cycle exceeds that after the first by more than `--rss-bound-mib` (20). The first cycle is
the baseline rather than the RSS before any load, because the first cold start and burst
size the allocator's arenas, connection pools and the instance's log buffer once.

    python3 bench/soak.py [--quick | --minutes N] [--out bench/results] [--knserve PATH]

The server listens on 127.0.0.1 port 0 (ingress and admin); the ports are read from the
state directory's server.json, so nothing needs a private network namespace or root.
"""

import argparse
import datetime
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
sys.path.insert(0, BENCH_DIR)
import harness  # noqa: E402  (kill_tree, machine, sh, tree)

SERVICE_NAME = "helloworld"
APP_COMM = "helloworld"
HOST = f"{SERVICE_NAME}.default.example.com"
ANNOTATIONS = {
    "autoscaling.knative.dev/window": "6s",
    "autoscaling.knative.dev/scale-to-zero-pod-retention-period": "0s",
    "autoscaling.knative.dev/target": "10",
}
RECONNECT_EVERY = 500
SAMPLES_PER_KIND = 10


# ---------------------------------------------------------------- the server


def service_yaml():
    """examples/helloworld/service.yaml with the soak's annotations on its template."""
    with open(os.path.join(REPO_DIR, "examples", "helloworld", "service.yaml")) as f:
        text = f.read()
    anchor = "  template:\n    spec:\n"
    if anchor not in text:
        raise RuntimeError("examples/helloworld/service.yaml: expected `spec.template.spec` right under `template:`")
    notes = "".join(f"        {k}: {json.dumps(v)}\n" for k, v in ANNOTATIONS.items())
    return text.replace(anchor, "  template:\n    metadata:\n      annotations:\n" + notes + "    spec:\n")


def status_field(pid, key):
    """One `kB` or count field of /proc/<pid>/status, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


class Knserve:
    def __init__(self, binary, workdir):
        self.binary, self.workdir = binary, workdir
        self.state = os.path.join(workdir, "state")
        self.log = open(os.path.join(workdir, "knserve.log"), "ab")
        env = {"PATH": os.environ["PATH"], "HOME": workdir}
        self.proc = subprocess.Popen(
            [binary, "--state-dir", self.state, "serve", "--listen", "127.0.0.1:0",
             "--config", os.path.join(BENCH_DIR, "soak", "config.yaml")],
            env=env, stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            info = self._server_info()
            if info and info["pid"] == self.proc.pid:
                self.ingress = info["ingress"].rsplit(":", 1)
                self.admin = info["admin"]
                with open(os.path.join(self.state, "admin-token")) as f:
                    self.token = f.read().strip()
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"knserve did not start; see {workdir}/knserve.log")

    def _server_info(self):
        try:
            with open(os.path.join(self.state, "server.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def apply(self, yaml_text):
        path = os.path.join(self.workdir, "service.yaml")
        with open(path, "w") as f:
            f.write(yaml_text)
        r = subprocess.run([self.binary, "--state-dir", self.state, "apply", "-f", path],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"knserve apply failed: {r.stdout}{r.stderr}")

    def instances(self):
        """The revision's app processes under the server."""
        return sum(1 for p in harness.tree(self.proc.pid)[1:] if comm(p) == APP_COMM)

    def _admin_get(self, path, token=True):
        req = urllib.request.Request(f"http://{self.admin}{path}")
        if token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read().decode()

    def replicas(self):
        """`status.actualReplicas` of the Service's revisions, summed; None if unreadable."""
        try:
            revisions = json.loads(self._admin_get("/v1/revisions"))
        except (OSError, ValueError):
            return None
        return sum((r.get("status") or {}).get("actualReplicas") or 0 for r in revisions)

    def metrics(self):
        """The counters of /metrics this soak reads, as {name: value}."""
        wanted = ("knserve_activator_requests_total", "knserve_cold_start_seconds_count")
        out = {}
        try:
            text = self._admin_get("/metrics", token=False)
        except OSError:
            return out
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name in wanted:
                out[name] = float(value)
        return out

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        harness.kill_tree(self.proc)


# ---------------------------------------------------------------- load


class Tally:
    """One client's counters, read by the sampler without a lock (ints, one writer)."""

    def __init__(self):
        self.ok = self.non2xx = self.errors = 0


class Load:
    def __init__(self, port, clients):
        self.port, self.tallies = int(port), [Tally() for _ in range(clients)]
        self.lock = threading.Lock()
        self.failures = {}  # kind → {"count", "samples"}

    def totals(self):
        return {k: sum(getattr(t, k) for t in self.tallies) for k in ("ok", "non2xx", "errors")}

    def _failed(self, kind, sample):
        with self.lock:
            entry = self.failures.setdefault(kind, {"count": 0, "samples": []})
            entry["count"] += 1
            if len(entry["samples"]) < SAMPLES_PER_KIND:
                entry["samples"].append(sample)

    def _connect(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def _client(self, tally, until, t0, latencies, start):
        conn, sent = self._connect(), 0
        try:
            conn.connect()
        except OSError as e:
            tally.errors += 1
            self._failed(f"connection: {type(e).__name__}",
                         {"t_s": round(time.monotonic() - t0, 3), "error": str(e)[:200]})
        start.wait()
        while time.monotonic() < until:
            start = time.monotonic()
            try:
                conn.request("GET", "/", headers={"Host": HOST, "User-Agent": "knb-soak"})
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException) as e:
                tally.errors += 1
                self._failed(f"connection: {type(e).__name__}",
                             {"t_s": round(time.monotonic() - t0, 3), "error": str(e)[:200]})
                conn.close()
                conn = self._connect()
                continue
            latencies.append(time.monotonic() - start)
            if 200 <= resp.status < 300:
                tally.ok += 1
            else:
                tally.non2xx += 1
                self._failed(f"status {resp.status}", {"t_s": round(time.monotonic() - t0, 3),
                                                       "body": body[:200].decode("utf-8", "replace")})
            sent += 1
            if sent % RECONNECT_EVERY == 0:
                conn.close()
                conn = self._connect()
        conn.close()

    def burst(self, seconds, t0):
        """All clients for `seconds`, each connected first and all sending their first
        request together; latencies (s) of the answered requests, per client."""
        until = time.monotonic() + seconds
        latencies = [[] for _ in self.tallies]
        start = threading.Barrier(len(self.tallies))
        threads = [threading.Thread(target=self._client, args=(t, until, t0, lat, start), daemon=True)
                   for t, lat in zip(self.tallies, latencies)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return latencies


class Sampler(threading.Thread):
    """One row a second: load counters, instances, replicas, the server's RSS/fds/threads."""

    def __init__(self, server, load, t0):
        super().__init__(daemon=True)
        self.server, self.load, self.t0 = server, load, t0
        self.rows, self.phase, self.cycle, self.rss_start = [], "start", 0, None
        self.stopping = threading.Event()

    def row(self):
        pid = self.server.proc.pid
        return {"t_s": round(time.monotonic() - self.t0, 2), "phase": self.phase, "cycle": self.cycle,
                **self.load.totals(), "instances": self.server.instances(),
                "replicas": self.server.replicas(), "rss_kib": status_field(pid, "VmRSS"),
                "fds": open_fds(pid), "threads": status_field(pid, "Threads")}

    def run(self):
        next_at = time.monotonic()
        while not self.stopping.is_set():
            self.rows.append(self.row())
            next_at += 1.0
            self.stopping.wait(max(0.0, next_at - time.monotonic()))


def wait_zero(server, timeout):
    """Seconds until the server runs no instance, or None after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if not server.alive():
            return None
        if server.instances() == 0:
            return time.monotonic() - start
        time.sleep(0.25)
    return None


def pct(values, p):
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))] if s else None


# ---------------------------------------------------------------- main


def run(args, workdir):
    server = Knserve(args.knserve, workdir)
    t0 = time.monotonic()
    load = Load(server.ingress[1], args.clients)
    sampler = Sampler(server, load, t0)
    sampler.start()
    cycles, errors, first_zero_s = [], [], None
    try:
        server.apply(service_yaml())
        sampler.phase = "to-zero"
        first_zero_s = wait_zero(server, args.zero_timeout)
        if first_zero_s is None:
            errors.append(f"the revision did not reach zero within {args.zero_timeout} s of being applied")
            return server, sampler, cycles, errors, first_zero_s, load
        time.sleep(args.settle)
        sampler.rss_start = status_field(server.proc.pid, "VmRSS")
        budget_end = time.monotonic() + args.minutes * 60
        est_idle = first_zero_s + args.settle
        while True:
            left = budget_end - time.monotonic()
            if len(cycles) >= 2 and left < args.burst_seconds + est_idle:
                break
            i = len(cycles) + 1
            before, metrics_before = load.totals(), server.metrics()
            sampler.phase, sampler.cycle = "burst", i
            t_burst = time.monotonic() - t0
            latencies = load.burst(args.burst_seconds, t0)
            after = load.totals()
            peak = max((r["instances"] for r in sampler.rows if r["cycle"] == i and r["phase"] == "burst"),
                       default=0)
            rss_burst_end = status_field(server.proc.pid, "VmRSS")
            sampler.phase = "idle"
            to_zero = wait_zero(server, args.zero_timeout)
            metrics_after = server.metrics()
            if to_zero is not None:
                time.sleep(args.settle)
                est_idle = max(est_idle, to_zero + args.settle)
            if metrics_after and metrics_after.get("knserve_cold_start_seconds_count", 0) <= metrics_before.get(
                    "knserve_cold_start_seconds_count", 0):
                errors.append(f"cycle {i}: no request was held for a cold start (the burst did not start at zero)")
            flat = [x for lat in latencies for x in lat]
            firsts = [lat[0] for lat in latencies if lat]
            cycles.append({
                "cycle": i, "burst_start_s": round(t_burst, 2), "burst_s": args.burst_seconds,
                "requests": sum(after.values()) - sum(before.values()),
                **{k: after[k] - before[k] for k in after},
                "rps": round((sum(after.values()) - sum(before.values())) / args.burst_seconds, 1),
                "latency_ms": {"p50": 1e3 * pct(flat, 50), "p99": 1e3 * pct(flat, 99),
                               "max": 1e3 * max(flat)} if flat else None,
                "first_request_ms_max": 1e3 * max(firsts) if firsts else None,
                "peak_instances": peak,
                "cold_start_requests": metrics_after.get("knserve_cold_start_seconds_count", 0)
                - metrics_before.get("knserve_cold_start_seconds_count", 0),
                "activator_requests": metrics_after.get("knserve_activator_requests_total", 0)
                - metrics_before.get("knserve_activator_requests_total", 0),
                "to_zero_s": round(to_zero, 2) if to_zero is not None else None,
                "rss_kib_burst_end": rss_burst_end,
                "rss_kib_at_zero": status_field(server.proc.pid, "VmRSS"),
            })
            c = cycles[-1]
            print(f"cycle {i}: {c['requests']} requests ({c['rps']}/s), {c['non2xx']} non-2xx, "
                  f"{c['errors']} connection errors, peak {peak} instances, "
                  f"to zero {c['to_zero_s']} s, RSS at zero {c['rss_kib_at_zero']} KiB", flush=True)
            if to_zero is None:
                if server.alive():
                    errors.append(f"cycle {i}: still {server.instances()} instances {args.zero_timeout} s after the burst")
                break  # a dead server is reported below
    finally:
        sampler.stopping.set()
        sampler.join()
        if not server.alive():
            errors.append(f"the knserve server exited with {server.proc.returncode}")
        server.stop()
    return server, sampler, cycles, errors, first_zero_s, load


def summarise(args, sampler, cycles, first_zero_s, load):
    rows = sampler.rows
    rss = [r["rss_kib"] for r in rows if r["rss_kib"] is not None]
    totals = load.totals()
    s = {
        "duration_s": round(rows[-1]["t_s"] - rows[0]["t_s"], 1) if rows else 0,
        "load_s": round(sum(c["burst_s"] for c in cycles), 1),
        "requests": sum(totals.values()), **totals,
        "cycles": len(cycles), "cycles_to_zero": sum(1 for c in cycles if c["to_zero_s"] is not None),
        "first_to_zero_s": round(first_zero_s, 2) if first_zero_s is not None else None,
        "to_zero_s": [c["to_zero_s"] for c in cycles],
        "rss_kib": {"start": sampler.rss_start,
                    "end": cycles[-1]["rss_kib_at_zero"] if cycles else None,
                    "max": max(rss) if rss else None},
        "rss_bound_kib": args.rss_bound_mib * 1024,
        "fds": {"min": min((r["fds"] for r in rows if r["fds"] is not None), default=None),
                "max": max((r["fds"] for r in rows if r["fds"] is not None), default=None)},
        "threads_max": max((r["threads"] for r in rows if r["threads"] is not None), default=None),
    }
    if len(cycles) >= 2 and None not in (cycles[0]["rss_kib_at_zero"], cycles[-1]["rss_kib_at_zero"]):
        s["rss_kib"]["first_cycle_at_zero"] = cycles[0]["rss_kib_at_zero"]
        s["rss_kib"]["growth_first_to_last_cycle"] = cycles[-1]["rss_kib_at_zero"] - cycles[0]["rss_kib_at_zero"]
        s["fds"]["at_zero_first_last"] = [fds_at(rows, cycles[0]), fds_at(rows, cycles[-1])]
    return s


def fds_at(rows, cycle):
    """Open descriptors in the cycle's last sampled second."""
    mine = [r["fds"] for r in rows if r["cycle"] == cycle["cycle"]]
    return mine[-1] if mine else None


def mib(kib):
    return f"{kib / 1024:.1f}" if kib is not None else "–"


def markdown(record):
    s, cfg = record["summary"], record["config"]
    out = ["## Soak of the local backend (`bench/soak.py`)", "",
           f"{record['date']}, {record['mode']} mode, git {record['git']}; {record['machine']['cpu_model']}, "
           f"{record['machine']['nproc']} CPUs, load {' '.join(record['machine']['loadavg_before'])} before, "
           f"{' '.join(record['machine']['loadavg_after'])} after. `knserve serve` ({record['versions']['knserve']}) "
           f"with examples/helloworld at window {ANNOTATIONS['autoscaling.knative.dev/window']}, "
           f"target {ANNOTATIONS['autoscaling.knative.dev/target']}, no pod retention, grace 2 s "
           f"(bench/soak/config.yaml). Cycles of {cfg['clients']} closed-loop keep-alive clients for "
           f"{cfg['burst_seconds']} s, then idle until no instance runs, + {cfg['settle_s']} s.", "",
           f"- duration {s['duration_s']:.0f} s (of which load {s['load_s']:.0f} s), {s['cycles']} cycles; "
           f"revision reached zero after {s['cycles_to_zero']} of {s['cycles']} bursts "
           f"(after {', '.join(str(x) if x is not None else 'never' for x in s['to_zero_s'])} s)",
           f"- requests {s['requests']}: {s['ok']} 2xx, {s['non2xx']} non-2xx, {s['errors']} connection errors",
           f"- server RSS (MiB): start {mib(s['rss_kib']['start'])} (at zero before any load), "
           f"first cycle at zero {mib(s['rss_kib'].get('first_cycle_at_zero'))}, "
           f"end {mib(s['rss_kib']['end'])}, max {mib(s['rss_kib']['max'])}; growth first → last cycle "
           f"{mib(s['rss_kib'].get('growth_first_to_last_cycle'))} MiB (bound {cfg['rss_bound_mib']} MiB)",
           f"- server descriptors {s['fds']['min']}–{s['fds']['max']}"
           + (f" (at zero, first/last cycle: {s['fds']['at_zero_first_last'][0]}/{s['fds']['at_zero_first_last'][1]})"
              if "at_zero_first_last" in s["fds"] else "") + f", threads ≤ {s['threads_max']}", "",
           "| cycle | requests | req/s | non-2xx | conn errors | p50 ms | p99 ms | max ms | first request max ms "
           "| cold-start requests | peak instances | to zero s | RSS burst end MiB | RSS at zero MiB |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in record["cycles"]:
        lat = c["latency_ms"] or {"p50": 0, "p99": 0, "max": 0}
        out.append(f"| {c['cycle']} | {c['requests']} | {c['rps']:.0f} | {c['non2xx']} | {c['errors']} | "
                   f"{lat['p50']:.1f} | {lat['p99']:.1f} | {lat['max']:.0f} | "
                   f"{c['first_request_ms_max'] or 0:.0f} | {c['cold_start_requests']:.0f} | "
                   f"{c['peak_instances']} | {c['to_zero_s'] if c['to_zero_s'] is not None else 'never'} | "
                   f"{mib(c['rss_kib_burst_end'])} | {mib(c['rss_kib_at_zero'])} |")
    out += ["", "Cold-start requests: requests that reached the activator while the revision ran no ready "
            "instance (`knserve_cold_start_seconds_count`). Latencies are the client's (Python, on the same "
            "two cores as the server and its instances), for context only.", ""]
    for kind, entry in record["failures"].items():
        out.append(f"- {kind}: {entry['count']}, e.g. {json.dumps(entry['samples'][:3])}")
    if record["failures"]:
        out.append("")
    out.append("**PASSED**" if not record["errors"] else "**FAILED**:\n\n" + "\n".join(f"- {e}" for e in record["errors"]))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=5.0, help="how long the cycles run (5)")
    ap.add_argument("--quick", action="store_true", help="a 1-minute smoke with 10 s bursts")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--burst-seconds", type=float, help="load per cycle (30; quick 10)")
    ap.add_argument("--settle", type=float, default=3.0, help="idle seconds after reaching zero")
    ap.add_argument("--zero-timeout", type=float, default=60.0)
    ap.add_argument("--rss-bound-mib", type=float, default=20.0)
    ap.add_argument("--out", default=os.path.join(BENCH_DIR, "results"))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO_DIR, "target"))
    ap.add_argument("--knserve", default=os.path.join(target, "dist", "knserve"),
                    help="knserve from `cargo build --profile dist -p knserve-local -p knserve-examples "
                         "--bin knserve --bin helloworld` (helloworld must be beside it)")
    ap.add_argument("--git", default=None)
    args = ap.parse_args()
    if args.quick:
        args.minutes = 1.0
    args.burst_seconds = args.burst_seconds or (10.0 if args.quick else 30.0)
    args.knserve = os.path.abspath(args.knserve)
    for binary in (args.knserve, os.path.join(os.path.dirname(args.knserve), APP_COMM)):
        if not os.access(binary, os.X_OK):
            sys.exit(f"--knserve: {binary} is not an executable; build it with the command in --help")

    git = args.git or harness.sh(["git", "-C", BENCH_DIR, "rev-parse", "--short", "HEAD"]).stdout.strip() or "?"
    mach = harness.machine()
    now = datetime.datetime.now(datetime.timezone.utc)
    workdir = tempfile.mkdtemp(prefix="knserve-soak-")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    server, sampler, cycles, errors, first_zero_s, load = run(args, workdir)
    mach["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    summary = summarise(args, sampler, cycles, first_zero_s, load)
    if summary["non2xx"] or summary["errors"]:
        errors.append(f"{summary['non2xx']} non-2xx answers and {summary['errors']} connection errors")
    if len(cycles) < 2:
        errors.append(f"only {len(cycles)} cycles ran; RSS growth needs two")
    elif "growth_first_to_last_cycle" not in summary["rss_kib"]:
        errors.append("the server's RSS could not be read at zero after the first and the last cycle")
    growth = summary["rss_kib"].get("growth_first_to_last_cycle")
    if growth is not None and growth > summary["rss_bound_kib"]:
        errors.append(f"server RSS at zero grew {growth / 1024:.1f} MiB from the first cycle to the last "
                      f"(bound {args.rss_bound_mib} MiB)")
    record = {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"), "mode": "quick" if args.quick else "full", "git": git,
        "machine": mach,
        "config": {"minutes": args.minutes, "clients": args.clients, "burst_seconds": args.burst_seconds,
                   "settle_s": args.settle, "zero_timeout_s": args.zero_timeout,
                   "rss_bound_mib": args.rss_bound_mib, "annotations": ANNOTATIONS,
                   "reconnect_every": RECONNECT_EVERY},
        "versions": {"knserve": harness.sh([args.knserve, "--version"]).stdout.strip()},
        "summary": summary, "cycles": cycles, "failures": load.failures, "errors": errors,
        "series": sampler.rows,
    }
    stamp = now.strftime("%Y-%m-%dT%H%M") + ("-quick" if args.quick else "")
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, f"soak-{stamp}")
    with open(base + ".json", "w") as f:
        json.dump(record, f, indent=1)
    text = markdown(record)
    with open(base + ".md", "w") as f:
        f.write(text)
    print(text)
    print(f"wrote {base}.json and {base}.md")
    if errors:
        print(f"FAILED; knserve log: {workdir}/knserve.log", file=sys.stderr)
        sys.exit(1)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
