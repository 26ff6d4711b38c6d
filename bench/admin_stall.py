#!/usr/bin/env python3
"""Ingress latency while the admin API refuses the worst bodies it can be sent.

Through the real `knserve serve` (release or dist build): one Service running
`knserve-test-app` at min-scale 1, then

* idle: GETs to it through the ingress, paced at `--rate` per second, for `--seconds`;
* stalled: the same GETs while `--senders` threads POST the worst inputs up to the
  4 MiB limit to `/v1/apply` in a loop (each refused: too many documents, nesting too
  deep, one byte over the limit, and the costliest bodies within every bound, which are
  decoded in full before they are refused as not a Service).

Writes bench/results/admin-stall-<UTC stamp>.{json,md}: p50/p99/max of each phase, the
ratio p99(stalled)/p99(idle) against the target (within 2x), and what every input was
answered. No other load runs on the machine during a run; both phases share it alike.

    python3 bench/admin_stall.py [--knserve PATH] [--app PATH] [--seconds S] [--rate R]
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
sys.path.insert(0, BENCH_DIR)
import harness  # noqa: E402  (kill_tree)

LIMIT = 4 << 20
HOST = "ready.default.example.com"
TARGET_RATIO = 2.0

SERVICE = """apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: {name}
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "1"
    spec:
      containers:
      - image: example.com/test-app:1
        command: ["{app}"]
