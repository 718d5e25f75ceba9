"""Consumer lag of one stage, in messages and in seconds, right on Apache Kafka and on Tansu.

Messages: per partition this process owns, the high watermark (as of the last update, every
poll or second) minus the position now (the offset after the last message consumed). The high watermark is the one fetch responses carry
(kafka-python's and aiokafka's `highwater(tp)`), never ListOffsets, which is wrong on the local
broker after batched produces (DESIGN.md).

Seconds: for a partition that is behind, now minus the timestamp of the last consumed message.
Two corrections keep that honest: a partition that was caught up at time T has waited at most
since T (else one message after an idle hour would read as an hour behind), and a partition
behind with nothing consumed yet counts from when it was first seen behind. A caught-up
partition is 0 s behind. Computed at scrape time, so a stage whose loop is stuck still shows
its lag growing.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from shared import metric_names as names

Partition = Hashable  # a TopicPartition of kafka-python or of Faust


class ConsumerLag:
    """Registered on a registry, it exports `newsflow_consumer_lag_messages{stage}` and
    `newsflow_consumer_lag_seconds{stage}` (the worst partition this process owns)."""

    def __init__(self, stage: str, registry: CollectorRegistry | None = None, clock: Callable[[], float] = time.time):
        self.stage = stage
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[Partition, tuple[int, float | None]] = {}  # last consumed: offset, timestamp
        self._high: dict[Partition, int] = {}  # high watermarks at the last update
        self._start: dict[Partition, int] = {}  # positions of partitions nothing was consumed from
        self._caught_up_at: dict[Partition, float] = {}
        self._first_seen_behind: dict[Partition, float] = {}
        if registry is not None:
            registry.register(self)

    def consumed(self, tp: Partition, offset: int, timestamp_s: float | None) -> None:
        """The stage consumed the message at `offset` (its Kafka timestamp in seconds, if any)."""
        with self._lock:
            previous = self._last.get(tp)
            if previous is not None and offset <= previous[0]:
                self._caught_up_at.pop(tp, None)  # moved back (a replay): old waits count again
            self._last[tp] = (offset, timestamp_s if timestamp_s and timestamp_s > 0 else None)

    def update(
        self, highwaters: Mapping[Partition, int | None], positions: Mapping[Partition, int | None] | None = None
    ) -> None:
        """The partitions this process owns now, with their high watermarks; `positions` gives
        the next offset to consume of those where nothing was consumed yet (e.g. the committed one)."""
        now = self.clock()
        with self._lock:
            for gone in set(self._last) - set(highwaters):  # revoked in a rebalance
                del self._last[gone]
            self._high = {tp: high for tp, high in highwaters.items() if high is not None}
            self._start = {tp: p for tp, p in (positions or {}).items() if p is not None}
            behind = self._behind()
            for tp, n in behind.items():
                if n == 0:
                    self._caught_up_at[tp] = now
            self._first_seen_behind = {
                tp: self._first_seen_behind.get(tp, now) for tp, n in behind.items() if n > 0
            }
            self._caught_up_at = {tp: t for tp, t in self._caught_up_at.items() if tp in self._high}

    def _behind(self) -> dict[Partition, int]:
        """Messages behind per partition: the last known high watermark minus the position now,
        so what is consumed between two updates counts at once (call with the lock held)."""
        behind = {}
        for tp, high in self._high.items():
            last = self._last.get(tp)
            position = last[0] + 1 if last else self._start.get(tp)
            if position is not None:
                behind[tp] = max(0, high - position)
        return behind

    def unconsumed(self, tps) -> list[Partition]:
        """Those of `tps` this stage has consumed nothing from (their position must come from elsewhere)."""
        with self._lock:
            return [tp for tp in tps if tp not in self._last]

    def messages(self) -> int:
        with self._lock:
            return sum(self._behind().values())

    def seconds(self) -> float:
        now = self.clock()
        with self._lock:
            worst = 0.0
            for tp, n in self._behind().items():
                if n <= 0:
                    continue
                last = self._last.get(tp)
                marks = [t for t in (last[1] if last else None, self._caught_up_at.get(tp)) if t]
                since = max(marks) if marks else self._first_seen_behind.get(tp, now)
                worst = max(worst, now - since)
            return worst

    def describe(self):
        return list(self._families(None))

    def collect(self):
        return list(self._families((self.messages(), self.seconds())))

    def _families(self, values):
        messages = GaugeMetricFamily(
            names.CONSUMER_LAG_MESSAGES,
            "Messages behind the high watermark, summed over the partitions this process consumes.",
            labels=["stage"],
        )
        seconds = GaugeMetricFamily(
            names.CONSUMER_LAG_SECONDS,
            "Now minus the timestamp of the last consumed message, on the partition furthest behind (0 when caught up).",
            labels=["stage"],
        )
        if values is not None:
            messages.add_metric([self.stage], values[0])
            seconds.add_metric([self.stage], values[1])
        yield messages
        yield seconds
