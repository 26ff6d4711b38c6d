#!/usr/bin/env python3
"""Instructions per request under callgrind (issue 6 §4), run by bench/callgrind-gate.sh
inside `unshare -n`.

Subjects: the bare hyper floor, knserve-queue, and the warm activator path — `knserve
serve` with one Service annotated `target-burst-capacity: "-1"` and `min-scale: "1"`,
so every request goes ingress router → activator → queue-proxy → app, all in the
knserve process (its app, knb-backend, is a child process on core 0 that valgrind does
not trace). For each: the backend natively on core 0, the subject under
`valgrind --tool=callgrind` on core 1; send `warmup` requests at concurrency 1,
`callgrind_control --zero`, send `requests` more, `callgrind_control --dump`, read the
dump's total Ir (every thread). Ir/request = total ÷ requests.
Compared with bench/callgrind-budget.json: fails when a budgeted subject is over its
absolute budget or over its budgeted ratio to the floor measured in the same run.
`--write-budget [SUBJECT ...]` re-baselines the named subjects (all when none is named)
to this run's numbers plus the file's headroom.
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
import http.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import tree  # noqa: E402

BACKEND_PORT, SUBJECT_PORT = 8080, 8013
# knb-load sends this Host; knserve routes by it, the floor and knserve-queue ignore it.
HOST = "hello.default.example.com"
# The warm activator path's Service and server configuration, shared with bench/fullpath.py.
FULLPATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fullpath")


def wait_http(port, timeout, proc):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/", headers={"Host": HOST})
            if conn.getresponse().status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.2)
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
        # valgrind makes start-up slow (knserve also starts its instance): poll.
        if not wait_http(SUBJECT_PORT, 240, proc):
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
        # knserve's instances run in their own process groups: kill the whole tree.
        pids = tree(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)
        for p in pids[1:]:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
    return {"ir_total": ir, "ir_per_request": round(ir / args.requests), "load_seconds": round(seconds, 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--queue", required=True)
    ap.add_argument("--knserve", required=True)
    ap.add_argument("--tools", required=True)
    ap.add_argument("--budget", required=True)
    ap.add_argument("--write-budget", nargs="*", metavar="SUBJECT",
                    help="set the named subjects' budgets (all when none is named) to this run's "
                         "numbers plus the file's headroom")
    args = ap.parse_args()
    with open(args.budget) as f:
        budget = json.load(f)
    args.requests, args.warmup = budget["requests"], budget["warmup"]

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    workdir = tempfile.mkdtemp(prefix="knserve-callgrind-")
    # The dumps stay there for `callgrind_annotate` (where a subject's instructions go).
    print(f"callgrind dumps and logs: {workdir}", file=sys.stderr)
    with open(os.path.join(FULLPATH, "service.yaml")) as f:
        service = f.read().format(tbc="-1", taskset="taskset", core="0",
                                  backend=os.path.join(os.path.abspath(args.tools), "knb-backend"))
    with open(os.path.join(workdir, "service.yaml"), "w") as f:
        f.write(service)
    backend = subprocess.Popen(["taskset", "-c", "0", os.path.join(args.tools, "knb-backend"),
                                "--listen", f"127.0.0.1:{BACKEND_PORT}"], stdout=subprocess.DEVNULL)
    started = time.time()
    try:
        if not wait_http(BACKEND_PORT, 10, backend):
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
        # The warm activator path: one knserve process, its app a child on core 0.
        activator = measure("knserve-activator-path", [
            args.knserve, "serve", "--listen", f"127.0.0.1:{SUBJECT_PORT}",
            "--state-dir", os.path.join(workdir, "state"), "--config", os.path.join(FULLPATH, "config.yaml"),
            "--apply", os.path.join(workdir, "service.yaml")],
            {"TOKIO_WORKER_THREADS": "1", "KNSERVE_LOG": "warn", "NO_COLOR": "1"}, args, workdir)
    finally:
        backend.kill()
        backend.wait()
    subjects = {"knserve-queue": queue, "knserve-activator-path": activator}
    for m in subjects.values():
        m["ratio_to_floor"] = round(m["ir_per_request"] / floor["ir_per_request"], 3)
    result = {"hyper-floor": floor, **subjects, "wall_seconds": round(time.time() - started, 1)}
    print(json.dumps(result))
    if args.write_budget is not None:
        for name in args.write_budget or subjects:
            if name not in subjects:
                sys.exit(f"no subject {name}; subjects: {', '.join(subjects)}")
            m = subjects[name]
            # A subject may keep its own headroom (the activator path's grows with wall time).
            headroom = 1 + budget.get(name, {}).get("headroom", budget["headroom"])
            budget.setdefault(name, {}).update(max_ir_per_request=round(m["ir_per_request"] * headroom),
                                               max_ratio_to_floor=round(m["ratio_to_floor"] * headroom, 2))
        # The measured record keeps knserve-queue's ratio where it always was.
        budget["measured"] = {**result, "ratio_to_floor": queue["ratio_to_floor"]}
        with open(args.budget, "w") as f:
            json.dump(budget, f, indent=2)
            f.write("\n")
        print(f"budget written to {args.budget}")
        return
    over, passed = [], []
    for name, m in subjects.items():
        limits = budget.get(name)
        if limits is None:
            over.append(f"{name} has no budget in {args.budget} (run with --write-budget {name})")
            continue
        if m["ir_per_request"] > limits["max_ir_per_request"]:
            over.append(f"{name} {m['ir_per_request']} Ir/request > budget {limits['max_ir_per_request']}")
        if m["ratio_to_floor"] > limits["max_ratio_to_floor"]:
            over.append(f"{name} / hyper floor {m['ratio_to_floor']:.3f} > budget {limits['max_ratio_to_floor']}")
        passed.append(f"{name} {m['ir_per_request']} Ir/request (budget {limits['max_ir_per_request']}), "
                      f"{m['ratio_to_floor']:.2f}× the hyper floor (budget {limits['max_ratio_to_floor']})")
    if over:
        print("callgrind gate FAILED: " + "; ".join(over), file=sys.stderr)
        sys.exit(1)
    print(f"callgrind gate passed (hyper floor {floor['ir_per_request']} Ir/request): " + "; ".join(passed))


if __name__ == "__main__":
    main()
