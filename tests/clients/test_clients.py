"""Every client named in the single-broker issue produces and consumes for real:
kafka-python, aiokafka, Debian's kcat (librdkafka 2.0) and confluent-kafka (librdkafka 2.x)."""
import asyncio
import shutil
import subprocess
import time

import pytest

N = 300


def expected(i):
    return f"k{i % 7}".encode(), f"value-{i}".encode() * (1 + i % 3)


def test_kafka_python_round_trip(bootstrap, topic):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    futures = [p.send(topic, key=expected(i)[0], value=expected(i)[1]) for i in range(N)]
    p.flush(30)
    offsets = [f.get(timeout=30) for f in futures]
    assert len(offsets) == N
    p.close()
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=10000)
    parts = [TopicPartition(topic, i) for i in range(3)]
    c.assign(parts)
    c.seek_to_beginning(*parts)
    got = {}
    deadline = time.time() + 30
    while len(got) < N and time.time() < deadline:
        for batch in c.poll(timeout_ms=500).values():
            for m in batch:
                got[(m.partition, m.offset)] = (m.key, m.value)
    c.close()
    assert sorted(got.values()) == sorted(expected(i) for i in range(N))
    # Every acknowledged (partition, offset) holds what was sent there.
    for i, md in enumerate(offsets):
        assert got[(md.partition, md.offset)] == expected(i)


def test_kafka_python_admin_lists_topic(bootstrap, topic):
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    assert topic in admin.list_topics()
    admin.close()


def test_aiokafka_round_trip(bootstrap, topic):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition

    async def run():
        p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type="gzip")
        await p.start()
        try:
            for i in range(N):
                await p.send(topic, key=expected(i)[0], value=expected(i)[1])
            await p.flush()
        finally:
            await p.stop()
        c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
        await c.start()
        try:
            parts = [TopicPartition(topic, i) for i in range(3)]
            c.assign(parts)
            await c.seek_to_beginning(*parts)
            got = []
            deadline = time.time() + 30
            while len(got) < N and time.time() < deadline:
                res = await c.getmany(timeout_ms=500)
                for msgs in res.values():
                    got.extend((m.key, m.value) for m in msgs)
            return got
        finally:
            await c.stop()

    got = asyncio.run(run())
    assert sorted(got) == sorted(expected(i) for i in range(N))


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is installed by scripts/test")
def test_kcat_round_trip(bootstrap, topic):
    lines = "\n".join(f"{k.decode()}:{v.decode()}" for k, v in (expected(i) for i in range(N))) + "\n"
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-K:"], input=lines.encode(), check=True, timeout=60)
    out = subprocess.run(
        ["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-f", "%k:%s\n"],
        check=True, timeout=60, capture_output=True,
    ).stdout.decode()
    assert sorted(out.splitlines()) == sorted(lines.splitlines())
    meta = subprocess.run(["kcat", "-L", "-b", bootstrap, "-t", topic], check=True, timeout=30, capture_output=True).stdout.decode()
    assert "3 partitions" in meta


def test_confluent_kafka_zstd_round_trip(bootstrap, topic):
    from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

    p = Producer({"bootstrap.servers": bootstrap, "compression.codec": "zstd", "acks": "all"})
    for i in range(N):
        p.produce(topic, key=expected(i)[0], value=expected(i)[1])
    assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "zstd-check", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, i, OFFSET_BEGINNING) for i in range(3)])
    got = []
    deadline = time.time() + 30
    while len(got) < N and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append((m.key(), m.value()))
    c.close()
    assert sorted(got) == sorted(expected(i) for i in range(N))


def test_unsupported_api_versions_version_gets_v0_answer(bootstrap):
    """ApiVersions at a version we do not speak: UNSUPPORTED_VERSION (35) in the v0 layout."""
    import socket
    import struct

    host, port = bootstrap.rsplit(":", 1)
    body = struct.pack(">hhi", 18, 99, 7) + struct.pack(">h", 4) + b"test"
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", s.recv(4))[0]
        data = b""
        while len(data) < size:
            data += s.recv(size - len(data))
    corr, err, n = struct.unpack(">ihi", data[:10])
    assert (corr, err) == (7, 35)
    keys = {struct.unpack(">hhh", data[10 + 6 * i: 16 + 6 * i])[0] for i in range(n)}
    assert {0, 1, 3, 18} <= keys


