"""Offsets by time, and a group's committed offsets: right on Apache Kafka and on Tansu.

Kafka answers "first offset with a timestamp at or after T" itself (ListOffsets by time,
`offsets_for_times`). Tansu does not: it answers offset 0 with a wrong timestamp (DESIGN.md,
and measured again for this module). So the broker's answer is only a hint: it is kept when
the records around it prove it right (the record at it is at or after T, the one before is
earlier), and otherwise a binary search over offsets finds it, reading one record per step.
The record timestamps themselves are right on both brokers. Partition bounds come from a
fetch response's high watermark, never from `end_offsets()` alone.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

from shared.config import Settings
from shared.kafka import high_watermarks, make_consumer, partitions_of

log = logging.getLogger(__name__)
Probe = Callable[[int], "tuple[int, int] | None"]
BROKER, SEARCH = "broker", "search"  # who answered a lookup by time (PartitionReader.answered_by)


def bisect_first(probe: Probe, lo: int, hi: int, ts_ms: int) -> int:
    """The offset of the first record in [lo, hi) whose timestamp is >= ts_ms, else hi.

    `probe(o)` gives (offset, timestamp) of the first record at or after o, or None when there
    is none before hi (offsets may have gaps: compaction, transaction markers). Assumes
    timestamps that do not go back within a partition, as Kafka's own time index does.
    """
    found = hi
    while lo < hi:
        mid = (lo + hi) // 2
        record = probe(mid)
        if record is None or record[0] >= hi:
            hi = mid
            continue
        offset, ts = record
        if ts >= ts_ms:
            found, hi = offset, mid
        else:
            lo = offset + 1
    return found


@dataclass(frozen=True)
class Bounds:
    start: int  # first offset still in the log
    end: int  # high watermark: offset after the last record


class PartitionReader:
    """Reads single records of one topic's partitions by offset, for lookups by time."""

    def __init__(self, settings: Settings, topic: str, timeout_s: float = 15.0):
        self.topic = topic
        self.timeout_s = timeout_s
        # Small fetches: each probe needs one record, not a megabyte of its neighbours.
        self.consumer: KafkaConsumer = make_consumer(
            settings, None, fetch_max_wait_ms=50, max_partition_fetch_bytes=64 * 1024
        )
        self.tps = partitions_of(self.consumer, topic)
        ends = high_watermarks(settings, topic)
        starts = self.consumer.beginning_offsets(self.tps)
        self.bounds = {tp.partition: Bounds(starts[tp], ends[tp.partition]) for tp in self.tps}
        self._assigned: TopicPartition | None = None
        self._cache: dict[tuple[int, int], tuple[int, int] | None] = {}
        # lookups answered by the broker's ListOffsets (proven by the records around it), and by
        # the search: on Apache Kafka every one is the broker's, on Tansu many are searched
        self.answered_by: Counter[str] = Counter()

    def close(self) -> None:
        self.consumer.close(autocommit=False)

    def __enter__(self) -> "PartitionReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def record_at(self, partition: int, offset: int) -> tuple[int, int] | None:
        """(offset, timestamp ms) of the first record at or after `offset`, None if none."""
        key = (partition, offset)
        if key not in self._cache:
            self._cache[key] = self._read(partition, offset)
        return self._cache[key]

    def _read(self, partition: int, offset: int) -> tuple[int, int] | None:
        end = self.bounds[partition].end
        if offset >= end:
            return None
        tp = TopicPartition(self.topic, partition)
        if self._assigned != tp:
            self.consumer.assign([tp])
            self._assigned = tp
        self.consumer.seek(tp, offset)
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            for record in self.consumer.poll(timeout_ms=200).get(tp, []):
                if record.offset >= offset:
                    return record.offset, record.timestamp
            if self.consumer.position(tp) >= end:
                return None
        raise TimeoutError(f"no record of {self.topic}[{partition}] at or after {offset} within {self.timeout_s}s")

    def broker_lookup(self, partition: int, ts_ms: int) -> int | None:
        """What the broker says (ListOffsets by time); None: no record at or after ts_ms."""
        tp = TopicPartition(self.topic, partition)
        answer = self.consumer.offsets_for_times({tp: ts_ms}).get(tp)
        return None if answer is None else answer.offset

    def _hint(self, partition: int, ts_ms: int) -> int | None | bool:
        """The broker's answer, or False when it has none to give (the search decides)."""
        try:
            return self.broker_lookup(partition, ts_ms)
        except KafkaError as exc:  # e.g. a broker without ListOffsets by time
            log.info("ListOffsets by time failed on %s[%d]: %s; searching", self.topic, partition, exc)
            return False

    def first_at_or_after(self, partition: int, ts_ms: int) -> int:
        """Offset of the first record with timestamp >= ts_ms (the high watermark if none)."""
        b = self.bounds[partition]
        if b.start >= b.end:
            return b.end
        hint = self._hint(partition, ts_ms)
        if hint is not False and self._proven(partition, hint, ts_ms):
            self.answered_by[BROKER] += 1
            return b.end if hint is None else max(hint, b.start)
        self.answered_by[SEARCH] += 1
        return bisect_first(lambda o: self.record_at(partition, o), b.start, b.end, ts_ms)

    def _proven(self, partition: int, hint: int | None, ts_ms: int) -> bool:
        b = self.bounds[partition]
        if hint is None or hint >= b.end:
            # "nothing at or after T": true if the last record is earlier than T
            last = self.record_at(partition, b.end - 1)
            return last is not None and last[1] < ts_ms
        hint = max(hint, b.start)
        here = self.record_at(partition, hint)
        if here is None or here[0] != hint or here[1] < ts_ms:
            return False
        if hint == b.start:
            return True
        before = self.record_at(partition, hint - 1)
        return before is not None and before[0] == hint - 1 and before[1] < ts_ms


def committed(settings: Settings, group: str, topic: str) -> dict[int, int | None]:
    """The group's committed offset per partition; None where it never committed."""
    consumer = make_consumer(settings, group)
    try:
        return {tp.partition: consumer.committed(tp) for tp in partitions_of(consumer, topic)}
    finally:
        consumer.close(autocommit=False)


def commit(settings: Settings, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit `offsets` for a group that has no live member, and check they were taken.

    Tansu accepts such a commit from a consumer outside the group (DESIGN.md); so does Kafka
    while the group is empty. While it has members Kafka refuses it (CommitFailedError) and
    Tansu would not, which is why callers check for live members first.
    """
    if not offsets:
        return
    consumer = make_consumer(settings, group)
    try:
        tps = {p: TopicPartition(topic, p) for p in offsets}
        consumer.assign(list(tps.values()))
        consumer.commit({tps[p]: OffsetAndMetadata(o, "", -1) for p, o in offsets.items()})
        wrong = {p: consumer.committed(tps[p]) for p in offsets if consumer.committed(tps[p]) != offsets[p]}
        if wrong:
            raise RuntimeError(f"the broker did not keep the committed offsets of {group}: {wrong}")
    finally:
        consumer.close(autocommit=False)
