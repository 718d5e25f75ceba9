"""A bounded replay (`replay --to`): the window [FROM, TO] processed again while the stage stands still.

The stage's group is not touched, so the stage goes on exactly where it was when it resumes;
there are no offsets to move and put back. The window is processed by the stage's own pure
work (its transform from shared/pipeline/topology.py through the shared step, the Store's
upsert) and sent where the stage sends it, with bad input dead-lettered as the stage does. When an article of the
window was consumed again after it (a later revision), that later message is applied once
more at the end, so a replayed old revision never ends up on top of a newer one; what the
stage has not consumed yet it handles itself after resuming, in order.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from kafka import TopicPartition

from services.replay.progress import Progress
from shared.config import Settings
from shared.kafka import ensure_topics, make_consumer, make_producer
from shared.pipeline import topology
from shared.pipeline.limit import DlqLimit
from shared.pipeline.publish import CheckedPublisher
from shared.pipeline.step import STORE, Origin, log_letter, step
from shared.schema import Article, encode

log = logging.getLogger(__name__)
STALL_S = 60.0


@dataclass
class WindowResult:
    processed: int = 0
    dead_lettered: int = 0
    later_revisions: int = 0
    per_partition: dict[int, int] = field(default_factory=dict)


class StageWork:
    """What one stage does with a batch of records, through the shared step; `close()` when done."""

    def __init__(self, settings: Settings, stage: str):
        self.settings, self.stage = settings, stage
        declared = topology.stage(stage)
        self.publisher = CheckedPublisher(make_producer(settings))
        self.limit = DlqLimit.from_settings(settings)
        self.store = None
        if stage == "tagger":
            from services.tagger.taxonomy import load_taxonomy

            taxonomy = load_taxonomy(settings.taxonomy_file)
            ensure_topics(settings, [settings.tag_topic(t.name) for t in taxonomy.topics])
            self.transform = declared.load_transform(settings, taxonomy=taxonomy)
        else:
            self.transform = declared.load_transform(settings)
        if not declared.outputs:
            from services.sink.store import open_store

            self.store = open_store(settings.database_url)

    def apply(self, records: list) -> int:
        """Process records in order; returns how many were dead-lettered. Raises DeliveryFailed
        when the broker did not take a message, DeadLetterLimit past the limit."""
        dead = 0
        to_store: list[Article] = []
        for record in records:
            outcome = step(self.stage, record.value, Origin.of(record), self.transform, self.settings.max_message_bytes)
            if outcome.dead:
                log_letter(outcome.letter)
                self.publisher.send(self.settings.dlq_topic, outcome.letter.key, outcome.letter.encode())
                dead += 1
            for topic, article in outcome.outputs:
                if topic == STORE:
                    to_store.append(article)
                else:
                    self.publisher.send(topic, article.key, encode(article))
            self.limit.record(outcome.dead)
        if to_store:
            self.store.upsert(to_store)
        self.publisher.confirm()
        return dead

    def close(self) -> None:
        self.publisher.close()
        if self.store is not None:
            self.store.close()


def read_ranges(settings: Settings, topic: str, ranges: dict[int, tuple[int, int]], on_batch) -> None:
    """Call on_batch(records) with the records of each partition's [a, b), in offset order."""
    ranges = {p: r for p, r in ranges.items() if r[1] > r[0]}
    if not ranges:
        return
    consumer = make_consumer(settings, None, fetch_max_wait_ms=100)
    try:
        tps = {p: TopicPartition(topic, p) for p in ranges}
        consumer.assign(list(tps.values()))
        for p, (a, _b) in ranges.items():
            consumer.seek(tps[p], a)
        open_parts = set(ranges)
        last_progress = time.monotonic()
        while open_parts:
            batch = consumer.poll(timeout_ms=500)
            for tp, records in batch.items():
                end = ranges[tp.partition][1]
                wanted = [r for r in records if r.offset < end]
                if wanted:
                    on_batch(wanted)
                    last_progress = time.monotonic()
            for p in list(open_parts):
                if consumer.position(tps[p]) >= ranges[p][1]:
                    open_parts.discard(p)
                    consumer.pause(tps[p])
            if open_parts and time.monotonic() - last_progress > STALL_S:
                raise TimeoutError(f"no record of {topic} partitions {sorted(open_parts)} for {STALL_S:.0f}s")
    finally:
        consumer.close(autocommit=False)


def run_window(
    settings: Settings, stage: str, topic: str, windows: dict[int, tuple[int, int]], consumed: dict[int, int],
) -> WindowResult:
    """Process each partition's window [a, b), then the latest message of each window key in
    [b, consumed) (what the stage had consumed after the window)."""
    result = WindowResult(per_partition={p: 0 for p in windows})
    keys: dict[int, set[bytes]] = {p: set() for p in windows}
    work = StageWork(settings, stage)
    todo = sum(b - a for a, b in windows.values() if b > a)
    progress = Progress(f"replay {stage}", todo, "messages")
    try:
        def window_batch(records: list) -> None:
            result.dead_lettered += work.apply(records)
            for r in records:
                result.per_partition[r.partition] += 1
                if r.key is not None:
                    keys[r.partition].add(r.key)
            result.processed += len(records)
            progress.advance(len(records))

        read_ranges(settings, topic, windows, window_batch)
        progress.finish()

        # Later revisions: the last message of each window key published after the window.
        latest: dict[tuple[int, bytes], object] = {}

        def tail_batch(records: list) -> None:
            for r in records:
                if r.key in keys[r.partition]:
                    latest[(r.partition, r.key)] = r

        tails = {p: (b, consumed[p]) for p, (a, b) in windows.items() if b > a and consumed.get(p, 0) > b}
        read_ranges(settings, topic, tails, tail_batch)
        if latest:
            again = sorted(latest.values(), key=lambda r: (r.partition, r.offset))
            result.dead_lettered += work.apply(again)
            result.later_revisions = len(again)
    finally:
        work.close()
    return result
