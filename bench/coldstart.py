#!/usr/bin/env python3
"""Cold start on the local backend (issue 6; ref/perf-anchors §4.5 and §5.3).

Through the real `knserve serve` (pinned to core 1; client, apps and `knserve apply` on
core 0; inside `unshare -n`, which the script enters by itself when needed):

* T_cold: a request sent while its revision is at zero → its first response byte, on a
  connection to the ingress opened beforehand (CLOCK_MONOTONIC around send/recv).
* T_user: the app's own start, exec → listen(), over separate starts of the same
  command line: the script reads CLOCK_REALTIME before `Popen` and `knb-backend`
  prints CLOCK_REALTIME right after listen() (`listening ADDR realtime_ns=T`).
* T_warm: the same request through the same path (ingress → activator → queue-proxy
  → app) once the revision is warm, c=1.
* Overhead = T_cold − median T_user − median T_warm, per cold start; p50/p90/p99.

Each cold start is its own Service applied at zero (`initial-scale: "0"`, allowed by
bench/coldstart/config.yaml) and requested once: no waiting out a stable window and a
grace period per sample, and each sample starts from a revision that never ran. They
are applied ten at a time and deleted after, so no sample runs beside many Services.
The per-phase breakdown is read from the response's `Server-Timing` header (scale,
spawn, ready, route, app; see knserve-local's `COLD_START_PHASES`). App start times:
`knb-backend --start-delay-ms` 0 (≈ 2 ms), 50 and 500. Then a burst: 100 concurrent
requests at zero on one more Service, all must be 200.

    python3 bench/coldstart.py --out DIR [--quick] [--reps N] --tools DIR --knserve PATH
"""

import argparse
import datetime
import json
import os
import random
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
import harness  # noqa: E402  (kill_tree, machine, sh)

CLIENT_CPU, SUT_CPU = harness.CLIENT_CPU, harness.SUT_CPU
INGRESS_PORT = 8090
DOMAIN = "default.example.com"
# (label, --start-delay-ms): knb-backend alone starts in ≈ 2 ms.
STARTS = [("2ms", 0), ("50ms", 50), ("500ms", 500)]
PHASES = ["scale", "spawn", "ready", "route", "app"]
# Services alive at once while cold-starting (see run()).
BATCH = 10
TARGET_P50_MS, TARGET_P99_MS, FLAT_MS, BURST_SLACK_MS = 5.0, 20.0, 5.0, 50.0


# ---------------------------------------------------------------- HTTP client


def request_bytes(host, path="/"):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: knb-coldstart\r\n\r\n".encode()


def connect():
    sock = socket.create_connection(("127.0.0.1", INGRESS_PORT), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class Reply:
    """One response read from a socket: first-byte time, status, headers, body."""

    def __init__(self):
        self.buf, self.first_ns, self.status, self.headers, self.body = b"", None, None, [], b""
        self.need = None  # body bytes still expected once the head is read

    def feed(self, data, now_ns):
        """Adds bytes; returns True once the whole response is in."""
        if self.first_ns is None:
            self.first_ns = now_ns
        self.buf += data
        if self.status is None:
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if not sep:
                return False
            lines = head.decode("latin-1").split("\r\n")
            self.status = int(lines[0].split()[1])
            self.headers = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:] if ":" in l]
            length = next((int(v) for k, v in self.headers if k.lower() == "content-length"), None)
            chunked = any(k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in self.headers)
            self.need = length if length is not None else (-1 if chunked else 0)
            self.buf = rest
        if self.need == -1:
            return self.buf.endswith(b"0\r\n\r\n")
        return len(self.buf) >= self.need

    def timing(self):
        """Server-Timing values as {name: ms}, in order."""
        out = {}
        for k, v in self.headers:
            if k.lower() != "server-timing":
                continue
            for item in v.split(","):
                name, _, params = item.strip().partition(";")
                for p in params.split(";"):
                    if p.strip().startswith("dur="):
                        out[name.strip()] = float(p.strip()[4:])
        return out


