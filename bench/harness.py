#!/usr/bin/env python3
"""Side-by-side proxy benchmark (issue 6), run by bench/run.sh inside `unshare -n`.

Topology (ref/perf-anchors §3.1): load generator + backend on core 0, the hop under
test alone on core 1, one worker each, loopback only. Every target runs at every
point in a shuffled order, the whole matrix repeated `--reps` times; results are
medians with min–max and paired (same repetition) ratios against `direct` and
against Knative's queue-proxy. Writes a JSON record and a markdown table.
"""

import argparse
import datetime
import json
import os
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BACKEND = "127.0.0.1:8080"
CLIENT_CPU, SUT_CPU = "0", "1"
TICK = os.sysconf("SC_CLK_TCK")

# name, path, connections (closed loop, wrk) -- or rate (open loop, knb-load)
FULL_POINTS = [
    ("hello c=1", "/", 1, None),
    ("hello c=16", "/", 16, None),
    ("hello c=256", "/", 256, None),
    ("1KiB c=16", "/bytes/1024", 16, None),
    ("64KiB c=16", "/bytes/65536", 16, None),
    ("open 1000 rps", "/", 16, 1000),
    ("open 5000 rps", "/", 16, 5000),
]
QUICK_POINTS = [FULL_POINTS[i] for i in (1, 2, 4, 5)]


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# ---------------------------------------------------------------- processes


def tree(pid):
    """pid and all its descendants (nginx master + worker)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError):
            pass
    return total / TICK


def memory_kib(pid, key):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def wait_http(port, timeout=15.0, path="/"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
                if r.status == 200:
                    return True
        except Exception:
            time.sleep(0.05)
    return False


def kill_tree(proc):
    # The descendants first, while they are still its descendants: once it dies they are
    # reparented to init, and those in their own process groups (knserve's instances)
    # would escape the killpg below and outlive the benchmark.
    pids = tree(proc.pid)
    try:  # the whole session (start_new_session): catches children already reparented
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for p in reversed(pids):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


# ---------------------------------------------------------------- targets


class Target:
    """One hop under test (or `direct`, which has no process)."""

    def __init__(self, name, port, argv=None, env=None, version=""):
        self.name, self.port, self.argv, self.env = name, port, argv, env
        # Recorded in committed results: name the home directory, not this machine's.
        home = os.path.expanduser("~")
        self.version, self.proc = version.replace(home + "/", "~/") if home != "/" else version, None

    def start(self, logdir, cc=0):
        if self.argv is None:
            return True
        env = {"PATH": os.environ["PATH"]}
        env.update(self.env(cc) if callable(self.env) else (self.env or {}))
        log = open(os.path.join(logdir, f"{self.name}-cc{cc}.log"), "ab")
        self.proc = subprocess.Popen(["taskset", "-c", SUT_CPU] + self.argv, env=env,
                                     stdout=log, stderr=log, start_new_session=True)
        return wait_http(self.port)

    def stop(self):
        if self.proc:
            kill_tree(self.proc)
            self.proc = None

    def cpu(self):
        return cpu_seconds(self.proc.pid) if self.proc else 0.0

    def mem(self, key):
        return memory_kib(self.proc.pid, key) if self.proc else 0


def queue_env(port, user_port):
    def env(cc):
        return {
            "SERVING_NAMESPACE": "default", "SERVING_SERVICE": "hello",
            "SERVING_CONFIGURATION": "hello", "SERVING_REVISION": "hello-00001",
            "SERVING_POD": "hello-00001-deployment-0", "SERVING_POD_IP": "127.0.0.1",
            "POD_NAME": "hello-00001-deployment-0", "SYSTEM_NAMESPACE": "knative-serving",
            "HOST_IP": "127.0.0.1", "QUEUE_SERVING_PORT": str(port),
            "QUEUE_SERVING_TLS_PORT": "8112", "USER_PORT": str(user_port),
            "CONTAINER_CONCURRENCY": str(cc), "REVISION_TIMEOUT_SECONDS": "300",
            "REVISION_RESPONSE_START_TIMEOUT_SECONDS": "0", "REVISION_IDLE_TIMEOUT_SECONDS": "0",
            "SERVING_LOGGING_CONFIG": "", "SERVING_LOGGING_LEVEL": "warn",
            "SERVING_READINESS_PROBE":
                json.dumps({"tcpSocket": {"port": user_port, "host": "127.0.0.1"},
                            "successThreshold": 1}),
            "ENABLE_HTTP2_AUTO_DETECTION": "false", "ENABLE_HTTP_FULL_DUPLEX": "false",
            "ENABLE_MULTI_CONTAINER_PROBES": "false",
            # one worker each: Go and tokio
            "GOMAXPROCS": "1", "TOKIO_WORKER_THREADS": "1",
            # knserve-queue only: loopback listeners, OS-chosen side ports
            "KNSERVE_QUEUE_BIND": "127.0.0.1", "KNSERVE_QUEUE_ADMIN_PORT": "0",
            "KNSERVE_QUEUE_METRICS_PORT": "0", "KNSERVE_QUEUE_USER_METRICS_PORT": "0",
        }
    return env


NGINX_CONF = """daemon off; master_process on; worker_processes 1; pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {dir}/nb; proxy_temp_path {dir}/np; fastcgi_temp_path {dir}/nf;
  uwsgi_temp_path {dir}/nu; scgi_temp_path {dir}/ns;
  upstream backend {{ server {backend}; keepalive 256; keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{ proxy_pass http://backend; proxy_http_version 1.1;
                 proxy_set_header Connection ""; proxy_buffering on; }}
  }}
}}
"""

HAPROXY_CONF = """global
  nbthread 1
  maxconn 8192
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:{port}
  default_backend be
