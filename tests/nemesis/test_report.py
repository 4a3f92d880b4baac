"""The failover report's arithmetic and checks, on hand-made histories (no cluster)."""

import unittest
from datetime import datetime, timezone

from tests.nemesis import brokerlog, report
from tests.nemesis.eos import EosTracker


def ok(value, partition, invoke, complete, offset):
    return {"producer": 0, "value": value, "partition": partition, "invoke": invoke,
            "complete": complete, "type": "ok", "offset": offset}


def fail(value, partition, invoke, complete, error="_MSG_TIMED_OUT"):
    return {"producer": 0, "value": value, "partition": partition, "invoke": invoke,
            "complete": complete, "type": "fail", "error": error}


FAULT = {"kind": "isolate", "node": 2, "start": 100.0, "heal": 110.0, "window_end": 130.0,
         "leaders": {"0": 2, "1": 1, "2": 2}, "controller": 1, "nodes": [1, 2, 3]}


class Percentiles(unittest.TestCase):
    def test_nearest_rank(self):
        values = list(range(1, 101))
        self.assertEqual(report.percentile(values, 0.5), 50)
        self.assertEqual(report.percentile(values, 0.99), 99)
        # p99 of 20 samples is the largest: never below a value that was seen.
        self.assertEqual(report.percentile([5.0] * 19 + [30.0], 0.99), 30.0)
        self.assertIsNone(report.percentile([], 0.5))

    def test_summary_counts_missing(self):
        s = report.summary([3.0, None, 1.0, 2.0])
        self.assertEqual((s["count"], s["missing"], s["p50"], s["max"]), (3, 1, 2.0, 3.0))


class TimeToFirstAck(unittest.TestCase):
    def test_only_affected_partitions_and_sends_after_the_fault(self):
        sends = [
            # sent before the fault, acked after it: does not count
            ok("a", 0, 99.0, 101.0, 10),
            ok("b", 0, 100.5, 108.0, 11),
            ok("c", 0, 101.0, 107.5, 12),
            # partition 1 is not led by node 2
            ok("d", 1, 100.5, 100.6, 3),
            fail("e", 2, 100.2, 130.2),
        ]
        self.assertEqual(report.affected_partitions(FAULT), [0, 2])
        self.assertEqual(report.time_to_first_ack(sends, FAULT), {0: 7.5, 2: None})

    def test_sends_of_the_next_window_do_not_count(self):
        sends = [ok("a", 0, 131.0, 131.5, 1)]
        self.assertEqual(report.time_to_first_ack(sends, FAULT)[0], None)


class Gaps(unittest.TestCase):
    def test_longest_gap_overlapping_the_fault(self):
        acks = [90.0, 99.0, 112.0, 113.0, 129.0]
        self.assertEqual(report.longest_gap(acks, 100.0, 130.0), 16.0)
        # the gap that straddles the fault's start counts from the last ack before it
        self.assertEqual(report.longest_gap([99.0, 120.0], 100.0, 125.0), 21.0)

    def test_gap_still_open_at_the_end(self):
        self.assertEqual(report.longest_gap([99.5], 100.0, 130.0), 30.5)
        self.assertEqual(report.longest_gap([], 100.0, 130.0), 30.0)


class Anomalies(unittest.TestCase):
    def test_duplicate_lost_and_moved(self):
        sends = [ok("a", 0, 1, 2, 0), ok("b", 0, 1, 2, 1), ok("c", 1, 1, 2, 0),
                 ok("d", 1, 1, 2, 1), fail("e", 1, 1, 2)]
        reads = [(0, 0, "a"), (0, 1, "b"), (0, 2, "b"), (1, 0, "x"), (1, 1, "d"), (1, 2, "c"),
                 (1, 3, "e")]
        found = report.anomalies(sends, reads)
        self.assertEqual(found["duplicates"], {"b": [(0, 1), (0, 2)]})
        self.assertEqual(found["lost"], [])
        self.assertEqual(found["moved"], [{"value": "c", "acked": [1, 0], "read": [(1, 2)]}])
        reads.remove((1, 1, "d"))
        self.assertEqual(report.anomalies(sends, reads)["lost"], ["d"])

    def test_clean_history(self):
        # "c": acknowledged without an offset (a duplicate sequence number answer)
        sends = [ok("a", 0, 1, 2, 0), fail("b", 0, 1, 2), ok("c", 0, 1, 2, None)]
        self.assertEqual(report.anomalies(sends, [(0, 0, "a"), (0, 1, "c")]),
                         {"duplicates": {}, "lost": [], "moved": []})


