"""How long a partition stays unwritable when its leader's node fails (issue #21).

    sudo python3 -m tests.nemesis.failover --faults 60 --seed 1 --kinds kill,stop,isolate \\
        --binary .bin/troupe

Starts 3 nodes in network namespaces (cluster.py, needs root), creates a 6-partition topic
(RF=3, min.insync.replicas=2), runs idempotent producers (workload.py) and injects one fault at
a time (faults.py) on a node that leads at least one of the topic's partitions, chosen with the
seed. After each heal it waits until every partition has its three in-sync replicas again and
has acknowledged a write sent after the heal. At the end it reads every partition back and
writes, under --out: history.jsonl (every send), faults.json, bumps.json, reads.jsonl (the
read-back), producer-<n>.log (librdkafka's eos lines), cluster/node-<n>.log (the brokers') and
report.json; it prints the report (report.py) as a table. `--report-only --out DIR` computes
the report again from those files (no cluster, no root).

Exit status: 1 when an acknowledged write was lost, moved or stored twice; 2 on a harness
failure; 0 otherwise (slow failover is reported, not failed: the figures are the point).
"""

import argparse
import faulthandler
import json
import os
import random
import shutil
import signal
import sys
import time
import traceback

from . import brokerlog, faults, report, workload
from .cluster import Cluster

TOPIC = "failover"

# Issue #21's settings; the internal topics are small so that three nodes start quickly.
BROKER_SETTINGS = {
    "broker.session.timeout.ms": "4000",
    "replica.lag.time.max.ms": "3000",
    "default.replication.factor": "3",
    "offsets.topic.replication.factor": "3",
    "offsets.topic.num.partitions": "6",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.num.partitions": "6",
}


