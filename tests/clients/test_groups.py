"""Consumer-group rebalances with stock clients: members of different client libraries join
and leave one group, a crashed member is expired by its session timeout, and cooperative-sticky
members hand partitions over incrementally."""
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest


def new_group(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def confluent_member(bootstrap, group, topic, **extra):
    from confluent_kafka import Consumer

    config = {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
              "session.timeout.ms": 6000, "heartbeat.interval.ms": 300,
              "auto.offset.reset": "earliest"}
    config.update(extra)
    callbacks = {k: config.pop(k) for k in ("on_assign", "on_revoke") if k in config}
    c = Consumer(config)
    c.subscribe([topic], **callbacks)
    return c


def partitions_of(consumer):
    return sorted(p.partition for p in consumer.assignment())


def settle(pollers, done, timeout=45):
    """Polls every member until `done()` holds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for poll in pollers:
            poll()
        if done():
            return
    raise AssertionError("group did not settle")


class KafkaPythonMember:
    """A kafka-python consumer polled from a thread of its own, like an application would."""

    def __init__(self, bootstrap, group, topic):
        from kafka import KafkaConsumer

        self.consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                      enable_auto_commit=False, session_timeout_ms=6000,
                                      heartbeat_interval_ms=300, auto_offset_reset="earliest",
                                      client_id="kafka-python-member")
        self.assigned = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            self.consumer.poll(timeout_ms=100)
            self.assigned = sorted(tp.partition for tp in self.consumer.assignment())

    def close(self):
        self.stop.set()
        self.thread.join(timeout=10)
        self.consumer.close()  # sends LeaveGroup


def test_members_of_two_client_libraries_join_and_leave(bootstrap, topic):
    """librdkafka and kafka-python members share one group: every join and every LeaveGroup
    ends in a generation whose assignment covers the three partitions exactly once."""
    group = new_group("mixed")
    a = confluent_member(bootstrap, group, topic)
    poll_a = lambda: a.poll(0.05)
    settle([poll_a], lambda: partitions_of(a) == [0, 1, 2])

    kp = KafkaPythonMember(bootstrap, group, topic)
    settle([poll_a], lambda: len(partitions_of(a)) >= 1 and kp.assigned
           and sorted(partitions_of(a) + kp.assigned) == [0, 1, 2])

    b = confluent_member(bootstrap, group, topic)
    poll_b = lambda: b.poll(0.05)
    settle([poll_a, poll_b], lambda: len(partitions_of(a)) == 1 and len(partitions_of(b)) == 1
           and len(kp.assigned) == 1 and sorted(partitions_of(a) + partitions_of(b) + kp.assigned) == [0, 1, 2])

    kp.close()
    settle([poll_a, poll_b], lambda: sorted(partitions_of(a) + partitions_of(b)) == [0, 1, 2]
           and partitions_of(a) and partitions_of(b))
    b.close()
    settle([poll_a], lambda: partitions_of(a) == [0, 1, 2])
    a.close()


CRASHING_MEMBER = textwrap.dedent("""
    import sys, time
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2],
                  "session.timeout.ms": 6000, "heartbeat.interval.ms": 300,
                  "enable.auto.commit": False})
    c.subscribe([sys.argv[3]])
    while True:
        c.poll(0.1)
        if c.assignment():
            print("assigned", flush=True)
""")


def test_crashed_member_is_expired_after_its_session_timeout(bootstrap, topic):
    """A member killed with SIGKILL sends no LeaveGroup: the coordinator expires it when its
    session times out and the survivor takes over its partitions."""
    group = new_group("crash")
    survivor = confluent_member(bootstrap, group, topic)
    poll = lambda: survivor.poll(0.05)
    settle([poll], lambda: partitions_of(survivor) == [0, 1, 2])

    doomed = subprocess.Popen([sys.executable, "-c", CRASHING_MEMBER, bootstrap, group, topic],
                              stdout=subprocess.PIPE, text=True)
    try:
        settle([poll], lambda: len(partitions_of(survivor)) in (1, 2), timeout=45)
        assert doomed.stdout.readline().strip() == "assigned"
    finally:
        doomed.kill()
        doomed.wait()
    killed_at = time.time()
    settle([poll], lambda: partitions_of(survivor) == [0, 1, 2], timeout=30)
    took = time.time() - killed_at
    assert took >= 4.5, f"partitions moved after {took:.1f}s: sooner than the 6 s session timeout"
    survivor.close()


def test_cooperative_sticky_moves_only_what_it_must(bootstrap, topic):
    """KIP-429 through librdkafka: when a second member joins, the first gives up only the
    partitions that move (an incremental revoke), keeps the rest throughout, and the two
    generations that cooperative rebalancing needs both complete."""
    group = new_group("coop")
    events = []

    def recorder(name):
        return {"on_assign": lambda c, ps: events.append((name, "assign", sorted(p.partition for p in ps))),
                "on_revoke": lambda c, ps: events.append((name, "revoke", sorted(p.partition for p in ps)))}

    strategy = {"partition.assignment.strategy": "cooperative-sticky"}
    a = confluent_member(bootstrap, group, topic, **strategy, **recorder("a"))
    poll_a = lambda: a.poll(0.05)
    settle([poll_a], lambda: partitions_of(a) == [0, 1, 2])
    assert a.assignment() and events[-1] == ("a", "assign", [0, 1, 2])
    events.clear()

    b = confluent_member(bootstrap, group, topic, **strategy, **recorder("b"))
    poll_b = lambda: b.poll(0.05)
    settle([poll_a, poll_b], lambda: partitions_of(b) and partitions_of(a)
           and sorted(partitions_of(a) + partitions_of(b)) == [0, 1, 2])
    kept = partitions_of(a)
    moved = partitions_of(b)
    a_revoked = [p for (who, what, ps) in events if who == "a" and what == "revoke" for p in ps]
    assert sorted(a_revoked) == moved, f"a revoked {a_revoked}, b got {moved}: {events}"
    assert not set(a_revoked) & set(kept), "a kept partitions it revoked"
    assert not any(who == "b" and what == "revoke" for (who, what, _) in events)
    a.close()
    b.close()
