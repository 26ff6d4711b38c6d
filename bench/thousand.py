#!/usr/bin/env python3
"""One machine, a thousand Services (issue 21 §2): `knserve serve` holding many idle
Services, and the router's lookup as its table grows.

Through the real `knserve serve` (core 1, `TOKIO_WORKER_THREADS=1`; client, apps and
`knserve apply` on core 0; inside `unshare -n`, entered by the script itself):

* apply throughput: N Services (min-scale 0, `initial-scale: "0"`, bench/coldstart's
  config), applied 100 documents per `knserve apply`; Services per second.
* memory per idle Service: the server's RSS (VmRSS) once the N Services are applied and
  idle, minus its RSS before, divided by N.
* idle CPU: the server's CPU time over 10 s with the N Services idle (its control loop
  passes over every revision each second).
* parallel cold starts: 100 different Services at zero get their first request at the
  same moment (100 connections opened beforehand, the requests written back to back).
  Overhead = T_cold − median T_user − median T_warm, as bench/coldstart.py defines them
  (T_user: the app alone, exec → listen(); T_warm: a warm request through the same path).
  The 100 apps start on one core at once, so each app's own start is slower than T_user
  alone: the overhead here includes that queueing, and the per-phase `Server-Timing`
  medians show where the time went.
* router lookup: `cargo bench -p knserve-core --bench router_lookup` (criterion), the
  cost of one lookup in tables of 10 to 10,000 hosts, probes spread over the table.

    python3 bench/thousand.py --out DIR --tools DIR --knserve PATH [--services N] [--quick]

Writes DIR/thousand.{json,md}; exits non-zero when a request is not answered 200.
"""

import argparse
import datetime
import glob
import json
import os
import resource
import selectors
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
import coldstart  # noqa: E402  (Knserve, Reply, request_bytes, connect, app_argv, ...)
import harness  # noqa: E402

PER_APPLY = 100
TARGET_KIB_PER_SERVICE = 64.0
TARGET_LOOKUP_FLAT = 1.10
TARGET_PARALLEL_P99_MS = 50.0


def service_name(i):
    return f"svc-{i:05d}"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def parallel_cold(hosts):
    """One request to each of `hosts`, all written at once on connections opened
    beforehand; per host: status, first-byte ms, Server-Timing."""
    socks = [coldstart.connect() for _ in hosts]
    time.sleep(0.2)  # let the accepts settle; not measured
    sel = selectors.DefaultSelector()
    replies, sent = {}, {}
    payloads = [coldstart.request_bytes(h) for h in hosts]
    for s in socks:
        s.setblocking(False)
    for s, payload in zip(socks, payloads):
        sent[s] = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        s.sendall(payload)
        replies[s] = coldstart.Reply()
        sel.register(s, selectors.EVENT_READ)
    done, deadline = {}, time.monotonic() + 120
    while len(done) < len(socks) and time.monotonic() < deadline:
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
    for host, s in zip(hosts, socks):
        r = done.get(s)
        out.append({"service": host, "status": r.status if r else None,
                    "t_cold_ms": (r.first_ns - sent[s]) / 1e6 if r else None,
                    "server_timing": r.timing() if r else {}})
    return out


