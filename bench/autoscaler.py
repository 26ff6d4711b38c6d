#!/usr/bin/env python3
"""The autoscaler side by side (issue 6, ref/perf-anchors §4.6, §5.3).

Runs the `autoscaler_load` bench (tests/benches, over knserve-k8s's autoscaler) (CPU per 2-second decision tick at 1,000 and
10,000 revisions, memory per revision, stat messages decoded and recorded per second)
pinned to core 1, and Knative's own Go benchmarks of the same operations from the module
proxy's copy of knative.dev/serving (BenchmarkAutoscaler, BenchmarkWindowAverage,
BenchmarkUnmarshallingProtoData, BenchmarkStatServer) on the same core with GOMAXPROCS=1.
Each repetition runs both, in a shuffled order, so ratios are paired per repetition.

    python3 bench/autoscaler.py --out DIR [--quick] [--reps N] [--target-dir DIR]
                                [--bench-bin PATH] [--kn-version v0.50.0] [--no-go]

Writes DIR/autoscaler.json (raw samples, summary, versions) and DIR/autoscaler.md.
Knative's test binaries are built once (`go test -c`) into
$KNSERVE_BENCH_CACHE/go-autoscaler-<version>/ (default ~/.cache/knserve-bench); --quick
uses them only if they are already there. Exits non-zero on any error or broken invariant;
a missed target is reported, not an error.
"""

import argparse
import datetime
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
sys.path.insert(0, BENCH_DIR)
import harness  # noqa: E402  (spread, fmt, machine, sh)

CPU = "1"
# Go package (under pkg/autoscaler) → -test.bench regex.
GO_BENCHES = {
    "scaling": "^BenchmarkAutoscaler$",
    "aggregation": "^BenchmarkWindowAverage$",
    "metrics": "^BenchmarkUnmarshallingProtoData$",
    "statserver": "^BenchmarkStatServer$",
}
GO_LINE = re.compile(r"^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+([\d.]+) ns/op"
                     r"(?:\s+([\d.]+) B/op\s+(\d+) allocs/op)?")

# Targets (perf-anchors §5.3).
TICK_CPU_MS_10K = 20.0
MEMORY_PER_REVISION = 16 * 1024
STATS_PER_SECOND = 200_000
KNATIVE_RATIO = 0.3


def fail(message):
    sys.exit(f"autoscaler bench: {message}")


