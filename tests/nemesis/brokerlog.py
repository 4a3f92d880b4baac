"""The failover milestones in Troupe's own logs (tracing's default format, UTC timestamps).

Lines read, by the message Troupe logs:

- ``fencing brokers silent past broker.session.timeout.ms brokers=[2]`` (the active
  controller, src/actors/controller/mod.rs): detection of a silent broker;
- ``became leader partition=<topic>-<p> ...`` (src/actors/partition_replica/leader.rs): the new
  leader applied the metadata change that made it leader;
- ``became follower partition=<topic>-<p> leader=-1 ...`` (same file): the partition has no
  leader at all (offline), as a replica saw the metadata;
- ``quorum leader changed node=<me> leader=Some(<id>) ...`` (src/quorum/handle.rs): a new
  controller quorum leader, as each node saw it.

Each becomes an event dict with ``time`` (seconds since the epoch), ``node`` (whose log),
``what`` (``fence``, ``leader``, ``offline``, ``quorum``) and its detail (``brokers``, ``partition``,
``leader``).
"""

import re
from datetime import datetime

STAMP = re.compile(r"^(?:\x1b\[[0-9;]*m)*(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
FENCE = re.compile(r"fencing brokers silent past broker\.session\.timeout\.ms.*brokers=\[([\d, ]*)\]")
BECAME_LEADER = re.compile(r"became leader partition=(\S+)-(\d+)\b")
OFFLINE = re.compile(r"became follower partition=(\S+)-(\d+) leader=-1\b")
QUORUM_LEADER = re.compile(r"quorum leader changed.*leader=(Some\((\d+)\)|None)")


def timestamp(text):
    """RFC 3339 UTC (as tracing writes it, microseconds or nanoseconds) → epoch seconds."""
    date, _, fraction = text.partition(".")
    whole = datetime.fromisoformat(date + "+00:00").timestamp()
    return whole + (float("0." + fraction) if fraction else 0.0)


def parse_line(node, line, topic):
    """The event a log line records, or None."""
    m = STAMP.match(line)
    if not m:
        return None
    t = timestamp(m.group(1))
    text = ANSI.sub("", line)
    m = FENCE.search(text)
    if m:
        brokers = [int(b) for b in m.group(1).replace(" ", "").split(",") if b]
        return {"time": t, "node": node, "what": "fence", "brokers": brokers}
    m = BECAME_LEADER.search(text)
    if m and m.group(1) == topic:
        return {"time": t, "node": node, "what": "leader", "partition": int(m.group(2))}
    m = OFFLINE.search(text)
    if m and m.group(1) == topic:
        return {"time": t, "node": node, "what": "offline", "partition": int(m.group(2))}
    m = QUORUM_LEADER.search(text)
    if m:
        leader = int(m.group(2)) if m.group(2) else None
        return {"time": t, "node": node, "what": "quorum", "leader": leader}
    return None


def read_events(logs, topic):
    """Every node's events, from {node id: log path}, sorted by time."""
    events = []
    for node, path in logs.items():
        with open(path, errors="replace") as f:
            for line in f:
                e = parse_line(node, line, topic)
                if e:
                    events.append(e)
    return sorted(events, key=lambda e: e["time"])
