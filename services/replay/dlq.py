"""`newsflow dlq list` and `newsflow dlq replay`: the dead letters, and sending them back.

Which letters were replayed is kept per letter, on the topic <prefix>.dlq.replayed (one
record per replayed letter, keyed by its DLQ partition and offset), beside the DLQ itself.
A consumer group would keep one offset per partition: replaying only the letters of one
reason would then have to skip the others for good, or replay them too. A letter that
fails again after its replay is dead-lettered again as a new letter, which can be replayed
in its turn; the replayed one is never sent twice.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import orjson

from services.replay.runner import read_ranges
from shared.times import show
from shared.config import Settings
from shared.pipeline.publish import CheckedPublisher
from shared.kafka import ensure_topics, high_watermarks, make_admin, make_consumer, make_producer, partitions_of
from shared.schema import DeadLetter


@dataclass
class Letter:
    partition: int  # where the letter itself sits on the DLQ
    offset: int
    letter: DeadLetter | None  # None: a record on the DLQ that is not a dead letter
    replayed: bool = False

    @property
    def partial(self) -> bool:
        """The letter keeps only the start of a too-large original: there is nothing whole to replay."""
        return self.letter is not None and self.letter.original_size is not None

    @property
    def kind(self) -> str:
        return self.letter.reason.split(":", 1)[0] if self.letter else "undecodable"

    def as_json(self) -> dict:
        d = self.letter
        out = {"dlq_partition": self.partition, "dlq_offset": self.offset, "replayed": self.replayed}
        if d is None:
            return out | {"stage": None, "reason": "undecodable dead letter"}
        return out | {
            "stage": d.stage, "reason": d.reason, "kind": self.kind, "topic": d.topic, "partition": d.partition,
            "offset": d.offset, "at": show(int(d.at * 1000)),
            "key": d.key.decode("utf-8", "replace") if d.key is not None else None,
            "original": d.original.decode("utf-8", "replace"), "original_size": d.original_size or len(d.original),
        }


def _topic_exists(settings: Settings, topic: str) -> bool:
    admin = make_admin(settings)
    try:
        return topic in admin.list_topics()
    finally:
        admin.close()


def _read_topic(settings: Settings, topic: str) -> list:
    consumer = make_consumer(settings, None)
    try:
        tps = partitions_of(consumer, topic)
        starts = consumer.beginning_offsets(tps)
    finally:
        consumer.close(autocommit=False)
    ends = high_watermarks(settings, topic)
    records: list = []
    read_ranges(settings, topic, {tp.partition: (starts[tp], ends[tp.partition]) for tp in tps}, records.extend)
    return records


def replayed_marks(settings: Settings) -> set[tuple[int, int]]:
    if not _topic_exists(settings, settings.dlq_replayed_topic):
        return set()
    marks = set()
    for record in _read_topic(settings, settings.dlq_replayed_topic):
        mark = orjson.loads(record.value)
        marks.add((mark["dlq_partition"], mark["dlq_offset"]))
    return marks


def read_letters(settings: Settings) -> list[Letter]:
    if not _topic_exists(settings, settings.dlq_topic):
        return []
    done = replayed_marks(settings)
    letters = []
    for record in _read_topic(settings, settings.dlq_topic):
        try:
            letter = DeadLetter.decode(record.value)
        except (ValueError, TypeError, KeyError):
            letter = None
        letters.append(Letter(record.partition, record.offset, letter, (record.partition, record.offset) in done))
    return sorted(letters, key=lambda l: (l.letter.at if l.letter else 0.0, l.partition, l.offset))


def select(letters: list[Letter], reason: str | None = None, stage: str | None = None) -> list[Letter]:
    """Letters whose reason contains `reason` (any case) and of `stage`."""
    out = letters
    if reason:
        out = [l for l in out if l.letter and reason.lower() in l.letter.reason.lower()]
    if stage:
        out = [l for l in out if l.letter and l.letter.stage == stage]
    return out


def render(letters: list[Letter]) -> str:
    lines = [f"{'when':<20}  {'stage':<7}  {'from':<28}  {'dlq':<9}  {'replayed':<8}  reason"]
    for l in letters:
        d = l.letter
        if d is None:
            lines.append(f"{'-':<20}  {'-':<7}  {'-':<28}  {f'{l.partition}@{l.offset}':<9}  {'-':<8}  undecodable")
            continue
        source = f"{d.topic}[{d.partition}]@{d.offset}"
        reason = d.reason if len(d.reason) <= 80 else d.reason[:79] + "…"
        lines.append(
            f"{show(int(d.at * 1000)):<20}  {d.stage:<7}  {source:<28}  {f'{l.partition}@{l.offset}':<9}  "
            f"{'yes' if l.replayed else 'no':<8}  {reason}"
        )
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(Counter(l.kind for l in letters).items())) or "none"
    replayed = sum(l.replayed for l in letters)
    lines.append(f"{len(letters)} dead letter(s), {replayed} replayed; by reason: {kinds}")
    return "\n".join(lines)


def replay(settings: Settings, letters: list[Letter]) -> Counter:
    """Send each letter's original back to the topic its stage read it from, then mark it
    replayed. Returns the count per topic. At least once: a crash between the two sends a
    letter again next time, which the idempotent pipeline absorbs."""
    todo = [l for l in letters if l.letter is not None and not l.replayed and not l.partial]
    sent: Counter = Counter()
    if not todo:
        return sent
    ensure_topics(settings, [settings.dlq_replayed_topic])
    publisher = CheckedPublisher(make_producer(settings))
    try:
        for l in todo:
            publisher.send(l.letter.topic, l.letter.key, l.letter.original)
            sent[l.letter.topic] += 1
        publisher.confirm()  # the originals are on their topics before they are marked
        for l in todo:
            mark = {"dlq_partition": l.partition, "dlq_offset": l.offset, "to": l.letter.topic, "at": time.time()}
            publisher.send(settings.dlq_replayed_topic, f"{l.partition}@{l.offset}".encode(), orjson.dumps(mark))
        publisher.confirm()
    finally:
        publisher.close()
    for l in todo:
        l.replayed = True
    return sent
