#!/usr/bin/env python3
"""Merges one `bench/run.sh` run into its dated record (issue 6).

    python3 bench/report.py --run RUN_DIR --out DIR [--quick] [--git G] [--build-seconds S]

RUN_DIR holds what the benchmarks of the run wrote: proxy.json/.md (harness.py),
fullpath.json/.md, coldstart.json/.md, autoscaler.json/.md and thousand.json/.md; any may be missing (a
skipped or failed benchmark). Writes DIR/<UTC stamp>[-quick].json — every part's record
under its name, plus the targets — and DIR/<stamp>[-quick].md — the targets of issue 6
§3, each met, missed or not measured with its figure, then every part's own tables —
and copies the markdown to DIR/latest.md (DIR/latest-quick.md for --quick).

The targets are judged here, in one place, from the parts' summaries. A ratio against
Knative is the median over repetitions of the paired per-repetition ratio where the part
pairs it (CPU, requests per second), else the ratio of the two medians (added latency,
idle RSS).

One target is corrected to what this machine allows, as issue 6 asks where the machine
says otherwise: requests per second at concurrency 1 (≥ 2.5× Knative). One request at a
time is bound by the round trip client → hop → backend across the two cores, not by the
hop's work, and the bare hyper proxy floor (bench/tools knb-floor), which does nothing
but forward, gets well under 2.5× there too. When the floor itself misses the target in
the same run, that row reads "corrected" and the next row holds the corrected target:
within 10 % of the floor's ratio (≥ 0.9× it), i.e. as close to the round-trip bound as a
proxy doing no work gets. Should the floor reach 2.5×, the original target stands.
"""

import argparse
import datetime
import json
import os
import re
import sys

PARTS = ("proxy", "fullpath", "coldstart", "autoscaler", "thousand")
KN, OURS = "kn-queue-proxy", "knserve-queue"


def med(x):
    return x["median"] if isinstance(x, dict) and "median" in x else None


def row(group, target, value, met, how):
    return {"group": group, "target": target, "measured": value,
            "verdict": "not measured" if met is None else ("met" if met else "missed"), "how": how}


FLOOR = "hyper-floor"
# The corrected c=1 target: this share of the bare hyper floor's ratio to Knative.
C1_SHARE_OF_FLOOR = 0.9


def proxy_targets(p):
    rows, g = [], "knserve-queue vs Knative's queue-proxy"
    if not p:
        return [row(g, "all queue-proxy targets", "—", None, "the proxy benchmark did not run")]
    pts = p["summary"]["points"]

    def ours(point, key):
        return (pts.get(point) or {}).get(OURS, {}).get(key)

    cpu = ours("open 5000 rps", f"cpu_vs_{KN}")
    rows.append(row(g, "CPU per request ≤ 0.35×", f"{med(cpu):.2f}×" if cpu else "—",
                    None if not cpu else med(cpu) <= 0.35,
                    "open loop 5,000 rps, paired per repetition"))
    for point, want in (("hello c=1", 2.5), ("hello c=16", 2.5), ("hello c=256", 3.0)):
        r = ours(point, f"rps_vs_{KN}")
        rows.append(row(g, f"requests per second ≥ {want}× ({point.split()[1]})",
                        f"{med(r):.2f}×" if r else "—", None if not r else med(r) >= want,
                        f"wrk closed loop, {point}, paired per repetition"))
        floor = med((pts.get(point) or {}).get(FLOOR, {}).get(f"rps_vs_{KN}"))
        if point == "hello c=1" and r and floor and floor < want and med(r) < want:
            rows[-1].update(verdict="corrected", how=rows[-1]["how"] + f"; out of reach here: the bare hyper "
                            f"floor gets {floor:.2f}× (see the next row and bench/report.py)")
            bound = C1_SHARE_OF_FLOOR * floor
            rows.append(row(g, f"corrected (c=1): ≥ {C1_SHARE_OF_FLOOR}× the bare hyper floor's ratio, "
                            f"here ≥ {bound:.2f}×", f"{med(r):.2f}× ({med(r) / floor:.2f} of the floor's)",
                            med(r) >= bound, "the round trip across the cores bounds c=1; medians of the paired ratios to Knative"))
    for q, want in (("p50", 0.5), ("p99", 0.3)):
        a = ours("open 5000 rps", f"added_{q}_us")
        k = (pts.get("open 5000 rps") or {}).get(KN, {}).get(f"added_{q}_us")
        ok = med(a) is not None and med(k)
        ratio = med(a) / med(k) if ok and med(k) > 0 else None
        rows.append(row(g, f"added {q} at 5,000 rps ≤ {want}×",
                        f"{ratio:.2f}× ({med(a):+.0f} vs {med(k):+.0f} µs)" if ratio is not None else "—",
                        None if ratio is None else ratio <= want, "ratio of the median added latencies"))
    mem = p["summary"].get("memory", {})
    a, k = med(mem.get(OURS, {}).get("idle_rss_mib")), med(mem.get(KN, {}).get("idle_rss_mib"))
    rows.append(row(g, "idle RSS ≤ 0.2×", f"{a / k:.2f}× ({a:.1f} vs {k:.1f} MiB)" if a and k else "—",
                    None if not (a and k) else a / k <= 0.2, "RSS after start, median over repetitions"))
    parity = p["summary"].get("breaker_parity") or {}
    for cc in ("cc=0", "cc=10"):
        e = parity.get(cc)
        rows.append(row(g, f"breaker 200/503 counts within 1 % ({cc})",
                        f"worst {e['worst_abs_percent']:.2f} % over {e['pairs']} pairs" if e else "—",
                        None if not e else e["within_1_percent"],
                        "open loop at twice CC=10's capacity, paired per repetition"))
    return rows