def timed_get(host, sock=None):
    """One request on a connection opened beforehand; (t_send_ns, Reply)."""
    sock = sock or connect()
    try:
        reply = Reply()
        sent = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        sock.sendall(request_bytes(host))
        while True:
            data = sock.recv(65536)
            now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            if not data:
                raise RuntimeError(f"{host}: connection closed mid-response")
            if reply.feed(data, now):
                return sent, reply
    finally:
        sock.close()


def burst(host, n):
    """n requests sent at once on n connections opened beforehand; latencies in ms."""
    socks = [connect() for _ in range(n)]
    sel = selectors.DefaultSelector()
    replies, sent = {}, {}
    for s in socks:
        s.setblocking(False)
    for s in socks:
        sent[s] = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        s.sendall(request_bytes(host))
        replies[s] = Reply()
        sel.register(s, selectors.EVENT_READ)
    done, deadline = {}, time.monotonic() + 60
    while len(done) < n and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            data = s.recv(65536)
            now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            if not data or replies[s].feed(data, now):
                done[s] = replies[s] if data else None
                sel.unregister(s)
    for s in socks:
        s.close()
    out = []
    for s in socks:
        r = done.get(s)
        out.append({"status": r.status if r else None,
                    "ms": (r.first_ns - sent[s]) / 1e6 if r else None,
                    "server_timing": r.timing() if r else {}})
    return out


# ---------------------------------------------------------------- processes


def app_argv(tools, delay):
    argv = [shutil.which("taskset"), "-c", CLIENT_CPU, os.path.join(tools, "knb-backend")]
    return argv + (["--start-delay-ms", str(delay)] if delay else [])


def user_start_ms(tools, delay):
    """One start of the app alone: exec → listen() in ms (CLOCK_REALTIME both sides)."""
    env = dict(os.environ, PORT="0")
    t0 = time.time_ns()
    proc = subprocess.Popen(app_argv(tools, delay), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        line = proc.stdout.readline().decode()
        if "realtime_ns=" not in line:
            raise RuntimeError(f"knb-backend printed {line!r}; rebuild bench/tools")
        return (int(line.rsplit("realtime_ns=", 1)[1]) - t0) / 1e6
    finally:
        harness.kill_tree(proc)


def service_yaml(name, argv):
    command = ", ".join(json.dumps(a) for a in argv)
    return f"""apiVersion: serving.knative.dev/v1
kind: Service
metadata: {{name: {name}, namespace: default}}
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/initial-scale: "0"
        autoscaling.knative.dev/min-scale: "0"
    spec:
      containers:
      - image: knb-backend
        command: [{command}]
"""


class Knserve:
    def __init__(self, binary, workdir):
        self.binary, self.workdir = binary, workdir
        self.state = os.path.join(workdir, "state")
        self.log = open(os.path.join(workdir, "knserve.log"), "ab")
        env = {"PATH": os.environ["PATH"], "TOKIO_WORKER_THREADS": "1", "RUST_LOG": "warn",
               "HOME": workdir}
        self.proc = subprocess.Popen(
            ["taskset", "-c", SUT_CPU, binary, "--state-dir", self.state, "serve",
             "--listen", f"127.0.0.1:{INGRESS_PORT}", "--config", os.path.join(BENCH_DIR, "coldstart", "config.yaml")],
            env=env, stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                connect().close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("knserve did not listen")

    def apply(self, yaml_text, name):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(yaml_text)
        r = subprocess.run(["taskset", "-c", CLIENT_CPU, self.binary, "--state-dir", self.state,
                            "apply", "-f", path], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"knserve apply failed: {r.stdout}{r.stderr}")

    def delete(self, name):
        r = subprocess.run(["taskset", "-c", CLIENT_CPU, self.binary, "--state-dir", self.state,
                            "delete", "ksvc", name], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"knserve delete {name} failed: {r.stdout}{r.stderr}")

    def stop(self):
        harness.kill_tree(self.proc)


# ---------------------------------------------------------------- statistics


def pct(values, p):
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))]


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def f1(x):
    return f"{x:.1f}"


def fspread(s):
    return f"{s['median']:.1f} ({s['min']:.1f}–{s['max']:.1f})"


