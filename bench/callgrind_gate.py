#!/usr/bin/env python3
"""Instructions per request under callgrind (issue 6 §4), run by bench/callgrind-gate.sh
inside `unshare -n`.

For each subject (knserve-queue, the bare hyper floor): start the backend natively on
core 0, the subject under `valgrind --tool=callgrind` on core 1; send `warmup`
requests at concurrency 1, `callgrind_control --zero`, send `requests` more,
`callgrind_control --dump`, read the dump's total Ir. Ir/request = total ÷ requests.
Compared with bench/callgrind-budget.json: fails when knserve-queue is over its
absolute budget or over its budgeted ratio to the floor measured in the same run.
"""

import argparse
import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

BACKEND_PORT, SUBJECT_PORT = 8080, 8013


def wait_http(port, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                if r.status == 200:
                    return True
        except Exception:
            time.sleep(0.1)
    return False


def load(tools, requests):
    out = subprocess.run(["taskset", "-c", "0", os.path.join(tools, "knb-load"), "--addr",
                          f"127.0.0.1:{SUBJECT_PORT}", "--connections", "1", "--requests",
                          str(requests)], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    if r["ok"] != requests:
        sys.exit(f"only {r['ok']} of {requests} requests answered 2xx: {out.stdout[:200]}")


def total_ir(path):
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    sys.exit(f"no summary line in {path}")


def measure(name, argv, env, args, workdir):
    out = os.path.join(workdir, f"{name}.%p.out")
    full_env = {"PATH": os.environ["PATH"], **env}
    proc = subprocess.Popen(["taskset", "-c", "1", "valgrind", "--tool=callgrind", "-q",
                             f"--callgrind-out-file={out}"] + argv, env=full_env,
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, name + ".log"), "w"),
                            start_new_session=True)
    try:
        if not wait_http(SUBJECT_PORT, 120):
            sys.exit(f"{name} did not answer under valgrind; see {workdir}/{name}.log")
        load(args.tools, args.warmup)
        subprocess.run(["callgrind_control", "--zero", str(proc.pid)], check=True, capture_output=True)
        started = time.time()
        load(args.tools, args.requests)
        seconds = time.time() - started
        subprocess.run(["callgrind_control", "--dump", str(proc.pid)], check=True, capture_output=True)
        dumps = sorted(glob.glob(os.path.join(workdir, f"{name}.{proc.pid}.out.*")))
        if not dumps:
            sys.exit(f"no callgrind dump for {name} in {workdir}")
        ir = total_ir(dumps[-1])
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return {"ir_total": ir, "ir_per_request": round(ir / args.requests), "load_seconds": round(seconds, 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--queue", required=True)
    ap.add_argument("--tools", required=True)
    ap.add_argument("--budget", required=True)
    ap.add_argument("--write-budget", action="store_true",
                    help="set the budget to this run's numbers plus the file's headroom")
    args = ap.parse_args()
    with open(args.budget) as f:
        budget = json.load(f)
    args.requests, args.warmup = budget["requests"], budget["warmup"]

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    workdir = tempfile.mkdtemp(prefix="knserve-callgrind-")
    backend = subprocess.Popen(["taskset", "-c", "0", os.path.join(args.tools, "knb-backend"),
                                "--listen", f"127.0.0.1:{BACKEND_PORT}"], stdout=subprocess.DEVNULL)
    started = time.time()
    try:
        if not wait_http(BACKEND_PORT, 10):
            sys.exit("backend did not start")
        floor = measure("hyper-floor", [os.path.join(args.tools, "knb-floor"), "--listen",
                                        f"127.0.0.1:{SUBJECT_PORT}", "--upstream",
                                        f"127.0.0.1:{BACKEND_PORT}"], {}, args, workdir)
        queue = measure("knserve-queue", [args.queue], {
            "SERVING_NAMESPACE": "default", "SERVING_CONFIGURATION": "hello",
            "SERVING_REVISION": "hello-00001", "SERVING_POD": "hello-00001-deployment-0",
            "SERVING_POD_IP": "127.0.0.1", "QUEUE_SERVING_PORT": str(SUBJECT_PORT),
            "QUEUE_SERVING_TLS_PORT": "8112", "USER_PORT": str(BACKEND_PORT),
            "CONTAINER_CONCURRENCY": "0", "REVISION_TIMEOUT_SECONDS": "300",
            "SERVING_LOGGING_LEVEL": "warn", "TOKIO_WORKER_THREADS": "1",
            "KNSERVE_QUEUE_BIND": "127.0.0.1", "KNSERVE_QUEUE_ADMIN_PORT": "0",
            "KNSERVE_QUEUE_METRICS_PORT": "0", "KNSERVE_QUEUE_USER_METRICS_PORT": "0"}, args, workdir)
    finally:
        backend.kill()
        backend.wait()
    ratio = queue["ir_per_request"] / floor["ir_per_request"]
    result = {"hyper-floor": floor, "knserve-queue": queue, "ratio_to_floor": round(ratio, 3),
              "wall_seconds": round(time.time() - started, 1)}
    print(json.dumps(result))
    limits = budget["knserve-queue"]
    if args.write_budget:
        headroom = 1 + budget["headroom"]
        limits["max_ir_per_request"] = round(queue["ir_per_request"] * headroom)
        limits["max_ratio_to_floor"] = round(ratio * headroom, 2)
        budget["measured"] = result
        with open(args.budget, "w") as f:
            json.dump(budget, f, indent=2)
            f.write("\n")
        print(f"budget written to {args.budget}")
        return
    over = []
    if queue["ir_per_request"] > limits["max_ir_per_request"]:
        over.append(f"knserve-queue {queue['ir_per_request']} Ir/request > budget {limits['max_ir_per_request']}")
    if ratio > limits["max_ratio_to_floor"]:
        over.append(f"knserve-queue / hyper floor {ratio:.3f} > budget {limits['max_ratio_to_floor']}")
    if over:
        print("callgrind gate FAILED: " + "; ".join(over), file=sys.stderr)
        sys.exit(1)
    print(f"callgrind gate passed: knserve-queue {queue['ir_per_request']} Ir/request "
          f"(budget {limits['max_ir_per_request']}), {ratio:.2f}× the hyper floor "
          f"(budget {limits['max_ratio_to_floor']})")


if __name__ == "__main__":
    main()