def arguments(argv):
    a = argparse.ArgumentParser(prog="python3 -m tests.nemesis.failover", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--faults", type=int, default=30, help="faults in all (kinds take turns)")
    a.add_argument("--seed", type=int, default=1)
    a.add_argument("--kinds", default="kill,stop,isolate")
    a.add_argument("--binary", default="target/release/troupe")
    a.add_argument("--pause", default="10,25",
                   help="low,high seconds a fault lasts before it heals (drawn per fault)")
    a.add_argument("--rate", type=float, default=200, help="sends a second, all producers")
    a.add_argument("--producers", type=int, default=3)
    a.add_argument("--partitions", type=int, default=6)
    a.add_argument("--quiet-period", type=float, default=3,
                   help="seconds of healthy cluster between a fault's recovery and the next")
    a.add_argument("--out", default=None, help="output directory (default data/nemesis/seed-N)")
    a.add_argument("--report-only", action="store_true",
                   help="recompute report.json from the files of an earlier run in --out")
    args = a.parse_args(argv)
    args.kinds = args.kinds.split(",")
    for k in args.kinds:
        if k not in faults.KINDS:
            a.error(f"unknown kind {k!r}; expected some of {','.join(faults.KINDS)}")
    args.pause = tuple(float(x) for x in args.pause.split(","))
    args.out = args.out or f"data/nemesis/seed-{args.seed}"
    return args


def log(message):
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def settle(cluster, partitions, load=None, since=None, timeout=120):
    """Waits until every node is ready, every partition has a leader and a full ISR, and (with
    a workload) every partition acknowledged a send made after `since`, so that a fault's
    after-effects do not spill into the next fault's figures; returns False when that did not
    happen within `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        writable = load is None or load.writable_since(since, partitions)
        if writable and all(n.ready() for n in cluster.nodes.values()):
            try:
                md = workload.describe(cluster.bootstrap, TOPIC)
                if len(md["leaders"]) == partitions and all(
                        md["leaders"][p] in cluster.ids and len(md["isr"][p]) == len(cluster.ids)
                        for p in md["leaders"]):
                    return True
            except Exception:  # noqa: BLE001 - metadata while recovering: try again
                pass
        time.sleep(0.5)
    return False


def run_faults(cluster, load, args, rng):
    """Injects the planned faults; returns their records (report.py's fault shape)."""
    done = []
    for i, (kind, pause) in enumerate(faults.plan(rng, args.kinds, args.faults, args.pause)):
        md = workload.describe(cluster.bootstrap, TOPIC)
        leaders = sorted({n for n in md["leaders"].values() if n in cluster.ids})
        node = rng.choice(leaders)
        log(f"fault {i + 1}/{args.faults}: {kind} node {node} for {pause:.1f} s "
            f"(leads {[p for p, n in md['leaders'].items() if n == node]}, "
            f"controller {md['controller']})")
        fault = faults.inject(cluster, kind, node, pause)
        fault.update(leaders=md["leaders"], controller=md["controller"], nodes=cluster.ids)
        fault["settled"] = settle(cluster, args.partitions, load, fault["heal"])
        if not fault["settled"]:
            log("  cluster did not settle within 120 s; going on")
        if done:
            done[-1]["window_end"] = fault["start"]
        done.append(fault)
        time.sleep(args.quiet_period)
    return done


def measure(args):
    """Runs the cluster, the workload and the faults; leaves in args.out: history.jsonl,
    faults.json, bumps.json (epoch bumps), reads.jsonl (the read-back) and the logs."""
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    cluster = Cluster(args.binary, os.path.join(args.out, "cluster"), overrides=BROKER_SETTINGS)
    log(f"starting 3 nodes in namespaces; output in {args.out}")
    with cluster:
        workload.create_topic(cluster.bootstrap, TOPIC, args.partitions, 3, 2)
        if not settle(cluster, args.partitions):
            raise RuntimeError("topic never got a full ISR")
        load = workload.Workload(cluster.bootstrap, TOPIC, args.partitions, args.producers,
                                 args.rate, args.out)
        load.start()
        time.sleep(5)
        done = run_faults(cluster, load, args, rng)
        if done:
            done[-1]["window_end"] = time.time()
        log("faults done; waiting for outstanding sends")
        bumps = load.finish()
        log("reading every partition back")
        reads = workload.read_all(cluster.bootstrap, TOPIC, args.partitions)
    for i in cluster.ids:
        shutil.rmtree(os.path.join(args.out, "cluster", f"node-{i}"), ignore_errors=True)
    write_json(args.out, "faults.json", done)
    write_json(args.out, "bumps.json", bumps)
    with open(os.path.join(args.out, "reads.jsonl"), "w") as f:
        for r in reads:
            f.write(json.dumps(r) + "\n")


def write_json(outdir, name, value):
    with open(os.path.join(outdir, name), "w") as f:
        json.dump(value, f, indent=1, default=str)


def read_json(outdir, name):
    with open(os.path.join(outdir, name)) as f:
        return json.load(f)


def summarize(args, argv):
    """Computes report.json from a run's files, prints the table; returns the exit status."""
    out = args.out
    sends = workload.read_history(os.path.join(out, "history.jsonl"))
    done = read_json(out, "faults.json")
    bumps = read_json(out, "bumps.json")
    with open(os.path.join(out, "reads.jsonl")) as f:
        reads = [tuple(json.loads(line)) for line in f if line.strip()]
    nodes = sorted({n for f in done for n in f.get("nodes", [f["node"]])})
    logs = {n: os.path.join(out, "cluster", f"node-{n}.log") for n in nodes}
    events = brokerlog.read_events(logs, TOPIC)
    rows = report.per_fault(sends, done, bumps, list(range(args.partitions)), events)
    kinds = report.per_kind(rows)
    found = report.anomalies(sends, reads)
    result = {
        "command": "python3 -m tests.nemesis.failover " + " ".join(argv),
        "settings": {"broker": BROKER_SETTINGS, "producer": workload.PRODUCER_SETTINGS,
                     "rate": args.rate, "producers": args.producers, "pause": args.pause,
                     "partitions": args.partitions},
        "sends": {t: sum(1 for s in sends if s["type"] == t) for t in ("ok", "fail", "info")},
        "reads": len(reads),
        "kinds": kinds,
        "anomalies": {"duplicates": len(found["duplicates"]), "lost": len(found["lost"]),
                      "moved": len(found["moved"]),
                      "examples": {"duplicates": dict(list(found["duplicates"].items())[:20]),
                                   "lost": found["lost"][:20], "moved": found["moved"][:20]}},
        "epoch_bumps": bumps,
        "faults": rows,
    }
    write_json(out, "report.json", result)
    print(report.table(kinds))
    print(f"sends: {result['sends']}; read back: {len(reads)}; duplicates: "
          f"{len(found['duplicates'])}; lost acknowledged: {len(found['lost'])}; "
          f"at another offset than acked: {len(found['moved'])}")
    print(f"report: {os.path.join(out, 'report.json')}")
    return 1 if any(found.values()) else 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = arguments(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid>: every thread's stack, on stderr
    if not args.report_only:
        measure(args)
    return summarize(args, argv)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # noqa: BLE001 - a harness failure is exit 2, not a finding
        traceback.print_exc()
        raise SystemExit(2)
