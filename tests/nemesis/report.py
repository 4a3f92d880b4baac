"""The failover report, computed from a run's records without a cluster.

Inputs are plain data, so every function here is tested by test_report.py:

- a *send* is one record of the history file: ``producer``, ``value``, ``partition``,
  ``invoke`` (wall-clock seconds), ``complete`` (seconds, None while unknown), ``type``
  (``ok``: acknowledged at ``offset``; ``fail``: the client gave up with ``error``; ``info``:
  still unknown when the run ended);
- a *fault* is one nemesis action: ``kind``, ``node``, ``start`` (when it hit), ``heal`` (when
  the node ran, resumed or was reconnected again), ``window_end`` (when the next fault began,
  or the run ended), ``nodes`` (every node id), ``controller`` (the active controller) and
  ``leaders`` (partition → leader, from Metadata just before the fault);
- a *read* is what the final consumer found: (partition, offset, value).

Percentiles are nearest-rank: p99 of 20 samples is the largest, never an interpolation
below a value that was actually seen.
"""

import math
from collections import defaultdict


def percentile(values, q):
    """The nearest-rank `q`-quantile (0 < q <= 1) of `values`, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def summary(values):
    """count, p50, p99 and max of `values` (None entries count as missing)."""
    seen = [v for v in values if v is not None]
    return {
        "count": len(seen),
        "missing": len(values) - len(seen),
        "p50": percentile(seen, 0.5),
        "p99": percentile(seen, 0.99),
        "max": max(seen) if seen else None,
    }


def acks_by_partition(sends):
    """partition → sorted ack times of its acknowledged sends."""
    acks = defaultdict(list)
    for s in sends:
        if s["type"] == "ok":
            acks[s["partition"]].append(s["complete"])
    for times in acks.values():
        times.sort()
    return dict(acks)


def affected_partitions(fault):
    """The partitions whose leader, just before the fault, was the faulted node."""
    return sorted(int(p) for p, leader in fault["leaders"].items() if leader == fault["node"])


def time_to_first_ack(sends, fault):
    """partition → seconds from the fault to the first acknowledged write sent after it, for
    every affected partition; None when no such write was acknowledged before the window
    ended (the partition stayed unwritable for the whole window)."""
    wanted = set(affected_partitions(fault))
    first = {}
    for s in sends:
        p = s["partition"]
        if p not in wanted or s["type"] != "ok":
            continue
        if not fault["start"] <= s["invoke"] < fault["window_end"]:
            continue
        if p not in first or s["complete"] < first[p]:
            first[p] = s["complete"]
    return {p: (first[p] - fault["start"]) if p in first else None for p in sorted(wanted)}


def longest_gap(ack_times, start, end):
    """The longest stretch without an acknowledged write that overlaps [start, end], from a
    partition's sorted ack times. A stretch still open at `end` counts until `end`."""
    before = [t for t in ack_times if t < start]
    inside = [t for t in ack_times if start <= t <= end]
    points = ([before[-1]] if before else [start]) + inside
    gaps = [b - a for a, b in zip(points, points[1:])]
    gaps.append(end - points[-1])
    return max(gaps)


def gaps_around(acks, fault, partitions):
    """partition → longest gap between acknowledged writes around the fault."""
    return {
        p: longest_gap(acks.get(p, []), fault["start"], fault["window_end"]) for p in partitions
    }


def in_window(t, fault):
    return t is not None and fault["start"] <= t < fault["window_end"]


def failed_sends(sends, fault):
    """Sends that failed (the client gave up, e.g. message.timeout.ms) inside the fault's
    window."""
    return [s for s in sends if s["type"] == "fail" and in_window(s["complete"], fault)]