backend be
  server app {backend}
"""


def targets(args, workdir):
    out = [Target("direct", 8080, version="knb-backend")]
    if args.queue and os.path.exists(args.queue):
        out.append(Target("knserve-queue", 8013, [args.queue], queue_env(8013, 8080),
                          version=args.queue_version))
    if args.kn_queue and os.path.exists(args.kn_queue):
        out.append(Target("kn-queue-proxy", 8012, [args.kn_queue], queue_env(8012, 8080),
                          version=args.kn_version))
    if shutil.which("nginx"):
        conf = os.path.join(workdir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=workdir, backend=BACKEND, port=8015))
        version = sh(["nginx", "-v"]).stderr.strip()
        out.append(Target("nginx", 8015, ["nginx", "-c", conf, "-e", os.path.join(workdir, "nginx-error.log")],
                          version=version))
    if shutil.which("haproxy"):
        conf = os.path.join(workdir, "haproxy.cfg")
        with open(conf, "w") as f:
            f.write(HAPROXY_CONF.format(backend=BACKEND, port=8016))
        version = sh(["haproxy", "-v"]).stdout.splitlines()[0]
        out.append(Target("haproxy", 8016, ["haproxy", "-db", "-f", conf], version=version))
    floor = os.path.join(args.tools, "knb-floor")
    if os.path.exists(floor):
        out.append(Target("hyper-floor", 8014,
                          [floor, "--listen", "127.0.0.1:8014", "--upstream", BACKEND],
                          version="bench/tools knb-floor"))
    return out


# ---------------------------------------------------------------- load


def run_wrk(port, path, conns, seconds):
    cmd = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{conns}", f"-d{seconds}s",
           "--latency", "--timeout", "10s", f"http://127.0.0.1:{port}{path}"]
    text = sh(cmd).stdout
    num = lambda pat, default=0.0: float(m.group(1)) if (m := re.search(pat, text)) else default
    requests = int(num(r"(\d+) requests in"))
    non2xx = int(num(r"Non-2xx or 3xx responses: (\d+)"))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    lat = {}
    for pct, key in (("50", "p50_us"), ("99", "p99_us")):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if m:
            scale = {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
            lat[key] = round(float(m.group(1)) * scale, 1)
    return {"tool": "wrk", "requests": requests, "ok": requests - non2xx, "non2xx": non2xx,
            "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
            "rps": num(r"Requests/sec:\s+([\d.]+)"), **lat}


def run_open(tools, port, path, conns, rate, seconds, warmup):
    cmd = ["taskset", "-c", CLIENT_CPU, os.path.join(tools, "knb-load"),
           "--addr", f"127.0.0.1:{port}", "--path", path, "--connections", str(conns),
           "--rate", str(rate), "--seconds", str(seconds), "--warmup", str(warmup)]
    out = sh(cmd)
    try:
        r = json.loads(out.stdout)
    except json.JSONDecodeError:
        return {"tool": "knb-load", "error": out.stderr[-500:], "ok": 0, "non2xx": 0, "rps": 0}
    r["tool"] = "knb-load"
    r["rps"] = r["achieved_rps"]
    r["requests"] = int(rate * (seconds + warmup))  # all sent, warm-up included (for CPU/req)
    return r


def measure(args, target, point, rep):
    name, path, conns, rate = point
    if rate is None and args.warmup > 0:
        run_wrk(target.port, path, conns, args.warmup)
    cpu0 = target.cpu()
    if rate is None:
        r = run_wrk(target.port, path, conns, args.seconds)
    else:
        r = run_open(args.tools, target.port, path, conns, rate, args.seconds, max(args.warmup, 0.5))
    cpu = target.cpu() - cpu0
    r.update(target=target.name, point=name, rep=rep, cpu_s=round(cpu, 3))
    if target.proc and r.get("requests"):
        r["cpu_us_per_req"] = round(cpu * 1e6 / r["requests"], 2)
    return r


# ---------------------------------------------------------------- phases


def main_phase(args, all_targets, logdir, points):
    runs, memory = [], []
    for rep in range(args.reps):
        live = []
        for t in all_targets:
            if t.start(logdir):
                live.append(t)
            else:
                print(f"  ! {t.name} did not answer; skipped in rep {rep}", file=sys.stderr)
                t.stop()
        time.sleep(args.idle)
        idle = {t.name: t.mem("VmRSS") for t in live if t.proc}
        threads = {t.name: t.mem("Threads") for t in live if t.proc}
        for point in points:
            order = live[:]
            random.shuffle(order)
            for t in order:
                r = measure(args, t, point, rep)
                runs.append(r)
                print(f"  rep {rep} {point[0]:>14} {t.name:>15}: {r['rps']:>9.0f} rps"
                      f"  cpu/req {r.get('cpu_us_per_req', '-')} µs  non2xx {r['non2xx']}"
                      + (f"  p50/p99/p99.9 {r.get('p50_us')}/{r.get('p99_us')}/{r.get('p999_us')} µs"
                         if point[3] else ""), flush=True)
        for t in live:
            if t.proc:
                memory.append({"target": t.name, "rep": rep, "idle_rss_kib": idle[t.name], "threads": threads[t.name],
                               "peak_hwm_kib": t.mem("VmHWM")})
            t.stop()
    return runs, memory


# The breaker workload. containerConcurrency 10 gives 10 slots and a queue of 100
# (Knative's queue depth is 10 × CC): a 100 ms backend serves 100 rps through them.
# An open loop offers twice that on a fixed schedule; each connection sends every
# connections/rate = 2 s, longer than the longest admitted wait (~1.1 s), so the offered
# load never depends on how fast a proxy answers or rejects. The 200 and 503 counts are
# then the breaker's own decisions, comparable run to run and proxy to proxy.
BREAKER_SLEEP_MS = 100
BREAKER_RATE = 200
BREAKER_CONNECTIONS = 400


def breaker_phase(args, all_targets, logdir):
    """containerConcurrency 0 and 10 under the same fixed-rate open loop, both proxies
    back to back per repetition (in a shuffled order), so counts pair per repetition."""
    queues = [t for t in all_targets if t.name in ("knserve-queue", "kn-queue-proxy")]
    runs = []
    seconds = 3 if args.quick else 10
    for rep in range(args.reps):
        for cc in random.sample((0, 10), 2):
            for t in random.sample(queues, len(queues)):
                if not t.start(logdir, cc):
                    print(f"  ! {t.name} cc={cc} did not answer", file=sys.stderr)
                    t.stop()
                    continue
                r = run_open(args.tools, t.port, f"/sleep?ms={BREAKER_SLEEP_MS}", BREAKER_CONNECTIONS,
                             BREAKER_RATE, seconds, 2)
                r.update(target=t.name, cc=cc, rep=rep, seconds=seconds)
                runs.append(r)
                print(f"  rep {rep} breaker cc={cc:>2} {t.name:>15}: 200s {r['ok']:>6}  "
                      f"503s {r['non2xx']:>6}  errors {r.get('errors', 0)}", flush=True)
                t.stop()
    return runs


def breaker_parity(breaker):
    """Paired per repetition and CC: knserve-queue's 200 and 503 counts over Knative's."""
    by = {(r["target"], r["cc"], r["rep"]): r for r in breaker}
    out = {}
    for cc in sorted({r["cc"] for r in breaker}):
        pairs = [(by[("knserve-queue", cc, rep)], by[("kn-queue-proxy", cc, rep)])
                 for (t, c, rep) in by if t == "knserve-queue" and c == cc
                 and ("kn-queue-proxy", cc, rep) in by]
        if not pairs:
            continue
        ok = [(a["ok"] - b["ok"]) / max(b["ok"], 1) * 100 for a, b in pairs]
        rej = [(a["non2xx"] - b["non2xx"]) / max(b["non2xx"], 1) * 100 for a, b in pairs
               if a["non2xx"] or b["non2xx"]]
        worst = max(abs(x) for x in ok + rej)
        out[f"cc={cc}"] = {"ok_diff_percent": spread(ok), "non2xx_diff_percent": spread(rej),
                           "worst_abs_percent": round(worst, 2), "within_1_percent": worst <= 1.0,
                           "pairs": len(pairs)}
    return out


# ---------------------------------------------------------------- summary


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def fmt(s, digits=0, unit=""):
    if not s:
        return "—"
    f = f"{{:,.{digits}f}}"
    return f"{f.format(s['median'])}{unit} ({f.format(s['min'])}–{f.format(s['max'])})"


def summarise(runs, memory, breaker, names, points):
    by = {}
    for r in runs:
        by.setdefault((r["point"], r["target"]), {})[r["rep"]] = r
    summary = {"points": {}, "memory": {}, "breaker": {}}
    for point in points:
        p = point[0]
        row = {}
        for n in names:
            reps = by.get((p, n), {})
            entry = {"rps": spread([r["rps"] for r in reps.values()]),
                     "cpu_us_per_req": spread([r.get("cpu_us_per_req") for r in reps.values()])}
            for ref in ("direct", "kn-queue-proxy"):
                base = by.get((p, ref), {})
                entry[f"rps_vs_{ref}"] = spread([reps[k]["rps"] / base[k]["rps"] for k in reps
                                                  if k in base and base[k]["rps"]])
            kn = by.get((p, "kn-queue-proxy"), {})
            entry["cpu_vs_kn-queue-proxy"] = spread(
                [reps[k]["cpu_us_per_req"] / kn[k]["cpu_us_per_req"] for k in reps
                 if k in kn and reps[k].get("cpu_us_per_req") and kn[k].get("cpu_us_per_req")])
            if point[3]:
                direct = by.get((p, "direct"), {})
                for q in ("p50_us", "p99_us", "p999_us"):
                    entry[q] = spread([r.get(q) for r in reps.values()])
                    entry["added_" + q] = spread([reps[k][q] - direct[k][q] for k in reps
                                                  if k in direct and q in reps[k]])
            row[n] = entry
        summary["points"][p] = row
    for n in names:
        m = [x for x in memory if x["target"] == n]
        if m:
            summary["memory"][n] = {"idle_rss_mib": spread([x["idle_rss_kib"] / 1024 for x in m]),
                                    "peak_hwm_mib": spread([x["peak_hwm_kib"] / 1024 for x in m])}
    for r in breaker:
        key = f"{r['target']} cc={r['cc']}"
        summary["breaker"].setdefault(key, []).append(r)
    summary["breaker"] = {k: {"ok": spread([r["ok"] for r in v]),
                              "non2xx": spread([r["non2xx"] for r in v]),
                              "errors": spread([r.get("errors", 0) for r in v])}
                          for k, v in summary["breaker"].items()}
    summary["breaker_parity"] = breaker_parity(breaker)
    return summary


def markdown(record):
    s, m = record["summary"], record["machine"]
    names = record["targets"]
    pts = list(s["points"])
    closed = [p for p in pts if not p.startswith("open")]
    opened = [p for p in pts if p.startswith("open")]
    L = [f"# Side-by-side proxy benchmark — {record['date']}", "",
         f"Machine: {m['cpu_model']}, nproc {m['nproc']}, kernel {m['kernel']}; "
         f"load before/after: {m['loadavg_before']} / {m['loadavg_after']}, steal {m['steal_percent']} %. "
         f"Mode: {record['mode']}, {record['config']['reps']} repetitions × {record['config']['seconds']} s per point "
         f"(+{record['config']['warmup']} s warm-up), SUTs interleaved in a shuffled order per point. "
         f"Git {record['git']}.", "",
         "Topology: wrk/knb-load + backend (knb-backend, one thread) on core 0, the hop alone on core 1, "
         "one worker each, inside `unshare -n` (loopback only). Cells: median (min–max) over repetitions; "
         "ratios are paired per repetition, then the median is taken.", "",
         "## Requests per second (closed loop, wrk -t1)", "",
         "| target | " + " | ".join(closed) + " |", "|---" * (len(closed) + 1) + "|"]
    for n in names:
        L.append(f"| {n} | " + " | ".join(fmt(s["points"][p][n]["rps"]) for p in closed) + " |")
    for ref in ("direct", "kn-queue-proxy"):
        L += ["", f"### rps ratio vs {ref} (paired)", "",
              "| target | " + " | ".join(closed) + " |", "|---" * (len(closed) + 1) + "|"]
        for n in names:
            if n != ref:
                L.append(f"| {n} | " + " | ".join(fmt(s["points"][p][n][f"rps_vs_{ref}"], 2)
                                                   for p in closed) + " |")
    L += ["", "## Hop CPU time per request, µs (utime+stime of the hop's processes ÷ requests)", "",
          "| target | " + " | ".join(pts) + " |", "|---" * (len(pts) + 1) + "|"]
    for n in names:
        if n != "direct":
            L.append(f"| {n} | " + " | ".join(fmt(s["points"][p][n]["cpu_us_per_req"], 1) for p in pts) + " |")
    L += ["", "### CPU per request ratio vs kn-queue-proxy (paired)", "",
          "| target | " + " | ".join(pts) + " |", "|---" * (len(pts) + 1) + "|"]
    for n in names:
        if n not in ("direct", "kn-queue-proxy"):
            L.append(f"| {n} | " + " | ".join(fmt(s["points"][p][n]["cpu_vs_kn-queue-proxy"], 2)
                                               for p in pts) + " |")
    if opened:
        L += ["", "## Open-loop latency, µs (knb-load, 16 connections, corrected for coordinated omission)", "",
              "| target | " + " | ".join(f"{p} p50 / p99 / p99.9 (added p50 / p99 / p99.9)" for p in opened)
              + " |", "|---" * (len(opened) + 1) + "|"]
        for n in names:
            cells = []
            for p in opened:
                e = s["points"][p][n]
                med = lambda k: f"{e[k]['median']:,.0f}" if e.get(k) else "—"
                added = "" if n == "direct" else \
                    f" (+{med('added_p50_us')} / +{med('added_p99_us')} / +{med('added_p999_us')})"
                cells.append(f"{med('p50_us')} / {med('p99_us')} / {med('p999_us')}{added}; "
                             f"{fmt(e['rps'])} rps")
            L.append(f"| {n} | " + " | ".join(cells) + " |")
    L += ["", "## Memory, MiB (sum over the hop's processes)", "",
          "| target | idle RSS (after start) | peak VmHWM (after all points) |", "|---|---|---|"]
    for n, e in s["memory"].items():
        L.append(f"| {n} | {fmt(e['idle_rss_mib'], 1)} | {fmt(e['peak_hwm_mib'], 1)} |")
    if s["breaker"]:
        secs = record["breaker_runs"][0]["seconds"] if record["breaker_runs"] else "?"
        L += ["", f"## containerConcurrency: open loop `GET /sleep?ms={BREAKER_SLEEP_MS}` at {BREAKER_RATE} rps "
              f"on {BREAKER_CONNECTIONS} connections, {secs} s after 2 s of warm-up",
              "", "CC=10 serves 100 rps through 10 slots and a queue of 100, so about half is rejected "
              "with 503; CC=0 has no breaker. Counts per run, median (min–max).",
              "", "| queue-proxy, CC | 200s | 503s | transport errors |", "|---|---|---|---|"]
        for k, e in sorted(s["breaker"].items()):
            L.append(f"| {k} | {fmt(e['ok'])} | {fmt(e['non2xx'])} | {fmt(e['errors'])} |")
        parity = s.get("breaker_parity") or {}
        if parity:
            L += ["", "knserve-queue against Knative's queue-proxy, paired per repetition (target: within 1 %):",
                  "", "| CC | 200s diff % | 503s diff % | worst \\|diff\\| % | within 1 % |", "|---|---|---|---|---|"]
            for k, e in parity.items():
                L.append(f"| {k} | {fmt(e['ok_diff_percent'], 2)} | {fmt(e['non2xx_diff_percent'], 2)} | "
                         f"{e['worst_abs_percent']} | {'yes' if e['within_1_percent'] else 'no'} |")
    L += ["", "## Versions", ""] + [f"- {k}: {v}" for k, v in record["versions"].items()]
    if record["notes"]:
        L += ["", "## Notes", ""] + [f"- {x}" for x in record["notes"]]
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------- main


def cpu_jiffies():
    """Whole-box (user+nice+system+idle+iowait+irq+softirq, steal) jiffies from /proc/stat."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return sum(f[:7]), f[7]


