"""The failover workload: idempotent producers at a steady rate, and the final read-back.

Every producer is a thread with its own confluent-kafka Producer (enable.idempotence, acks=all,
request.timeout.ms=5000, message.timeout.ms=30000), sending unique values (``p<producer>-<n>``)
to the topic's partitions in turn. Each send becomes one JSON line of the history file when it
completes (see report.py for the fields); sends still unknown at the end are written as
``info``. librdkafka's log (``debug=eos,msg``) goes through the ``logger`` setting to an
`EosTracker` (eos.py), which records the producer's epoch bumps and what preceded them; the
lines it reads are also kept in ``producer-<n>.log``.
"""

import json
import logging
import os
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from .eos import EosTracker

PRODUCER_SETTINGS = {
    "enable.idempotence": True,
    "acks": "all",
    "request.timeout.ms": 5000,
    "message.timeout.ms": 30000,
    "linger.ms": 5,
    "debug": "eos,msg",
}

# librdkafka facilities worth keeping: drains and bumps, PID requests, produce errors, and
# what a producer does about a leader that went away.
KEPT_FACILITIES = {"DRAIN", "GETPID", "IDEMPSTATE", "ERRSEQ", "ERRPID", "DUPSEQ", "UNKPID",
                   "MSGSET", "REQTMOUT", "FAIL", "BROKERFAIL", "LEADER", "TIMEOUT"}


def create_topic(bootstrap, topic, partitions, replication, min_insync):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = NewTopic(topic, partitions, replication, config={"min.insync.replicas": str(min_insync)})
    admin.create_topics([new])[topic].result(timeout=60)


def describe(bootstrap, topic, timeout=5):
    """The topic's metadata as one broker sees it: controller id, and per partition its leader
    and ISR."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    md = admin.list_topics(topic, timeout=timeout)
    parts = md.topics[topic].partitions
    return {
        "controller": md.controller_id,
        "leaders": {p: parts[p].leader for p in sorted(parts)},
        "isr": {p: sorted(parts[p].isrs) for p in sorted(parts)},
    }


class LogTap(logging.Handler):
    """Hands librdkafka's log records (args: facility, client name, message) to a tracker and a
    file."""

    def __init__(self, tracker, path):
        super().__init__()
        self.tracker = tracker
        self.file = open(path, "w")

    def emit(self, record):
        now = time.time()
        try:
            facility, _, message = record.args
        except (TypeError, ValueError):
            facility, message = "?", record.getMessage()
        if facility == "MSGSET" and "encountered error" not in message:
            return
        if facility in KEPT_FACILITIES:
            self.file.write(f"{now:.3f} {facility} {message}\n")
        self.tracker.log(now, facility, message)

    def close(self):
        self.file.close()
        super().close()


class History:
    """The history file: one JSON line per completed send, from every producer thread."""

    def __init__(self, path):
        self.file = open(path, "w", buffering=1)
        self.lock = threading.Lock()

    def write(self, record):
        line = json.dumps(record, separators=(",", ":"))
        with self.lock:
            self.file.write(line + "\n")

    def close(self):
        self.file.close()


class ProducerThread(threading.Thread):
    """Sends `rate` values a second to partitions 0..partitions-1 in turn until `stop` is set,
    then waits for outstanding sends (up to message.timeout.ms) and records the rest as info."""

    def __init__(self, index, bootstrap, topic, partitions, rate, history, stop, outdir,
                 latest):
        super().__init__(name=f"producer-{index}", daemon=True)
        self.latest = latest
        self.index = index
        self.topic = topic
        self.partitions = partitions
        self.rate = rate
        self.history = history
        self.stop = stop
        self.tracker = EosTracker(index)
        self.pending = {}
        logger = logging.getLogger(f"nemesis.producer-{index}")
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        self.tap = LogTap(self.tracker, os.path.join(outdir, f"producer-{index}.log"))
        logger.addHandler(self.tap)
        settings = dict(PRODUCER_SETTINGS, **{"bootstrap.servers": bootstrap,
                                              "client.id": f"nemesis-{index}"})
        self.producer = Producer(settings, logger=logger)

    def _delivered(self, value):
        def callback(err, msg):
            sent = self.pending.pop(value)
            record = dict(sent, complete=time.time())
            if err is None:
                record.update(type="ok", offset=msg.offset())
                p = record["partition"]
                self.latest[p] = max(self.latest.get(p, 0.0), record["invoke"])
            else:
                record.update(type="fail", error=err.name())
                self.tracker.error(record["complete"], err.name())
            self.history.write(record)
        return callback

    def run(self):
        n = 0
        next_at = time.time()
        while not self.stop.is_set():
            now = time.time()
            if now < next_at:
                self.producer.poll(min(next_at - now, 0.05))
                continue
            value = f"p{self.index}-{n}"
            partition = n % self.partitions
            self.pending[value] = {"producer": self.index, "value": value,
                                   "partition": partition, "invoke": now}
            self.producer.produce(self.topic, value.encode(), partition=partition,
                                  on_delivery=self._delivered(value))
            n += 1
            next_at += 1.0 / self.rate
            self.producer.poll(0)
        self.producer.flush(PRODUCER_SETTINGS["message.timeout.ms"] / 1000 + 5)
        for sent in list(self.pending.values()):
            self.history.write(dict(sent, type="info", complete=None))
        self.tap.close()


class Workload:
    """`producers` threads sharing `rate` sends a second. `latest` maps each partition to the
    invoke time of the latest send acknowledged on it: a partition is writable again after a
    fault once a send made after the heal is acknowledged."""

    def __init__(self, bootstrap, topic, partitions, producers, rate, outdir):
        self.stop = threading.Event()
        self.history = History(os.path.join(outdir, "history.jsonl"))
        self.latest = {}
        self.threads = [
            ProducerThread(i, bootstrap, topic, partitions, rate / producers, self.history,
                           self.stop, outdir, self.latest)
            for i in range(producers)
        ]

    def writable_since(self, t, partitions):
        """Whether every partition acknowledged a send made at or after `t`."""
        return all(self.latest.get(p, 0.0) >= t for p in range(partitions))

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        """Stops sending, waits for every outstanding send, returns the epoch bumps."""
        self.stop.set()
        for t in self.threads:
            t.join()
        self.history.close()
        return [e for t in self.threads for e in t.tracker.events]


def read_history(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def read_all(bootstrap, topic, partitions, timeout=120):
    """Every record of the topic from each partition's start to its current end, as
    (partition, offset, value) triples."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "nemesis-checker",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in range(partitions)}
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    done = {p for p, end in ends.items() if end == 0}
    reads = []
    deadline = time.time() + timeout
    while len(done) < partitions:
        if time.time() > deadline:
            raise RuntimeError(f"read-back incomplete after {timeout} s: partitions "
                               f"{sorted(set(ends) - done)} not read to their end")
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF and msg.offset() >= ends[msg.partition()]:
                done.add(msg.partition())
            continue
        p = msg.partition()
        reads.append((p, msg.offset(), msg.value().decode()))
        if msg.offset() + 1 >= ends[p]:
            done.add(p)
    consumer.close()
    return reads