def test_kafka_python_group_consumes_commits_and_is_described(bootstrap, topic):
    """A kafka-python consumer group forms, consumes, commits; admin lists and describes it."""
    import uuid
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

    p = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(60):
        p.send(topic, value=f"g{i}".encode(), partition=i % 3)
    p.flush(30)
    p.close()
    group = f"kp-{uuid.uuid4().hex[:8]}"
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, client_id="kp-member",
                      auto_offset_reset="earliest", enable_auto_commit=False)
    got = []
    deadline = time.time() + 40
    while len(got) < 60 and time.time() < deadline:
        for batch in c.poll(timeout_ms=500).values():
            got.extend(m.value for m in batch)
    assert sorted(got) == sorted(f"g{i}".encode() for i in range(60))
    c.commit()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    listed = {g["group_id"]: g for g in admin.list_groups()}
    assert listed[group]["group_state"] == "Stable"
    desc = admin.describe_groups([group])[group]
    assert desc["group_state"] == "Stable"
    assert [m["client_id"] for m in desc["members"]] == ["kp-member"]
    assert desc["members"][0]["member_id"].startswith("kp-member-")
    offsets = admin.list_group_offsets(group)[group]
    assert set(offsets) == {TopicPartition(topic, i) for i in range(3)}
    assert sum(o.offset for o in offsets.values()) == 60
    c.close()
    admin.close()


def test_static_member_restart_keeps_assignment_without_rebalance(bootstrap, topic):
    """KIP-345: a static member that restarts within its session gets its old partitions back
    and the other member sees no rebalance."""
    import uuid
    from confluent_kafka import Consumer

    group = f"static-{uuid.uuid4().hex[:8]}"
    b_assignments = []

    def member(instance, on_assign=None):
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "group.instance.id": instance,
                      "session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        if on_assign:
            c.subscribe([topic], on_assign=on_assign)
        else:
            c.subscribe([topic])
        return c

    def settle(consumers, done, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for c in consumers:
                c.poll(0.1)
            if done():
                return
        raise AssertionError("group did not settle")

    a = member("instance-a")
    b = member("instance-b", on_assign=lambda c, ps: b_assignments.append(sorted(p.partition for p in ps)))
    settle([a, b], lambda: len(a.assignment()) + len(b.assignment()) == 3 and a.assignment() and b.assignment())
    a_partitions = sorted(p.partition for p in a.assignment())
    assigns_before = len(b_assignments)
    a.close()  # a static member leaves no LeaveGroup behind
    a2 = member("instance-a")
    settle([a2, b], lambda: len(a2.assignment()) > 0)
    assert sorted(p.partition for p in a2.assignment()) == a_partitions
    for _ in range(20):  # give a rebalance, if one were coming, time to show
        b.poll(0.1)
        a2.poll(0.1)
    assert len(b_assignments) == assigns_before, "the other member was rebalanced"
    a2.close()
    b.close()


def test_offset_delete_refused_while_subscribed_then_allowed(bootstrap, topic):
    """OffsetDelete (through kafka-python's admin): GROUP_SUBSCRIBED_TO_TOPIC while an active
    member reads the topic; once the group is empty the offset goes and is no longer fetched."""
    import uuid
    from confluent_kafka import Consumer, TopicPartition
    from kafka import KafkaAdminClient
    from kafka import TopicPartition as KTopicPartition

    group = f"od-{uuid.uuid4().hex[:8]}"
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    c.subscribe([topic])
    deadline = time.time() + 30
    while not c.assignment() and time.time() < deadline:
        c.poll(0.2)
    c.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    tp = KTopicPartition(topic, 0)
    result = admin.delete_group_offsets(group, [tp])
    assert "GroupSubscribedToTopic" in repr(result[tp]) or getattr(result[tp], "errno", None) == 86, result
    c.close()  # LeaveGroup: the group is now Empty
    result = admin.delete_group_offsets(group, [tp])
    assert result[tp] is None or "NoError" in repr(result[tp]), result
    assert tp not in admin.list_group_offsets(group).get(group, {}), "the deleted offset is gone"
    admin.close()