def machine():
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return {"cpu_model": model, "nproc": os.cpu_count(), "kernel": os.uname().release,
            "mem_total_kib": int(next(l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal"))),
            "loadavg_before": open("/proc/loadavg").read().split()[:3]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--seconds", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--idle", type=float, default=2.0)
    ap.add_argument("--queue"), ap.add_argument("--queue-version", default="")
    ap.add_argument("--kn-queue"), ap.add_argument("--kn-version", default="")
    ap.add_argument("--tools", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--git", default="?")
    ap.add_argument("--build-seconds", type=float, default=0)
    args = ap.parse_args()
    args.reps = args.reps or (1 if args.quick else 5)
    args.seconds = args.seconds or (1 if args.quick else 5)
    args.warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)
    if args.quick:
        args.idle = 0.5
    points = QUICK_POINTS if args.quick else FULL_POINTS

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["sysctl", "-qw", "net.core.somaxconn=4096"], check=False)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    links = [l.split(":")[1].strip() for l in sh(["ip", "-o", "link"]).stdout.splitlines()]
    if links != ["lo"]:
        sys.exit(f"not in a private network namespace (links: {links}); run bench/run.sh")

    started = time.time()
    mach = machine()
    jiffies0 = cpu_jiffies()
    workdir = tempfile.mkdtemp(prefix="knserve-bench-")
    backend = subprocess.Popen(["taskset", "-c", CLIENT_CPU, os.path.join(args.tools, "knb-backend"),
                                "--listen", BACKEND], stdout=subprocess.DEVNULL)
    if not wait_http(8080):
        sys.exit("backend did not start")
    all_targets = targets(args, workdir)
    names = [t.name for t in all_targets]
    notes = []
    for want in ("knserve-queue", "kn-queue-proxy", "nginx", "haproxy"):
        if want not in names:
            notes.append(f"{want} unavailable on this machine: not measured")
    print(f"targets: {', '.join(names)}; {args.reps} reps × {args.seconds} s", flush=True)
    try:
        runs, memory = main_phase(args, all_targets, workdir, points)
        breaker = breaker_phase(args, all_targets, workdir)
    finally:
        for t in all_targets:
            t.stop()
        kill_tree(backend)
    mach["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    (busy1, steal1), (busy0, steal0) = cpu_jiffies(), jiffies0
    mach["steal_percent"] = round(100 * (steal1 - steal0) / max(1, busy1 + steal1 - busy0 - steal0), 2)
    now = datetime.datetime.now(datetime.timezone.utc)
    notes.append("Open-loop CPU/request counts the warm-up's requests too (all sent requests).")
    notes.append("Closed-loop p99 is not comparable across targets on this box (see ref/perf-anchors §3.3).")
    record = {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"), "mode": "quick" if args.quick else "full",
        "git": args.git, "machine": mach, "targets": names,
        "config": {"reps": args.reps, "seconds": args.seconds, "warmup": args.warmup,
                   "points": [list(p) for p in points], "client_cpu": CLIENT_CPU, "sut_cpu": SUT_CPU},
        "versions": {t.name: t.version for t in all_targets} | {
            "wrk": sh(["wrk", "-v"]).stdout.splitlines()[0] if shutil.which("wrk") else "missing"},
        "timing_s": {"build": args.build_seconds, "run": round(time.time() - started, 1)},
        "notes": notes, "runs": runs, "memory": memory, "breaker_runs": breaker,
    }
    record["summary"] = summarise(runs, memory, breaker, names, points)
    os.makedirs(args.out, exist_ok=True)
    # bench/report.py merges these with the other benchmarks' into the dated record.
    with open(os.path.join(args.out, "proxy.json"), "w") as f:
        json.dump(record, f, indent=1)
    text = markdown(record)
    with open(os.path.join(args.out, "proxy.md"), "w") as f:
        f.write(text)
    print(text)
    # A smoke must fail loudly: every target answered every point with 2xx only.
    bad = [r for r in runs if r["non2xx"] or r.get("socket_errors") or r.get("errors") or not r["rps"]]
    missing = [t.name for t in all_targets if not any(r["target"] == t.name for r in runs)]
    # The breaker: no transport errors, no 503 without one (CC=0), 503s with one (CC=10).
    bad += [r for r in breaker if r.get("errors") or not r["ok"]
            or (r["cc"] == 0 and r["non2xx"]) or (r["cc"] == 10 and not r["non2xx"])]
    if bad or missing:
        print(f"FAILED: {len(bad)} runs with errors, targets that never ran: {missing}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