# ---------------------------------------------------------------- main


def enter_namespace():
    links = [l.split(":")[1].strip() for l in harness.sh(["ip", "-o", "link"]).stdout.splitlines()]
    if links == ["lo"]:
        return
    if os.environ.get("KNB_COLDSTART_UNSHARED"):
        sys.exit(f"not in a private network namespace (links: {links})")
    os.environ["KNB_COLDSTART_UNSHARED"] = "1"
    os.execvp("unshare", ["unshare", "-n", sys.executable] + sys.argv)


def run(args, workdir):
    reps = args.reps
    k = Knserve(args.knserve, workdir)
    samples, users, warm, bursts = [], {}, {}, []
    try:
        # T_user: the same command lines, started alone, in a shuffled order.
        order = [(label, delay) for label, delay in STARTS for _ in range(args.user_starts)]
        random.shuffle(order)
        for label, delay in order:
            users.setdefault(label, []).append(user_start_ms(args.tools, delay))

        # T_cold: one Service per cold start, applied at zero in batches of BATCH and
        # deleted after (the control loop's pass grows with the number of Services, so
        # every sample runs with at most BATCH of them), in a shuffled order; then
        # T_warm on each, once warm.
        plan = [(label, delay, i) for label, delay in STARTS for i in range(reps)]
        random.shuffle(plan)
        for b in range(0, len(plan), BATCH):
            batch = plan[b:b + BATCH]
            names = [f"cs-{label}-{i}" for label, _, i in batch]
            k.apply("---\n".join(service_yaml(n, app_argv(args.tools, delay))
                                  for n, (_, delay, _) in zip(names, batch)), "batch.yaml")
            for name, (label, _, _) in zip(names, batch):
                host = f"{name}.{DOMAIN}"
                sock = connect()
                time.sleep(0.05)  # let the connection's accept settle; not measured
                sent, reply = timed_get(host, sock)
                samples.append({"start": label, "service": host, "status": reply.status,
                                "t_cold_ms": (reply.first_ns - sent) / 1e6,
                                "server_timing": reply.timing()})
                time.sleep(0.1)
            for name, (label, _, _) in zip(names, batch):
                for _ in range(args.warm):
                    sent, reply = timed_get(f"{name}.{DOMAIN}")
                    if reply.status != 200 or reply.timing():
                        raise RuntimeError(f"warm request to {name}: {reply.status} {reply.timing()}")
                    warm.setdefault(label, []).append((reply.first_ns - sent) / 1e6)
            for name in names:
                k.delete(name)
        print(f"{len(samples)} cold starts", flush=True)

        # Burst: concurrent requests at zero on one more Service.
        k.apply(service_yaml("cs-burst", app_argv(args.tools, 0)), "burst.yaml")
        bursts = burst(f"cs-burst.{DOMAIN}", args.burst)
    finally:
        k.stop()
    return samples, users, warm, bursts


def summarise(samples, users, warm, bursts):
    warm_all = [x for v in warm.values() for x in v]
    t_warm = statistics.median(warm_all)
    per_start = {}
    for label, _ in STARTS:
        mine = [s for s in samples if s["start"] == label]
        t_user = statistics.median(users[label])
        overhead = [s["t_cold_ms"] - t_user - t_warm for s in mine]
        for s, o in zip(mine, overhead):
            s["overhead_ms"] = o
        phases = {p: spread([s["server_timing"].get(p, 0.0) for s in mine]) for p in PHASES + ["cold-start"]}
        # What the server accounts for beyond the app's start: every phase but `ready`
        # (spawned → probe passed) counts whole; `ready` counts beyond T_user.
        per_start[label] = {
            "t_user_ms": spread(users[label]), "t_warm_ms": spread(warm[label]),
            "t_cold_ms": spread([s["t_cold_ms"] for s in mine]),
            "overhead_ms": {"p50": pct(overhead, 50), "p90": pct(overhead, 90), "p99": pct(overhead, 99),
                            "min": min(overhead), "max": max(overhead), "n": len(overhead)},
            "phases_ms": phases,
        }
    p50s = [v["overhead_ms"]["p50"] for v in per_start.values()]
    ok = [b for b in bursts if b["status"] == 200]
    t_user_fast = statistics.median(users[STARTS[0][0]])
    burst_max = max((b["ms"] for b in ok), default=None)
    slowest = max(ok, key=lambda b: b["ms"])["server_timing"] if ok else {}
    return {
        "t_warm_ms": spread(warm_all), "per_start": per_start,
        "flatness_ms": max(p50s) - min(p50s),
        "burst": {"n": len(bursts), "ok": len(ok), "max_ms": burst_max,
                  "p50_ms": statistics.median([b["ms"] for b in ok]) if ok else None,
                  "limit_ms": t_user_fast + BURST_SLACK_MS, "slowest_server_timing": slowest},
    }


