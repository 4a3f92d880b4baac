"""A producer's epoch bumps and PID resets, read from librdkafka's `debug=eos,msg` log lines.

librdkafka's idempotent producer (src/rdkafka_idempotence.c) logs, under the DRAIN facility:

- ``Beginning partition drain in state <S> for PID{Id:<id>,Epoch:<e>} epoch bump for <n>
  partition(s) with in-flight requests: <reason>`` when it decides to bump its epoch (reasons:
  ``<n> message(s) timed out on <topic> [<p>]``, ``skipped sequence numbers``,
  ``unknown producer id``, ``message sequence gap``);
- ``All partitions drained, bumped epoch to PID{Id:<id>,Epoch:<e>}`` when it has bumped it;
- ``Beginning partition drain for PID{...} reset for <n> partition(s) with in-flight requests:
  <reason>`` before it drops its producer id and asks for a new one (InitProducerId).

Produce errors come as MSGSET lines (``<topic> [<p>]: MessageSet with <n> message(s) (MsgId
<m>, BaseSeq <s>) encountered error: <error> (actions <a>)``) and as delivery reports. A bump's
``errors`` are the distinct errors this producer saw since its previous bump (at most
`LOOKBACK` seconds before the drain began): what led librdkafka to bump.
"""

import re
from collections import deque

LOOKBACK = 30.0

BUMP_BEGIN = re.compile(r"Beginning partition drain in state \S+ for (PID\{[^}]*\}) epoch bump "
                        r"for \d+ partition\(s\) with in-flight requests: (.*)$")
BUMPED = re.compile(r"All partitions drained, bumped epoch to PID\{Id:(\d+),Epoch:(\d+)\}")
RESET_BEGIN = re.compile(r"Beginning partition drain for (PID\{[^}]*\}) reset for \d+ "
                         r"partition\(s\) with in-flight requests: (.*)$")
MSGSET_ERROR = re.compile(r"encountered error: (.*?) \(actions ")
TIMED_OUT = re.compile(r"^\d+ message\(s\) timed out on .*$")


def reason_kind(reason):
    """A bump reason without its per-partition details ("12 message(s) timed out on t [3]"
    → "message(s) timed out")."""
    if TIMED_OUT.match(reason):
        return "message(s) timed out"
    return reason


class EosTracker:
    """Follows one producer's log and delivery errors; `events` holds its bumps and resets as
    dicts: time, kind (``bump`` or ``reset``), pid, reason, errors."""

    def __init__(self, producer):
        self.producer = producer
        self.events = []
        self._errors = deque()
        self._pending = None
        self._since = float("-inf")

    def error(self, time, error):
        """A produce error (MSGSET log line or delivery report) seen at `time`."""
        self._errors.append((time, error))
        while self._errors and self._errors[0][0] < time - 2 * LOOKBACK:
            self._errors.popleft()

    def log(self, time, facility, message):
        """One librdkafka log line."""
        m = MSGSET_ERROR.search(message)
        if facility == "MSGSET" and m:
            self.error(time, m.group(1))
            return
        if facility != "DRAIN":
            return
        m = BUMP_BEGIN.search(message)
        if m:
            self._pending = {"began": time, "reason": reason_kind(m.group(2))}
            return
        m = BUMPED.search(message)
        if m:
            pending = self._pending or {"began": time, "reason": "unknown"}
            self._record(time, "bump", f"PID{{Id:{m.group(1)},Epoch:{m.group(2)}}}", pending)
            return
        m = RESET_BEGIN.search(message)
        if m:
            self._record(time, "reset", m.group(1), {"began": time, "reason": m.group(2)})

    def _record(self, time, kind, pid, pending):
        start = max(self._since, pending["began"] - LOOKBACK)
        errors = sorted({e for t, e in self._errors if start <= t <= pending["began"]})
        self.events.append({"time": time, "producer": self.producer, "kind": kind, "pid": pid,
                            "reason": pending["reason"], "errors": errors})
        self._pending = None
        self._since = pending["began"]