def fullpath_targets(f):
    g = "full warm path (router → activator → queue-proxy)"
    if not f:
        return [row(g, "all full-path targets", "—", None, "the full-path benchmark did not run")]
    act = f["summary"]["points"].get("open 5000 rps", {}).get("knserve-activator", {})
    added = med(act.get("added_p50_us"))
    cpu = med(act.get("cpu_vs_peer"))
    return [
        row(g, "added p50 over direct ≤ 300 µs", f"{added:+.0f} µs" if added is not None else "—",
            None if added is None else added <= 300, "open loop 5,000 rps, paired per repetition"),
        row(g, "CPU per request ≤ three nginx hops (≤ 1.0×)", f"{cpu:.2f}×" if cpu else "—",
            None if not cpu else cpu <= 1.0, "open loop 5,000 rps, paired per repetition"),
    ]


def coldstart_targets(c):
    g = "cold start on the local backend"
    if not c:
        return [row(g, "all cold-start targets", "—", None, "the cold-start benchmark did not run")]
    s = c["summary"]
    per = s["per_start"]
    worst = lambda q: max(per.items(), key=lambda kv: kv[1]["overhead_ms"][q])  # noqa: E731
    n = min(v["overhead_ms"]["n"] for v in per.values())
    rows = []
    for q, want in (("p50", 5.0), ("p99", 20.0)):
        label, v = worst(q)
        rows.append(row(g, f"overhead {q} ≤ {want:.0f} ms", f"{v['overhead_ms'][q]:.1f} ms (worst: app start {label})",
                        v["overhead_ms"][q] <= want, f"{n}+ cold starts per app start time"))
    rows.append(row(g, "flat across app starts of 2, 50 and 500 ms",
                    f"p50s within {s['flatness_ms']:.1f} ms", s["flatness_ms"] <= 5.0,
                    "largest minus smallest overhead p50 (≤ 5 ms counts as flat)"))
    b = s["burst"]
    rows.append(row(g, f"{b['n']} concurrent requests at zero all answered", f"{b['ok']}/{b['n']} × 200",
                    b["ok"] == b["n"], f"slowest first byte {b['max_ms']:.0f} ms" if b["max_ms"] else ""))
    return rows


def autoscaler_targets(a):
    g = "autoscaler"
    if not a:
        return [row(g, "all autoscaler targets", "—", None, "the autoscaler benchmark did not run")]
    out = []
    for name, met, text in a["targets"]:
        out.append(row(g, name, text, met, "`autoscaler_load` (tests/benches), one thread"))
    return out