def anomalies(sends, reads):
    """Safety checks against what a consumer read back from every partition's start:

    - ``duplicates``: a value stored at more than one offset;
    - ``lost``: an acknowledged value that is nowhere in the log;
    - ``moved``: an acknowledged value read at another partition/offset than its ack said
      (an ack without an offset, as librdkafka reports a DUPLICATE_SEQUENCE_NUMBER answer,
      cannot be checked for this).
    """
    where = defaultdict(list)
    for partition, offset, value in reads:
        where[value].append((partition, offset))
    duplicates = {v: sorted(places) for v, places in where.items() if len(places) > 1}
    lost, moved = [], []
    for s in sends:
        if s["type"] != "ok":
            continue
        places = where.get(s["value"])
        if not places:
            lost.append(s["value"])
        elif s["offset"] is not None and (s["partition"], s["offset"]) not in places:
            moved.append({"value": s["value"], "acked": [s["partition"], s["offset"]],
                          "read": places})
    return {"duplicates": duplicates, "lost": sorted(lost), "moved": moved}


def bumps_in(bumps, fault):
    """The epoch bumps (dicts with a ``time``) that happened inside the fault's window."""
    return [b for b in bumps if in_window(b["time"], fault)]


def breakdown(fault, events, first_ack):
    """Where one fault's time went, from the broker log events (brokerlog.py), all in seconds
    after the fault:

    - ``fenced``: the active controller fenced the node (detection; None when it never did,
      e.g. the node was back within the session timeout);
    - ``quorum``: another node became controller quorum leader (only when the faulted node was
      the active controller, which is then found again before anything can be fenced);
    - per affected partition, ``leader``: another node became its leader (election and the
      metadata change reaching the new leader), and ``ack``: the first acknowledged write sent
      after the fault (client rediscovery and retry on top of that).
    """
    def seen(e):
        return fault["start"] <= e["time"] < fault["window_end"]

    def after(times):
        return min(times) - fault["start"] if times else None

    # Only another node's fencing counts: an isolated controller may log one it cannot commit.
    fenced = after([e["time"] for e in events if e["what"] == "fence" and seen(e)
                    and fault["node"] in e["brokers"] and e["node"] != fault["node"]])
    quorum = None
    if fault.get("controller") == fault["node"]:
        quorum = after([e["time"] for e in events if e["what"] == "quorum" and seen(e)
                        and e["leader"] not in (None, fault["node"]) and e["node"] != fault["node"]])
    partitions = {}
    for p, ack in first_ack.items():
        leader = after([e["time"] for e in events if e["what"] == "leader" and e["partition"] == p
                        and e["node"] != fault["node"] and seen(e)])
        partitions[p] = {"leader": leader, "ack": ack}
    # A controller fencing every broker, itself included, takes every partition offline.
    everyone = set(fault.get("nodes", [])) | {fault["node"]}
    fenced_all = sum(1 for e in events if e["what"] == "fence" and seen(e)
                     and everyone <= set(e["brokers"]))
    offline = sorted({e["partition"] for e in events if e["what"] == "offline" and seen(e)})
    return {"fenced": fenced, "quorum": quorum, "healed": fault["heal"] - fault["start"],
            "fenced_all": fenced_all, "offline": offline, "partitions": partitions}


def per_fault(sends, faults, bumps, partitions, events=()):
    """One row per fault: time to first ack per affected partition, the longest gap over all
    partitions, failed sends and epoch bumps inside its window, and the breakdown."""
    acks = acks_by_partition(sends)
    rows = []
    for f in faults:
        gaps = gaps_around(acks, f, partitions)
        first_ack = time_to_first_ack(sends, f)
        rows.append({
            "kind": f["kind"],
            "node": f["node"],
            "start": f["start"],
            "duration": f["heal"] - f["start"],
            "controller": f.get("controller") == f["node"],
            "first_ack": first_ack,
            "longest_gap": max(gaps.values()) if gaps else None,
            "failed": len(failed_sends(sends, f)),
            "bumps": bumps_in(bumps, f),
            "breakdown": breakdown(f, events, first_ack),
        })
    return rows


