"""The nemesis's faults, one at a time, on one node of a namespaced `Cluster`.

Each fault blocks for its duration and heals before it returns a record (see report.py):
``kind``, ``node``, ``start`` (when it hit) and ``heal`` (when the node was running, resumed
or reconnected again). Kinds:

- ``kill``: kill -9, then a new `troupe serve` on the same data dir after the pause;
- ``stop``: SIGSTOP, then SIGCONT after the pause (a GC pause, a stalled VM);
- ``isolate``: blackhole routes both ways between the node and every other node (inside the
  namespaces), so Raft, heartbeats and replica fetches stop while clients on the host still
  reach it: the isolated-leader case. Healed by deleting the routes.
"""

import signal
import time

from .cluster import address, netns, sh

KINDS = ("kill", "stop", "isolate")


def blackhole(cluster, node_id, add):
    """Adds (or deletes) the routes that cut `node_id` off from the other nodes."""
    verb = "add" if add else "del"
    for other in cluster.ids:
        if other == node_id:
            continue
        for ns, dest in ((netns(node_id), address(other)), (netns(other), address(node_id))):
            sh("ip", "netns", "exec", ns, "ip", "route", verb, "blackhole", f"{dest}/32",
               check=add)


def inject(cluster, kind, node_id, pause):
    """Runs one fault of `kind` on `node_id` for `pause` seconds, then heals it."""
    node = cluster.nodes[node_id]
    start = time.time()
    if kind == "kill":
        node.kill()
        time.sleep(pause)
        node.start()
    elif kind == "stop":
        node.signal(signal.SIGSTOP)
        time.sleep(pause)
        node.signal(signal.SIGCONT)
    elif kind == "isolate":
        blackhole(cluster, node_id, True)
        try:
            time.sleep(pause)
        finally:
            blackhole(cluster, node_id, False)
    else:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {KINDS}")
    return {"kind": kind, "node": node_id, "start": start, "heal": time.time()}


def plan(rng, kinds, count, pause):
    """`count` (kind, pause seconds) pairs: kinds in turn, so every kind gets its share even in
    a short run, each pause drawn from `pause` = (low, high) with the seeded `rng`."""
    return [(kinds[i % len(kinds)], rng.uniform(*pause)) for i in range(count)]