def thousand_targets(t):
    g = "one machine, many Services (issue 21 §2)"
    if not t:
        return [row(g, "all many-Services targets", "—", None, "bench/thousand.py did not run")]
    s, m, n = t["summary"], t["memory"], t["config"]["services"]
    rows = [row(g, "≤ 64 KiB of server memory per idle Service", f"{m['kib_per_service']:.1f} KiB",
                m["kib_per_service"] <= 64, f"RSS with {n} idle Services minus before, ÷ {n}")]
    ratio = s.get("lookup_ratio_largest_to_smallest")
    rows.append(row(g, "router lookup flat from 10 to 10,000 hosts (within 10 %)",
                    f"{ratio:.2f}×" if ratio else "—", None if ratio is None else ratio <= 1.10,
                    "criterion, probes spread over the table"))
    p99 = s.get("overhead_p99_ms")
    rows.append(row(g, f"{s['n']} Services cold-started at once: all answered, overhead p99 ≤ 50 ms",
                    f"{s['ok']}/{s['n']} × 200, p99 {p99:.1f} ms" if p99 is not None else f"{s['ok']}/{s['n']}",
                    s["ok"] == s["n"] and p99 is not None and p99 <= 50,
                    "beyond median T_user and T_warm; the apps start on one core at once"))
    return rows


def demote(md):
    """A part's markdown under the record's title: its top headings become `##`."""
    levels = [len(m.group(1)) for m in re.finditer(r"^(#{1,6}) ", md, flags=re.M)]
    shift = 2 - min(levels) if levels else 0
    return re.sub(r"^(#{1,6}) ", lambda m: "#" * min(6, len(m.group(1)) + shift) + " ", md, flags=re.M)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--git", default="?")
    ap.add_argument("--build-seconds", type=float, default=0)
    args = ap.parse_args()

    parts, texts = {}, {}
    for name in PARTS:
        path = os.path.join(args.run, f"{name}.json")
        if os.path.exists(path):
            with open(path) as f:
                parts[name] = json.load(f)
            md = os.path.join(args.run, f"{name}.md")
            if os.path.exists(md):
                with open(md) as f:
                    texts[name] = f.read()
    if not parts:
        sys.exit(f"report: no benchmark wrote a record into {args.run}")
    targets = (proxy_targets(parts.get("proxy")) + fullpath_targets(parts.get("fullpath"))
               + coldstart_targets(parts.get("coldstart")) + autoscaler_targets(parts.get("autoscaler"))
               + thousand_targets(parts.get("thousand")))
    now = datetime.datetime.now(datetime.timezone.utc)
    record = {"date": now.strftime("%Y-%m-%d %H:%M UTC"), "mode": "quick" if args.quick else "full",
              "git": args.git, "build_seconds": args.build_seconds, "targets": targets, **parts}
    counts = {v: sum(t["verdict"] == v for t in targets) for v in ("met", "missed", "corrected", "not measured")}
    L = [f"# knserve side by side — {record['date']}", "",
         f"Mode {record['mode']}, git {args.git}; parts: {', '.join(parts) or 'none'}. "
         "Every figure below was measured in this one run; see bench/README.md for the method.", "",
         f"## Targets (issue 6 §3): {counts['met']} met, {counts['missed']} missed, "
         + (f"{counts['corrected']} corrected to the machine's bound, " if counts["corrected"] else "")
         + f"{counts['not measured']} not measured", "",
         "| area | target | measured | verdict | how |", "|---|---|---|---|---|"]
    for t in targets:
        verdict = {"met": "met", "missed": "**missed**"}.get(t["verdict"], t["verdict"])
        L.append(f"| {t['group']} | {t['target']} | {t['measured']} | {verdict} | {t['how']} |")
    for name in PARTS:
        if name in texts:
            L += ["", demote(texts[name]).rstrip()]
    text = "\n".join(L) + "\n"

    os.makedirs(args.out, exist_ok=True)
    stamp = now.strftime("%Y-%m-%dT%H%M") + ("-quick" if args.quick else "")
    with open(os.path.join(args.out, f"{stamp}.json"), "w") as f:
        json.dump(record, f, indent=1)
    for name in (f"{stamp}.md", "latest-quick.md" if args.quick else "latest.md"):
        with open(os.path.join(args.out, name), "w") as f:
            f.write(text)
    print("\n".join(L[: 8 + len(targets)]))
    print(f"\nreport: {os.path.join(args.out, stamp)}.{{json,md}}")


if __name__ == "__main__":
    main()