class PerKind(unittest.TestCase):
    def test_rows_and_kinds(self):
        sends = [ok("a", 0, 100.5, 108.0, 1), ok("b", 2, 101.0, 112.0, 1),
                 ok("c", 1, 100.0, 100.1, 1), fail("d", 0, 99.0, 105.0)]
        bumps = [{"time": 106.0, "reason": "message(s) timed out", "errors": ["_MSG_TIMED_OUT"]},
                 {"time": 140.0, "reason": "unknown producer id", "errors": []}]
        events = [
            {"time": 101.0, "node": 2, "what": "fence", "brokers": [2]},  # its own: ignored
            {"time": 104.5, "node": 1, "what": "fence", "brokers": [2]},
            {"time": 105.0, "node": 1, "what": "leader", "partition": 0},
            {"time": 105.5, "node": 3, "what": "leader", "partition": 2},
            {"time": 111.0, "node": 2, "what": "leader", "partition": 0},  # old leader: ignored
        ]
        rows = report.per_fault(sends, [FAULT], bumps, [0, 1, 2], events)
        self.assertEqual(rows[0]["first_ack"], {0: 8.0, 2: 12.0})
        self.assertEqual(rows[0]["failed"], 1)
        self.assertEqual(len(rows[0]["bumps"]), 1)
        b = rows[0]["breakdown"]
        self.assertEqual(b["fenced"], 4.5)
        self.assertEqual(b["partitions"], {0: {"leader": 5.0, "ack": 8.0},
                                           2: {"leader": 5.5, "ack": 12.0}})
        kinds = report.per_kind(rows)
        k = kinds["isolate"]
        self.assertEqual(k["first_ack"]["max"], 12.0)
        self.assertEqual(k["epoch_bumps"], 1)
        self.assertEqual(k["errors_before_bumps"], {"_MSG_TIMED_OUT": 1})
        self.assertEqual(k["phases"]["election"]["max"], 1.0)
        self.assertEqual(k["phases"]["client"]["max"], 6.5)
        self.assertEqual(k["phases"]["after_heal"], 1)  # partition 2, acked 12 s in, healed at 10
        self.assertIn("isolate", report.table(kinds))
        self.assertEqual(b["fenced_all"], 0)
        events.append({"time": 120.0, "node": 3, "what": "fence", "brokers": [1, 2, 3]})
        rows = report.per_fault(sends, [FAULT], bumps, [0, 1, 2], events)
        self.assertEqual(rows[0]["breakdown"]["fenced_all"], 1)
        self.assertEqual(report.per_kind(rows)["isolate"]["faults_with_all_fenced"], 1)
        events.append({"time": 120.5, "node": 1, "what": "offline", "partition": 2})
        rows = report.per_fault(sends, [FAULT], bumps, [0, 1, 2], events)
        self.assertEqual(rows[0]["breakdown"]["offline"], [2])


class EpochBumps(unittest.TestCase):
    def test_bump_with_reason_and_preceding_errors(self):
        t = EosTracker(3)
        t.error(5.0, "too old: more than LOOKBACK before the drain")
        t.log(20.0, "MSGSET", "failover [2]: MessageSet with 4 message(s) (MsgId 9, BaseSeq 8) "
                              "encountered error: Broker: Not leader for partition (actions "
                              "Refresh,MsgNotPersisted)")
        t.error(40.0, "_MSG_TIMED_OUT")
        t.log(41.0, "DRAIN", "Beginning partition drain in state Assigned for "
                             "PID{Id:1000,Epoch:0} epoch bump for 2 partition(s) with in-flight "
                             "requests: 12 message(s) timed out on failover [2]")
        t.log(41.2, "DRAIN", "All partitions drained, bumped epoch to PID{Id:1000,Epoch:1}")
        self.assertEqual(t.events, [{"time": 41.2, "producer": 3, "kind": "bump",
                                     "pid": "PID{Id:1000,Epoch:1}",
                                     "reason": "message(s) timed out",
                                     "errors": ["Broker: Not leader for partition",
                                                "_MSG_TIMED_OUT"]}])
        # the next bump only lists errors seen after this one began
        t.log(50.0, "DRAIN", "Beginning partition drain in state Assigned for "
                             "PID{Id:1000,Epoch:1} epoch bump for 1 partition(s) with in-flight "
                             "requests: skipped sequence numbers")
        t.log(50.1, "DRAIN", "All partitions drained, bumped epoch to PID{Id:1000,Epoch:2}")
        self.assertEqual(t.events[1]["errors"], [])
        self.assertEqual(t.events[1]["reason"], "skipped sequence numbers")

    def test_reset(self):
        t = EosTracker(0)
        t.log(5.0, "DRAIN", "Beginning partition drain for PID{Id:7,Epoch:0} reset for 0 "
                            "partition(s) with in-flight requests: unable to satisfy gap-less "
                            "guarantee")
        self.assertEqual(t.events[0]["kind"], "reset")
        self.assertEqual(t.events[0]["reason"], "unable to satisfy gap-less guarantee")


class BrokerLog(unittest.TestCase):
    def test_events(self):
        line = ("2026-12-01T10:00:04.500000Z  WARN troupe::actors::controller: fencing brokers "
                "silent past broker.session.timeout.ms brokers=[2]")
        e = brokerlog.parse_line(1, line, "failover")
        self.assertEqual(e["what"], "fence")
        self.assertEqual(e["brokers"], [2])
        when = datetime(2026, 12, 1, 10, 0, 4, 500000, tzinfo=timezone.utc).timestamp()
        self.assertAlmostEqual(e["time"], when, places=3)
        line = ("\x1b[2m2026-12-01T10:00:05.000001Z\x1b[0m  INFO troupe::actors: became leader "
                "partition=failover-3 leader_epoch=2 isr=[1, 3] log_end_offset=10")
        self.assertEqual(brokerlog.parse_line(3, line, "failover")["partition"], 3)
        self.assertIsNone(brokerlog.parse_line(3, line, "other"))
        line = ("2026-12-01T10:00:05Z  INFO troupe::actors: became follower partition=failover-4 "
                "leader=-1 leader_epoch=53")
        self.assertEqual(brokerlog.parse_line(1, line, "failover")["what"], "offline")
        line = ("2026-12-01T10:00:05Z  INFO troupe::actors: became follower partition=failover-4 "
                "leader=2 leader_epoch=53")
        self.assertIsNone(brokerlog.parse_line(1, line, "failover"))
        line = ("2026-12-01T10:00:05Z  INFO troupe::quorum: quorum leader changed node=3 "
                "leader=Some(3) term=4")
        self.assertEqual(brokerlog.parse_line(3, line, "failover")["leader"], 3)


if __name__ == "__main__":
    unittest.main()