def phases(rows):
    """The breakdown over many faults: detection (fault → fenced), election (fenced → new
    leader), client (new leader → first ack), each a summary over affected partitions that
    failed over; `healed_first` counts affected partitions whose first ack came with no new
    leader (the node came back before the controller moved its partitions), `after_heal` those
    whose first ack came only after the fault healed, new leader or not."""
    detection, election, client, healed_first, after_heal = [], [], [], 0, 0
    for r in rows:
        b = r["breakdown"]
        after_heal += sum(1 for p in b["partitions"].values()
                          if p["ack"] is not None and p["ack"] >= b["healed"])
        if b["fenced"] is not None:
            detection.append(b["fenced"])
        for p in b["partitions"].values():
            if p["leader"] is None or (p["ack"] is not None and p["ack"] < p["leader"]):
                healed_first += 1
                continue
            if b["fenced"] is not None and b["fenced"] <= p["leader"]:
                election.append(p["leader"] - b["fenced"])
            if p["ack"] is not None:
                client.append(p["ack"] - p["leader"])
    return {"detection": summary(detection), "election": summary(election),
            "client": summary(client), "healed_first": healed_first, "after_heal": after_heal}


def per_kind(rows):
    """Fault kind → count of faults, time-to-first-ack and longest-gap summaries (over every
    affected partition, and over every fault), failed sends and epoch bumps with the errors
    that preceded them."""
    kinds = defaultdict(list)
    for r in rows:
        kinds[r["kind"]].append(r)
    out = {}
    for kind, rs in sorted(kinds.items()):
        first_acks = [t for r in rs for t in r["first_ack"].values()]
        bumps = [b for r in rs for b in r["bumps"]]
        out[kind] = {
            "faults": len(rs),
            "first_ack": summary(first_acks),
            "longest_gap": summary([r["longest_gap"] for r in rs]),
            "failed_sends": sum(r["failed"] for r in rs),
            "epoch_bumps": len(bumps),
            "bump_reasons": count_by(b["reason"] for b in bumps),
            "errors_before_bumps": count_by(e for b in bumps for e in b["errors"]),
            "phases": phases(rs),
            "faults_with_all_fenced": sum(1 for r in rs if r["breakdown"]["fenced_all"]),
            "faults_with_offline_partitions": sum(1 for r in rs if r["breakdown"]["offline"]),
        }
    return out


def count_by(items):
    counts = defaultdict(int)
    for i in items:
        counts[i] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def format_seconds(v):
    return "-" if v is None else f"{v:.1f}"


def table(kinds):
    """The per-kind report as a text table."""
    head = (f"{'kind':<8} {'faults':>6} {'parts':>5} {'p50':>6} {'p99':>6} {'max':>6} {'never':>5}"
            f" {'gap p50':>7} {'gap max':>7} {'failed':>7} {'bumps':>5}")
    lines = ["time to first ack on an affected partition (s), longest gap without acks (s):", head]
    for kind, k in kinds.items():
        fa, gap = k["first_ack"], k["longest_gap"]
        lines.append(
            f"{kind:<8} {k['faults']:>6} {fa['count'] + fa['missing']:>5}"
            f" {format_seconds(fa['p50']):>6} {format_seconds(fa['p99']):>6}"
            f" {format_seconds(fa['max']):>6} {fa['missing']:>5}"
            f" {format_seconds(gap['p50']):>7} {format_seconds(gap['max']):>7}"
            f" {k['failed_sends']:>7} {k['epoch_bumps']:>5}")
    lines.append("where the time goes (s after the fault; p50/max): detection = fenced by the "
                 "controller, election = fenced -> new leader, client = new leader -> first ack")
    for kind, k in kinds.items():
        ph = k["phases"]
        parts = [f"{name} {format_seconds(ph[name]['p50'])}/{format_seconds(ph[name]['max'])}"
                 f" (n={ph[name]['count']})" for name in ("detection", "election", "client")]
        lines.append(f"{kind:<8} " + ", ".join(parts)
                     + f"; first ack with no new leader: {ph['healed_first']}, only after the "
                     f"heal: {ph['after_heal']}; faults where every broker was fenced: "
                     f"{k['faults_with_all_fenced']}, where partitions had no leader: "
                     f"{k['faults_with_offline_partitions']}")
    for kind, k in kinds.items():
        if k["epoch_bumps"]:
            lines.append(f"{kind}: bump reasons {k['bump_reasons']}; errors before them "
                         f"{k['errors_before_bumps']}")
    return "\n".join(lines)