def markdown(record):
    s = record["summary"]
    out = ["## Cold start on the local backend (issue 6, perf-anchors §4.5)", "",
           f"{record['date']}, {record['mode']} mode, git {record['git']}; "
           f"{record['machine']['cpu_model']}, {record['machine']['nproc']} CPUs, kernel {record['machine']['kernel']}. "
           f"`knserve serve` alone on core {SUT_CPU} (`TOKIO_WORKER_THREADS=1`); client, apps and "
           f"`knserve apply` on core {CLIENT_CPU}; `unshare -n`. Each cold start is a Service applied at "
           f"zero (`initial-scale: \"0\"`, at most {BATCH} alive at once) and requested once on a connection "
           "opened beforehand. "
           "Overhead = T_cold − median T_user − median T_warm. Milliseconds: median (min–max).", "",
           "| app start | T_user | T_cold | overhead p50 | p90 | p99 | max | n |",
           "|---|---|---|---|---|---|---|---|"]
    for label, v in s["per_start"].items():
        o = v["overhead_ms"]
        out.append(f"| {label} | {fspread(v['t_user_ms'])} | {fspread(v['t_cold_ms'])} | {f1(o['p50'])} | "
                   f"{f1(o['p90'])} | {f1(o['p99'])} | {f1(o['max'])} | {o['n']} |")
    out += ["", f"T_warm (ingress → activator → queue-proxy → app, c=1, new client connection each): "
            f"{fspread(s['t_warm_ms'])} ms.", "",
            "Phases from the response's `Server-Timing` (server side, from arrival at the activator):", "",
            "| app start | scale | spawn | ready | route | app | cold-start (total) |", "|---|---|---|---|---|---|---|"]
    for label, v in s["per_start"].items():
        ph = v["phases_ms"]
        out.append(f"| {label} | " + " | ".join(fspread(ph[p]) for p in PHASES + ["cold-start"]) + " |")
    out += ["", "scale: arrival → the autoscaler's decision (poke); spawn: decision → process spawned; "
            "ready: spawned → readiness probe passed (includes T_user); route: ready → the activator "
            "forwards (instance published, probed, admitted); app: forwarded → response headers.", ""]
    b = s["burst"]
    worst_p50 = max(v["overhead_ms"]["p50"] for v in s["per_start"].values())
    worst_p99 = max(v["overhead_ms"]["p99"] for v in s["per_start"].values())
    met = lambda ok: "met" if ok else "**missed**"  # noqa: E731
    out += [f"Burst: {b['n']} concurrent requests at zero: {b['ok']} answered 200, "
            f"first byte p50 {f1(b['p50_ms']) if b['p50_ms'] is not None else '–'} ms, "
            f"max {f1(b['max_ms']) if b['max_ms'] is not None else '–'} ms; the slowest one's phases: "
            + ", ".join(f"{k} {v:.1f}" for k, v in b["slowest_server_timing"].items()) + ".", "",
            "Targets (issue 6 §3, perf-anchors §5.3):", "",
            f"- overhead p50 ≤ {TARGET_P50_MS:.0f} ms: {met(worst_p50 <= TARGET_P50_MS)} (worst start time {f1(worst_p50)} ms)",
            f"- overhead p99 ≤ {TARGET_P99_MS:.0f} ms: {met(worst_p99 <= TARGET_P99_MS)} (worst start time {f1(worst_p99)} ms)",
            f"- flat across 2/50/500 ms app starts (p50s within {FLAT_MS:.0f} ms): "
            f"{met(s['flatness_ms'] <= FLAT_MS)} (spread {f1(s['flatness_ms'])} ms)",
            f"- burst of {b['n']} at zero all 200: {met(b['ok'] == b['n'])} ({b['ok']}/{b['n']})",
            f"- burst max ≤ T_user + {BURST_SLACK_MS:.0f} ms = {f1(b['limit_ms'])} ms: "
            f"{met(b['max_ms'] is not None and b['max_ms'] <= b['limit_ms'])} "
            f"({f1(b['max_ms']) if b['max_ms'] is not None else '–'} ms)", ""]
    if record["mode"] == "quick":
        out.append("Quick mode: few samples, indicative only; p99 over ~10 samples is close to the max.")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, help="cold starts per app start time (50; quick 10)")
    ap.add_argument("--user-starts", type=int, help="T_user starts per app start time (20; quick 8)")
    ap.add_argument("--warm", type=int, help="warm requests per cold-started Service (5; quick 3)")
    ap.add_argument("--burst", type=int, default=100)
    ap.add_argument("--tools", required=True, help="bench/tools release directory (knb-backend)")
    ap.add_argument("--knserve", required=True, help="the knserve binary (release)")
    ap.add_argument("--git", default=None)
    args = ap.parse_args()
    args.reps = args.reps or (10 if args.quick else 50)
    args.user_starts = args.user_starts or (8 if args.quick else 20)
    args.warm = args.warm or (3 if args.quick else 5)
    args.tools, args.knserve = os.path.abspath(args.tools), os.path.abspath(args.knserve)
    enter_namespace()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["sysctl", "-qw", "net.core.somaxconn=4096"], check=False)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.sched_setaffinity(0, {int(CLIENT_CPU)})

    git = args.git or harness.sh(["git", "-C", BENCH_DIR, "rev-parse", "--short", "HEAD"]).stdout.strip() or "?"
    started = time.time()
    mach = harness.machine()
    workdir = tempfile.mkdtemp(prefix="knserve-coldstart-")
    samples, users, warm, bursts = run(args, workdir)
    mach["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    record = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick" if args.quick else "full", "git": git, "machine": mach,
        "config": {"reps": args.reps, "user_starts": args.user_starts, "warm": args.warm,
                   "burst": args.burst, "starts": STARTS, "client_cpu": CLIENT_CPU, "sut_cpu": SUT_CPU},
        "versions": {"knserve": harness.sh([args.knserve, "--version"]).stdout.strip()},
        "timing_s": {"run": round(time.time() - started, 1)},
        "samples": samples, "t_user_ms": users, "t_warm_ms": warm, "burst": bursts,
    }
    errors = [f"cold request to {s['service']}: status {s['status']}" for s in samples if s["status"] != 200]
    errors += [f"cold request to {s['service']} was not timed as a cold start: {s['server_timing']}"
               for s in samples if "cold-start" not in s["server_timing"]]
    errors += [f"{s['service']}: phases add up to more than the total: {s['server_timing']}"
               for s in samples if sum(s["server_timing"].get(p, 0) for p in PHASES)
               > s["server_timing"].get("cold-start", 0) + 0.1 * len(PHASES)]
    if not errors:
        record["summary"] = summarise(samples, users, warm, bursts)
        b = record["summary"]["burst"]
        if b["ok"] != b["n"]:
            errors.append(f"burst: {b['n'] - b['ok']} of {b['n']} requests not answered 200")
    record["errors"] = errors
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "coldstart.json"), "w") as f:
        json.dump(record, f, indent=1)
    if errors:
        print("FAILED:\n" + "\n".join(errors[:20]) + f"\nknserve log: {workdir}/knserve.log", file=sys.stderr)
        sys.exit(1)
    text = markdown(record)
    with open(os.path.join(args.out, "coldstart.md"), "w") as f:
        f.write(text)
    print(text)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