"""


# ---------------------------------------------------------------- inputs


def padded(text, size=LIMIT):
    """`text` with a trailing comment making it exactly `size` bytes."""
    return text + "#" + "x" * (size - len(text) - 2) + "\n"


def worst_inputs(app):
    """(label, body, expected status, text the refusal must contain)."""
    service = SERVICE.format(name="worst", app=app)
    deep_block = "".join("  " * d + "a:\n" for d in range(150))
    nest90 = "[" * 90 + "]" * 90 + ","
    flow_lists = "v: [" + nest90 * ((LIMIT - 10) // len(nest90)) + "]\n"
    keys, size = [], 0
    while size + 16 < LIMIT:
        keys.append(f"k{len(keys)}: v\n")
        size += len(keys[-1])
    many_services = "---\n".join([service] * 1001)
    return [
        ("4 MiB of `---` separators", "---\n" * (LIMIT // 4), 400, "too many documents"),
        ("1001 Services, padded to 4 MiB", padded(many_services), 400, "too many documents"),
        ("150-deep block nesting, padded to 4 MiB", padded(deep_block), 400, "nesting deeper than 100"),
        ("4 MiB of `[`", "[" * LIMIT, 400, "nesting deeper than 100"),
        ("4 MiB of 90-deep flow lists (within bounds)", flow_lists[:LIMIT], 400, "apiVersion"),
        (f"4 MiB mapping of {len(keys) // 1000}k keys (within bounds)", padded("".join(keys)), 400, "apiVersion"),
        ("4 MiB + 1 byte", padded(service, LIMIT + 1), 413, "larger than the limit of 4 MiB"),
    ]


# ---------------------------------------------------------------- server


class Knserve:
    def __init__(self, binary, workdir):
        self.state = os.path.join(workdir, "state")
        self.log = open(os.path.join(workdir, "knserve.log"), "ab")
        env = {"PATH": os.environ["PATH"], "HOME": workdir, "KNSERVE_LOG": "warn"}
        self.proc = subprocess.Popen(
            [binary, "--state-dir", self.state, "serve", "--listen", "127.0.0.1:0"],
            env=env, stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.time() + 20
        while True:
            try:
                with open(os.path.join(self.state, "server.json")) as f:
                    info = json.load(f)
                if info["pid"] == self.proc.pid:
                    break
            except (OSError, ValueError, KeyError):
                pass
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"knserve serve did not start; log in {workdir}")
            time.sleep(0.05)
        self.ingress = tuple(addr(info["ingress"]))
        self.admin = tuple(addr(info["admin"]))
        with open(os.path.join(self.state, "admin-token")) as f:
            self.token = f.read().strip()

    def post(self, path, body):
        """One admin POST on a new connection: (status, body text)."""
        conn = http.client.HTTPConnection(*self.admin, timeout=120)
        try:
            conn.request("POST", path, body=body.encode(),
                         headers={"Authorization": f"Bearer {self.token}",
                                  "Content-Type": "application/yaml"})
            response = conn.getresponse()
            return response.status, response.read().decode(errors="replace")
        finally:
            conn.close()

    def stop(self):
        """SIGTERM (the server stops its instances), then everything it left, by pid."""
        try:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            harness.kill_tree(self.proc)


def addr(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


# ---------------------------------------------------------------- measuring


def pct(values, p):
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))]


def get(conn):
    conn.request("GET", "/", headers={"Host": HOST})
    response = conn.getresponse()
    response.read()
    return response.status


def ingress_phase(server, seconds, rate):
    """GETs paced at `rate`/s on one keep-alive connection: (latencies ms, non-200 count)."""
    conn = http.client.HTTPConnection(*server.ingress, timeout=60)
    latencies, failures = [], 0
    interval = 1.0 / rate
    start = time.monotonic()
    next_at = start
    while time.monotonic() - start < seconds:
        sent = time.perf_counter_ns()
        try:
            status = get(conn)
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(*server.ingress, timeout=60)
            status = 0
        latencies.append((time.perf_counter_ns() - sent) / 1e6)
        failures += status != 200
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    conn.close()
    return latencies, failures


def summary(latencies, failures):
    return {"requests": len(latencies), "non_200": failures,
            "p50_ms": round(pct(latencies, 50), 3), "p99_ms": round(pct(latencies, 99), 3),
            "max_ms": round(max(latencies), 3), "mean_ms": round(statistics.mean(latencies), 3)}


def sender(server, inputs, stop, answers, lock):
    """POSTs every input in turn until `stop`; tallies what each was answered."""
    while not stop.is_set():
        for label, body, status, rule in inputs:
            if stop.is_set():
                return
            sent = time.monotonic()
            try:
                got, text = server.post("/v1/apply", body)
            except (OSError, http.client.HTTPException) as e:
                got, text = 0, str(e)
            took = time.monotonic() - sent
            with lock:
                tally = answers.setdefault(label, {"sent": 0, "as_expected": 0, "answers": {},
                                                   "bytes": len(body), "slowest_s": 0.0})
                tally["sent"] += 1
                tally["as_expected"] += got == status and rule in text
                tally["answers"].setdefault(str(got), text[:300])
                tally["slowest_s"] = round(max(tally["slowest_s"], took), 3)


def run(args, workdir):
    server = Knserve(args.knserve, workdir)
    try:
        status, text = server.post("/v1/apply", SERVICE.format(name="ready", app=args.app))
        if status != 200:
            raise RuntimeError(f"apply failed: {status} {text}")
        deadline = time.time() + 60
        while True:
            conn = http.client.HTTPConnection(*server.ingress, timeout=10)
            try:
                if get(conn) == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            if time.time() > deadline:
                raise RuntimeError("the Service did not become ready")
            time.sleep(0.2)
        ingress_phase(server, 2, args.rate)  # warm-up
        idle = summary(*ingress_phase(server, args.seconds, args.rate))
        idle["load_average_after"] = os.getloadavg()[0]

        inputs = worst_inputs(args.app)
        stop, lock, answers = threading.Event(), threading.Lock(), {}
        threads = [threading.Thread(target=sender, args=(server, inputs, stop, answers, lock))
                   for _ in range(args.senders)]
        for t in threads:
            t.start()
        time.sleep(1)  # the senders are under way
        stalled = summary(*ingress_phase(server, args.seconds, args.rate))
        stalled["load_average_after"] = os.getloadavg()[0]
        stop.set()
        for t in threads:
            t.join()
        return idle, stalled, answers, inputs
    finally:
        server.stop()


# ---------------------------------------------------------------- report


def write(args, idle, stalled, answers, inputs):
    ratio = stalled["p99_ms"] / idle["p99_ms"]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    version = subprocess.run([args.knserve, "--version"], capture_output=True, text=True).stdout.strip()
    record = {
        "stamp": stamp, "knserve": version, "binary": "/".join(args.knserve.split("/")[-2:]),
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
        "settings": {"seconds": args.seconds, "rate_per_s": args.rate, "senders": args.senders},
        "idle": idle, "stalled": stalled,
        "p99_ratio": round(ratio, 3), "target_ratio": TARGET_RATIO, "met": ratio <= TARGET_RATIO,
        "inputs": [{"label": label, "expected_status": status, "rule": rule, **answers.get(label, {})}
                   for label, _, status, rule in inputs],
    }
    base = os.path.join(args.out, f"admin-stall-{stamp}")
    os.makedirs(args.out, exist_ok=True)
    with open(base + ".json", "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    verdict = "**met**" if record["met"] else "**missed**"
    lines = [
        f"# Admin API stall — {stamp}", "",
        f"`{version}` ({record['binary']}), {os.cpu_count()} CPUs. GETs to a ready Service through "
        f"the ingress at {args.rate}/s for {args.seconds} s, idle and while {args.senders} clients "
        "POST the inputs below to `/v1/apply` in a loop.", "",
        "| phase | requests | non-200 | p50 ms | p99 ms | max ms | 1-min load after |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in (("idle", idle), ("stalled", stalled)):
        lines.append(f"| {name} | {s['requests']} | {s['non_200']} | {s['p50_ms']:.2f} | "
                     f"{s['p99_ms']:.2f} | {s['max_ms']:.2f} | {s['load_average_after']:.1f} |")
    lines += ["", f"p99(stalled) / p99(idle) = **{ratio:.2f}** (target ≤ {TARGET_RATIO:.0f}×): {verdict}", "",
              "| input | bytes | sent | answered as expected | slowest s | answers |",
              "|---|---|---|---|---|---|"]
    for item in record["inputs"]:
        seen = "; ".join(f"{k}: {v[:120]}" for k, v in item.get("answers", {}).items())
        lines.append(f"| {item['label']} | {item.get('bytes', 0)} | {item.get('sent', 0)} | "
                     f"{item.get('as_expected', 0)} | {item.get('slowest_s', 0)} | {seen.replace('|', '/')} |")
    with open(base + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return base


def default_binary(name):
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    for profile in ("dist", "release"):
        path = os.path.join(target, profile, name)
        if os.path.exists(path):
            return path
    return os.path.join(target, "release", name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--knserve", default=default_binary("knserve"))
    ap.add_argument("--app", default=default_binary("knserve-test-app"))
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--senders", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(BENCH_DIR, "results"))
    args = ap.parse_args()
    args.knserve, args.app = os.path.abspath(args.knserve), os.path.abspath(args.app)
    for path in (args.knserve, args.app):
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: cargo build --release -p knserve-local -p knserve-tests --bins")
    workdir = tempfile.mkdtemp(prefix="knserve-admin-stall-")
    try:
        idle, stalled, answers, inputs = run(args, workdir)
    except Exception:
        print(f"knserve log: {workdir}/knserve.log", file=sys.stderr)
        raise
    base = write(args, idle, stalled, answers, inputs)
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"wrote {base}.json and {base}.md")


if __name__ == "__main__":
    main()