def run_server(args, workdir):
    k = coldstart.Knserve(args.knserve, workdir)
    pid = k.proc.pid
    record = {}
    try:
        time.sleep(2)
        rss_before = rss_kib(pid)
        argv = coldstart.app_argv(args.tools, 0)
        applies = []
        for start in range(0, args.services, PER_APPLY):
            names = [service_name(i) for i in range(start, min(start + PER_APPLY, args.services))]
            text = "---\n".join(coldstart.service_yaml(n, argv) for n in names)
            t0 = time.monotonic()
            k.apply(text, "batch.yaml")
            applies.append((len(names), time.monotonic() - t0))
        applied_s = sum(t for _, t in applies)
        time.sleep(5)
        rss_after = rss_kib(pid)
        cpu0, t0 = harness.cpu_seconds(pid), time.monotonic()
        time.sleep(10)
        idle_cpu = (harness.cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        record["apply"] = {"services": args.services, "seconds": round(applied_s, 2),
                           "per_second": round(args.services / applied_s, 1),
                           "per_apply_ms": [round(t * 1000, 1) for _, t in applies]}
        record["memory"] = {"rss_before_kib": rss_before, "rss_after_kib": rss_after,
                            "kib_per_service": round((rss_after - rss_before) / args.services, 1)}
        record["idle_cpu_fraction"] = round(idle_cpu, 4)

        users = [coldstart.user_start_ms(args.tools, 0) for _ in range(args.user_starts)]
        step = max(1, args.services // args.parallel)
        hosts = [f"{service_name(i)}.{coldstart.DOMAIN}" for i in range(0, args.services, step)][:args.parallel]
        cold = parallel_cold(hosts)
        warm = []
        for host in hosts[:10]:
            for _ in range(3):
                sent, reply = coldstart.timed_get(host)
                if reply.status != 200:
                    raise RuntimeError(f"warm request to {host}: {reply.status}")
                warm.append((reply.first_ns - sent) / 1e6)
        record["parallel"] = {"t_user_ms": users, "t_warm_ms": warm, "requests": cold}
    finally:
        k.stop()
    return record


def router_lookup(args):
    """Criterion's estimate per lookup (ns) by table size, or the reason it is missing."""
    env = dict(os.environ)
    if args.quick:
        cmd_extra = ["--", "--quick"]
    else:
        cmd_extra = []
    r = subprocess.run(["cargo", "bench", "--locked", "-q", "-p", "knserve-core", "--bench", "router_lookup"]
                       + cmd_extra, cwd=os.path.dirname(BENCH_DIR), env=env, capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": (r.stdout + r.stderr)[-2000:]}
    target = env.get("CARGO_TARGET_DIR") or os.path.join(os.path.dirname(BENCH_DIR), "target")
    out = {}
    for path in glob.glob(os.path.join(target, "criterion", "router_lookup", "*", "new", "estimates.json")):
        hosts = int(path.split(os.sep)[-3])
        with open(path) as f:
            est = json.load(f)
        # One iteration is 1024 lookups (benches/router_lookup.rs LOOKUPS).
        out[hosts] = round(est["median"]["point_estimate"] / 1024, 1)
    return {"ns_per_lookup": dict(sorted(out.items()))}


def summarise(record):
    p = record["parallel"]
    t_user, t_warm = statistics.median(p["t_user_ms"]), statistics.median(p["t_warm_ms"])
    ok = [r for r in p["requests"] if r["status"] == 200]
    overhead = [r["t_cold_ms"] - t_user - t_warm for r in ok]
    phases = {}
    for name in coldstart.PHASES + ["cold-start"]:
        values = [r["server_timing"].get(name, 0.0) for r in ok]
        phases[name] = round(statistics.median(values), 1) if values else None
    s = {"t_user_ms": round(t_user, 2), "t_warm_ms": round(t_warm, 2), "ok": len(ok), "n": len(p["requests"]),
         "overhead_p50_ms": round(coldstart.pct(overhead, 50), 1) if overhead else None,
         "overhead_p99_ms": round(coldstart.pct(overhead, 99), 1) if overhead else None,
         "t_cold_max_ms": round(max(r["t_cold_ms"] for r in ok), 1) if ok else None,
         "phases_median_ms": phases}
    lookups = record["router"].get("ns_per_lookup", {})
    if lookups:
        sizes = sorted(lookups)
        s["lookup_ratio_largest_to_smallest"] = round(lookups[sizes[-1]] / lookups[sizes[0]], 2)
    return s


def markdown(record):
    s, a, m = record["summary"], record["apply"], record["memory"]
    met = lambda ok: "met" if ok else "**missed**"  # noqa: E731
    out = ["## One machine, a thousand Services (issue 21 §2)", "",
           f"{record['date']}, {record['mode']} mode, git {record['git']}; {record['machine']['cpu_model']}, "
           f"{record['machine']['nproc']} CPUs; load before {record['machine'].get('loadavg')}, after "
           f"{record['machine'].get('loadavg_after')}. `knserve serve` on core {coldstart.SUT_CPU} "
           f"(`TOKIO_WORKER_THREADS=1`), client and apps on core {coldstart.CLIENT_CPU}, `unshare -n`.", "",
           f"- apply: {a['services']} Services in {a['seconds']} s, {a['per_second']} Services/s "
           f"({PER_APPLY} per `knserve apply`)",
           f"- memory: RSS {m['rss_before_kib']} KiB before, {m['rss_after_kib']} KiB with {a['services']} idle "
           f"Services: {m['kib_per_service']} KiB per idle Service — target ≤ {TARGET_KIB_PER_SERVICE:.0f} KiB: "
           f"{met(m['kib_per_service'] <= TARGET_KIB_PER_SERVICE)}",
           f"- idle CPU with {a['services']} Services: {record['idle_cpu_fraction'] * 100:.1f} % of a core",
           f"- {s['n']} Services at zero, first requests at once: {s['ok']} answered 200; T_user "
           f"{s['t_user_ms']} ms, T_warm {s['t_warm_ms']} ms; overhead p50 {s['overhead_p50_ms']} ms, "
           f"p99 {s['overhead_p99_ms']} ms (slowest first byte {s['t_cold_max_ms']} ms) — target p99 ≤ "
           f"{TARGET_PARALLEL_P99_MS:.0f} ms: {met(s['overhead_p99_ms'] is not None and s['overhead_p99_ms'] <= TARGET_PARALLEL_P99_MS)}",
           "  - phase medians (ms, `Server-Timing`): "
           + ", ".join(f"{k} {v}" for k, v in s["phases_median_ms"].items()), ""]
    lookups = record["router"].get("ns_per_lookup")
    if lookups:
        out += ["Router lookup (criterion, probes spread over the table):", "",
                "| hosts | ns per lookup |", "|---|---|"]
        out += [f"| {h} | {v} |" for h, v in lookups.items()]
        ratio = s["lookup_ratio_largest_to_smallest"]
        out += ["", f"Largest table against the smallest: {ratio}× — target ≤ {TARGET_LOOKUP_FLAT:.2f}×: "
                f"{met(ratio <= TARGET_LOOKUP_FLAT)}", ""]
    else:
        out += [f"Router lookup not measured: {record['router'].get('error', '?')[:300]}", ""]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--services", type=int, help="Services applied (1000; quick 200)")
    ap.add_argument("--parallel", type=int, help="cold starts at once (100; quick 20)")
    ap.add_argument("--user-starts", type=int, default=10)
    ap.add_argument("--no-router", action="store_true", help="skip the criterion router bench")
    ap.add_argument("--tools", required=True, help="bench/tools release directory (knb-backend)")
    ap.add_argument("--knserve", required=True, help="the knserve binary (release or dist)")
    ap.add_argument("--git", default=None)
    args = ap.parse_args()
    args.services = args.services or (200 if args.quick else 1000)
    args.parallel = min(args.parallel or (20 if args.quick else 100), args.services)
    args.tools, args.knserve = os.path.abspath(args.tools), os.path.abspath(args.knserve)
    # The criterion bench builds and runs outside the namespace (cargo may need the
    # registry); the server part inside.
    router = {"skipped": "--no-router"} if args.no_router else None
    if router is None and not os.environ.get("KNB_COLDSTART_UNSHARED"):
        router = router_lookup(args)
        with open(os.path.join(tempfile.gettempdir(), f"knserve-thousand-router-{os.getpid()}.json"), "w") as f:
            json.dump(router, f)
        os.environ["KNB_THOUSAND_ROUTER"] = f.name
    coldstart.enter_namespace()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["sysctl", "-qw", "net.core.somaxconn=4096"], check=False)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.sched_setaffinity(0, {int(coldstart.CLIENT_CPU)})
    if router is None:
        path = os.environ.get("KNB_THOUSAND_ROUTER")
        router = json.load(open(path)) if path else {"skipped": "--no-router"}

    git = args.git or harness.sh(["git", "-C", BENCH_DIR, "rev-parse", "--short", "HEAD"]).stdout.strip() or "?"
    mach = harness.machine()
    mach["loadavg"] = open("/proc/loadavg").read().split()[:3]
    workdir = tempfile.mkdtemp(prefix="knserve-thousand-")
    record = run_server(args, workdir)
    mach["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    record.update({
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick" if args.quick else "full", "git": git, "machine": mach, "router": router,
        "config": {"services": args.services, "parallel": args.parallel, "per_apply": PER_APPLY},
    })
    record["summary"] = summarise(record)
    bad = [r for r in record["parallel"]["requests"] if r["status"] != 200]
    record["errors"] = [f"cold request to {r['service']}: status {r['status']}" for r in bad]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "thousand.json"), "w") as f:
        json.dump(record, f, indent=1)
    text = markdown(record)
    with open(os.path.join(args.out, "thousand.md"), "w") as f:
        f.write(text)
    print(text)
    if record["errors"]:
        sys.exit("\n".join(record["errors"]))


if __name__ == "__main__":
    main()