def pinned(cmd):
    """`cmd` on core 1 when this machine has one (taskset), as is otherwise."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", CPU] + cmd
    return cmd


def private_net(cmd):
    """`cmd` in a fresh loopback-only network namespace when we may make one."""
    if os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip"):
        return ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"] + cmd
    return cmd


# ---------------------------------------------------------------- ours


def build_bench(target_dir):
    env = dict(os.environ)
    if target_dir:
        env["CARGO_TARGET_DIR"] = target_dir
    cmd = ["cargo", "bench", "-p", "knserve-tests", "--bench", "autoscaler_load", "--no-run",
           "--message-format=json"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        fail("cargo bench --no-run failed")
    exe = None
    for line in proc.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == \
                "autoscaler_load" and msg.get("executable"):
            exe = msg["executable"]
    if not exe:
        fail("cargo did not name the autoscaler_load executable")
    return exe


def run_ours(binary, quick, workdir, rep):
    out = os.path.join(workdir, f"ours-{rep}.json")
    cmd = pinned([binary, "--json", out] + (["--quick"] if quick else []))
    started = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-4000:])
        fail(f"autoscaler_load exited {proc.returncode}")
    print(proc.stdout, end="", flush=True)
    with open(out) as f:
        record = json.load(f)
    record["elapsed_s"] = round(time.time() - started, 2)
    return record


def check_ours(record, quick):
    """The invariants a run must keep; returns the problems found."""
    problems = []
    for t in record["tick"]:
        if t["ticks"] < 100 or len(t["samples_cpu_ns"]) != t["ticks"]:
            problems.append(f"N={t['revisions']}: {t['ticks']} ticks (< 100)")
        if not t["cpu_us"]["mean"] > 0 or not t["wall_us"]["p50"] > 0:
            problems.append(f"N={t['revisions']}: no CPU or wall time measured")
        if not 1 <= t["pods"] / t["revisions"] <= 10:
            problems.append(f"N={t['revisions']}: pods per revision outside 1–10")
    for m in record["memory"]:
        if not m["bytes_per_revision"] > 0:
            problems.append(f"memory {m['kind']} N={m['revisions']}: RSS did not grow")
    for i in record["ingest"]:
        if not i["messages_per_cpu_s"] > 0:
            problems.append(f"ingest {i['name']}: no rate")
    wanted = {1000} if quick else {1000, 10000}
    if {t["revisions"] for t in record["tick"]} != wanted:
        problems.append(f"tick runs for {sorted(t['revisions'] for t in record['tick'])}, "
                        f"wanted {sorted(wanted)}")
    return problems


# ---------------------------------------------------------------- Knative


def go_version():
    if not shutil.which("go"):
        return None
    return harness.sh(["go", "version"]).stdout.strip() or None


def prepare_go(cache, version, quick, notes):
    """Directory holding <pkg>.test for every GO_BENCHES package, or None (noted why)."""
    bindir = os.path.join(cache, f"go-autoscaler-{version}")
    tests = [os.path.join(bindir, f"{p}.test") for p in GO_BENCHES]
    if all(os.access(t, os.X_OK) for t in tests):
        return bindir
    if quick:
        shown = bindir.replace(os.path.expanduser("~"), "~", 1)
        notes.append(f"Knative's Go benchmarks skipped: quick mode and {shown} is not built yet "
                     "(a full run builds it once)")
        return None
    if not go_version():
        notes.append("Knative's Go benchmarks skipped: no Go toolchain")
        return None
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-buildvcs=false")
    src = os.path.join(cache, f"knative-serving-{version}")
    if not os.path.isdir(src):
        proc = subprocess.run(["go", "mod", "download", "-json", f"knative.dev/serving@{version}"],
                              cwd=cache, env=env, capture_output=True, text=True)
        try:
            moddir = json.loads(proc.stdout)["Dir"]
        except (ValueError, KeyError):
            notes.append(f"Knative's Go benchmarks skipped: go mod download failed: "
                         f"{(proc.stdout + proc.stderr).strip()[-300:]}")
            return None
        shutil.copytree(moddir, src + ".tmp", dirs_exist_ok=True)
        subprocess.run(["chmod", "-R", "u+w", src + ".tmp"], check=True)
        os.rename(src + ".tmp", src)
    os.makedirs(bindir, exist_ok=True)
    for pkg in GO_BENCHES:
        print(f"== go test -c ./pkg/autoscaler/{pkg} ({version})", flush=True)
        proc = subprocess.run(["go", "test", "-c", "-o", os.path.join(bindir, f"{pkg}.test"),
                               f"./pkg/autoscaler/{pkg}"], cwd=src, env=env, capture_output=True,
                              text=True)
        if proc.returncode != 0:
            notes.append(f"Knative's Go benchmarks skipped: go test -c ./pkg/autoscaler/{pkg} "
                         f"failed: {proc.stderr.strip()[-300:]}")
            return None
    return bindir


def run_go(bindir, quick, count):
    """{benchmark name: {ns_op, b_op, allocs_op}} (median over -count runs) and raw lines."""
    results, raw = {}, []
    benchtime = "0.2s" if quick else "1s"
    for pkg, regex in GO_BENCHES.items():
        cmd = pinned([os.path.join(bindir, f"{pkg}.test"), "-test.run", "^$", "-test.bench", regex,
                      "-test.benchmem", "-test.cpu", "1", "-test.count", str(count),
                      "-test.benchtime", benchtime])
        env = dict(os.environ, GOMAXPROCS="1")
        proc = subprocess.run(private_net(cmd), capture_output=True, text=True, cwd=bindir, env=env)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-2000:])
            fail(f"Knative benchmark {pkg} exited {proc.returncode}")
        samples = {}
        for line in proc.stdout.splitlines():
            m = GO_LINE.match(line.strip())
            if m:
                raw.append(line.strip())
                samples.setdefault(m.group(1), []).append(
                    (float(m.group(3)), float(m.group(4) or 0), float(m.group(5) or 0)))
        if not samples:
            fail(f"Knative benchmark {pkg} printed no result")
        for name, runs in samples.items():
            results[name] = {"ns_op": statistics.median(r[0] for r in runs),
                             "b_op": statistics.median(r[1] for r in runs),
                             "allocs_op": statistics.median(r[2] for r in runs)}
    return results, raw


# ---------------------------------------------------------------- summary


def go_ns(go, name):
    e = go.get(name)
    return e["ns_op"] if e else None


def summarise(reps):
    s = {"tick": {}, "memory": {}, "ingest": {}, "knative": {}, "ratios": {}}
    ours = [r["ours"] for r in reps]
    for n in sorted({t["revisions"] for r in ours for t in r["tick"]}):
        ts = [t for r in ours for t in r["tick"] if t["revisions"] == n]
        s["tick"][str(n)] = {
            "pods": ts[0]["pods"], "stats_per_tick": ts[0]["stats_per_tick"],
            "ticks": ts[0]["ticks"],
            "cpu_p50_us": harness.spread([t["cpu_us"]["p50"] for t in ts]),
            "cpu_p99_us": harness.spread([t["cpu_us"]["p99"] for t in ts]),
            "cpu_mean_us": harness.spread([t["cpu_us"]["mean"] for t in ts]),
            "wall_p50_us": harness.spread([t["wall_us"]["p50"] for t in ts]),
            "wall_p99_us": harness.spread([t["wall_us"]["p99"] for t in ts]),
            "cpu_ns_per_revision": harness.spread([t["cpu_ns_per_revision_p50"] for t in ts]),
            "changed_per_tick": harness.spread([t["changed_per_tick_mean"] for t in ts]),
            "feed_ns_per_record": harness.spread([t["feed_cpu_ns_per_record"] for t in ts]),
        }
    for kind in ("kpa", "deciders"):
        for n in sorted({m["revisions"] for r in ours for m in r["memory"]}):
            ms = [m for r in ours for m in r["memory"] if m["kind"] == kind and m["revisions"] == n]
            s["memory"][f"{kind} {n}"] = harness.spread([m["bytes_per_revision"] for m in ms])
    for name in [i["name"] for i in ours[0]["ingest"]]:
        xs = [i for r in ours for i in r["ingest"] if i["name"] == name]
        s["ingest"][name] = {"messages_per_cpu_s": harness.spread([i["messages_per_cpu_s"] for i in xs]),
                             "cpu_ns_per_message": harness.spread([i["cpu_ns_per_message"] for i in xs]),
                             "bytes_per_message": xs[0]["bytes_per_message"]}
    gos = [r["knative"] for r in reps if r.get("knative")]
    for name in sorted({k for g in gos for k in g}):
        s["knative"][name] = {k: harness.spread([g[name][k] for g in gos if name in g])
                              for k in ("ns_op", "b_op", "allocs_op")}
    # Paired per repetition: ours / Knative.
    pairs = {}
    for r in reps:
        g = r.get("knative")
        if not g:
            continue
        scale, window = go_ns(g, "BenchmarkAutoscaler"), go_ns(g, "BenchmarkWindowAverage/60-win-len")
        for t in r["ours"]["tick"]:
            n = t["revisions"]
            if scale:
                pairs.setdefault(f"tick {n} vs N×BenchmarkAutoscaler", []).append(
                    t["cpu_us"]["mean"] * 1e3 / (n * scale))
            if window:
                pairs.setdefault(f"tick {n} vs N×WindowAverage/60", []).append(
                    t["cpu_us"]["mean"] * 1e3 / (n * window))
        ing = {i["name"]: i for i in r["ours"]["ingest"]}
        small = go_ns(g, "BenchmarkUnmarshallingProtoData/BenchmarkStatWithSmallPodName")
        if small and "protobuf scrape: decode only" in ing:
            pairs.setdefault("protobuf decode rate vs Knative statFromProto", []).append(
                ing["protobuf scrape: decode only"]["messages_per_cpu_s"] * small / 1e9)
        server = go_ns(g, "BenchmarkStatServer/proto-encoding-100-msgs")
        ours_json = ing.get("json batch 100: decode + Deciders::record")
        if server and ours_json:
            pairs.setdefault("stats endpoint rate (batch 100) vs Knative StatServer", []).append(
                ours_json["messages_per_cpu_s"] * server / 100 / 1e9)
    s["ratios"] = {k: harness.spread(v) for k, v in pairs.items()}
    return s


def med(x):
    return x["median"] if x else None


def targets(s, quick):
    lines = []
    t10k = s["tick"].get("10000")
    if t10k:
        mean_ms = med(t10k["cpu_mean_us"]) / 1e3
        p99_ms = med(t10k["cpu_p99_us"]) / 1e3
        lines.append(("CPU per tick at 10,000 revisions ≤ 20 ms", mean_ms <= TICK_CPU_MS_10K,
                      f"mean {mean_ms:.2f} ms, p99 {p99_ms:.2f} ms "
                      f"({TICK_CPU_MS_10K / mean_ms:.0f}× headroom)"))
    else:
        t1k = s["tick"]["1000"]
        lines.append(("CPU per tick at 10,000 revisions ≤ 20 ms", None,
                      f"not measured in quick mode; at 1,000: mean {med(t1k['cpu_mean_us']):.0f} µs "
                      f"({med(t1k['cpu_ns_per_revision']):.0f} ns/revision)"))
    mem = {k: med(v) for k, v in s["memory"].items() if v}
    worst_key = max(mem, key=mem.get)
    lines.append(("memory per revision ≤ 16 KiB", mem[worst_key] <= MEMORY_PER_REVISION,
                  ", ".join(f"{k}: {v / 1024:.2f} KiB" for k, v in sorted(mem.items()))))
    endpoint = s["ingest"].get("json batch 100: decode + Deciders::record")
    rate = med(endpoint["messages_per_cpu_s"])
    proto = s["ingest"].get("protobuf scrape: decode + Kpa::record")
    lines.append(("≥ 200k stat messages/s on one core", rate >= STATS_PER_SECOND,
                  f"activator JSON batches of 100, decode + Deciders::record: {rate:,.0f}/s; "
                  f"protobuf scrape decode + record: {med(proto['messages_per_cpu_s']):,.0f}/s"))
    ratio_keys = sorted(k for k in s["ratios"] if "BenchmarkAutoscaler" in k)
    if ratio_keys:
        worst = max(med(s["ratios"][k]) for k in ratio_keys)
        lines.append(("≤ 0.3× Knative per-decision ns/op × N", worst <= KNATIVE_RATIO,
                      "; ".join(f"{k}: {harness.fmt(s['ratios'][k], 4)}" for k in ratio_keys)))
    else:
        lines.append(("≤ 0.3× Knative per-decision ns/op × N", None,
                      "Knative's benchmarks not run (see notes)"))
    return lines


def markdown(record):
    s = record["summary"]
    L = ["## Autoscaler (issue 6: perf-anchors §4.6, §5.3)", "",
         f"{record['date']}, mode {record['mode']}, {record['reps']} repetition(s); "
         f"{record['machine']['cpu_model']}, nproc {record['machine']['nproc']}, load before "
         f"{' '.join(record['machine']['loadavg_before'])}. Everything pinned to core {CPU} "
         "(`taskset`), one thread; Go with `GOMAXPROCS=1 -cpu 1`. Cells: median (min–max) over "
         "repetitions; ratios paired per repetition.", "",
         "### Decision tick (simulated time: 1 stat/pod/s, 1–10 pods per revision, tick every 2 s)", "",
         "| revisions | pods | ticks | CPU p50 µs | CPU p99 µs | CPU mean µs | wall p50 µs | ns/revision | "
         "decisions changed/tick | record ns/stat |", "|---" * 10 + "|"]
    for n, t in s["tick"].items():
        L.append(f"| {int(n):,} | {t['pods']:,} | {t['ticks']} | {harness.fmt(t['cpu_p50_us'], 1)} | "
                 f"{harness.fmt(t['cpu_p99_us'], 1)} | {harness.fmt(t['cpu_mean_us'], 1)} | "
                 f"{harness.fmt(t['wall_p50_us'], 1)} | {harness.fmt(t['cpu_ns_per_revision'])} | "
                 f"{harness.fmt(t['changed_per_tick'], 1)} | {harness.fmt(t['feed_ns_per_record'])} |")
    L += ["", "### Memory per revision (ΔVmRSS ÷ N, a fresh process per figure, windows full)", "",
          "| what | bytes/revision |", "|---|---|"]
    for k, v in s["memory"].items():
        L.append(f"| {k} | {harness.fmt(v)} |")
    L += ["", "### Stat ingestion on one core (10,000 revisions; messages per CPU second)", "",
          "| path | messages/s | CPU ns/message | bytes/message |", "|---|---|---|---|"]
    for k, v in s["ingest"].items():
        L.append(f"| {k} | {harness.fmt(v['messages_per_cpu_s'])} | "
                 f"{harness.fmt(v['cpu_ns_per_message'])} | {v['bytes_per_message']} |")
    if s["knative"]:
        L += ["", f"### Knative {record['versions']['knative']} Go benchmarks (same core)", "",
              "| benchmark | ns/op | B/op | allocs/op |", "|---|---|---|---|"]
        for k, v in s["knative"].items():
            L.append(f"| {k} | {harness.fmt(v['ns_op'], 1)} | {harness.fmt(v['b_op'])} | "
                     f"{harness.fmt(v['allocs_op'])} |")
        L += ["", "| paired ratio (ours ÷ Knative for time; ours × Knative ns for rates) | value |",
              "|---|---|"]
        for k, v in s["ratios"].items():
            L.append(f"| {k} | {harness.fmt(v, 4)} |")
    L += ["", "### Targets", ""]
    for name, met, text in record["targets"]:
        verdict = "not measured" if met is None else ("**met**" if met else "**missed**")
        L.append(f"- {name}: {verdict} — {text}")
    L += ["", "### Notes", ""] + [f"- {n}" for n in record["notes"]]
    return "\n".join(L) + "\n"


NOTES = [
    "CPU per tick is this thread's CPU time (`/proc/thread-self/schedstat` read after a "
    "`sched_yield`, so the running slice is charged), minus the reading's own cost measured on "
    "empty intervals; wall time beside it.",
    "Ticks run over `Kpa<RevisionKey>` in simulated time, fed per pod (1 stat/pod/s, as "
    "queue-proxies report); the server itself records one extrapolated scrape per revision per "
    "second plus activator pushes, fewer records than this.",
    "Knative's `BenchmarkAutoscaler` times one `Scale()` with a mocked metric client (no window "
    "averaging) and a debug-level zaptest logger built per call, so N × its ns/op overstates what "
    "Knative's real decider costs without logging; `N×WindowAverage/60` (the 60-bucket stable "
    "window average alone, which Knative's real decision also pays) is shown as a lower bound.",
    "Knative's `BenchmarkStatServer` includes the client's proto encoding and the websocket send "
    "in the same process; ours is JSON decode + `Deciders::record` of an activator batch without "
    "HTTP. `statFromProto` vs our protobuf `decode` is the like-for-like decode pair.",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR"))
    ap.add_argument("--bench-bin", help="a built autoscaler_load bench executable")
    ap.add_argument("--kn-version", default=os.environ.get("KN_VERSION", "v0.50.0"))
    ap.add_argument("--cache", default=os.environ.get(
        "KNSERVE_BENCH_CACHE", os.path.expanduser("~/.cache/knserve-bench")))
    ap.add_argument("--no-go", action="store_true", help="skip Knative's Go benchmarks")
    ap.add_argument("--tools", help="accepted for harness compatibility; unused")
    ap.add_argument("--knserve", help="accepted for harness compatibility; unused")
    args = ap.parse_args()
    reps = args.reps or (1 if args.quick else 5)
    started = time.time()
    notes = list(NOTES)

    build_started = time.time()
    binary = args.bench_bin or build_bench(args.target_dir)
    build_s = round(time.time() - build_started, 1)
    bindir = None
    if args.no_go:
        notes.append("Knative's Go benchmarks skipped (--no-go)")
    else:
        os.makedirs(args.cache, exist_ok=True)
        bindir = prepare_go(args.cache, args.kn_version, args.quick, notes)

    mach = harness.machine()
    workdir = tempfile.mkdtemp(prefix="knserve-autoscaler-")
    runs, problems, go_raw = [], [], []
    try:
        for rep in range(reps):
            order = ["ours", "knative"] if bindir else ["ours"]
            random.shuffle(order)
            run = {"rep": rep, "order": order}
            for which in order:
                if which == "ours":
                    run["ours"] = run_ours(binary, args.quick, workdir, rep)
                    problems += [f"rep {rep}: {p}" for p in check_ours(run["ours"], args.quick)]
                else:
                    run["knative"], raw = run_go(bindir, args.quick, 1 if args.quick else 2)
                    go_raw += raw
            runs.append(run)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    mach["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    summary = summarise(runs)
    now = datetime.datetime.now(datetime.timezone.utc)
    git = harness.sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]).stdout.strip() or "?"
    record = {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"), "mode": "quick" if args.quick else "full",
        "reps": reps, "git": git, "machine": mach,
        "versions": {"knative": args.kn_version if bindir else "not run",
                     "go": go_version() or "missing",
                     "rustc": harness.sh(["rustc", "--version"]).stdout.strip()},
        "timing_s": {"build": build_s, "run": round(time.time() - started - build_s, 1)},
        "notes": notes, "runs": runs, "knative_raw": go_raw, "summary": summary,
    }
    record["targets"] = targets(summary, args.quick)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "autoscaler.json"), "w") as f:
        json.dump(record, f, indent=1)
    text = markdown(record)
    with open(os.path.join(args.out, "autoscaler.md"), "w") as f:
        f.write(text)
    print(text)
    if problems:
        fail("broken invariants: " + "; ".join(problems))


if __name__ == "__main__":
    main()
