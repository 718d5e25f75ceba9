"""Offsets by time and the live-member check, on Apache Kafka and on Tansu (whose own
ListOffsets-by-time answers are wrong, DESIGN.md): the same results, by different branches."""
from __future__ import annotations

import random
import threading
import time

import pytest

from services.replay.groups import describe_group
from services.replay.offsets import BROKER, SEARCH, PartitionReader, commit, committed
from shared.kafka import ensure_topics, make_consumer, make_producer

pytestmark = [pytest.mark.integration, pytest.mark.fallback]


def test_first_offset_at_or_after_a_time_matches_the_records_whatever_the_batching(settings, broker):
    topic = settings.topic("timed")
    ensure_topics(settings, [topic])
    producer = make_producer(settings, linger_ms=20)
    rng = random.Random(3)
    base = int(time.time() * 1000) - 3600_000
    stamps: dict[int, list[int]] = {p: [] for p in range(settings.partitions)}
    i = 0
    for _batch in range(25):  # batches of 1 to 40 records, as the producer happens to group them
        futures = []
        for _ in range(rng.randint(1, 40)):
            partition, ts = rng.randrange(settings.partitions), base + i * 1000
            i += 1
            futures.append(producer.send(topic, value=b"x", partition=partition, timestamp_ms=ts))
            stamps[partition].append(ts)
        producer.flush()
        for f in futures:
            f.get(10)
    producer.close()

    with PartitionReader(settings, topic) as reader:
        broker_was_wrong = False
        for q in range(-3, i + 3, 5):
            ts = base + q * 1000
            for p, mine in stamps.items():
                expected = next((o for o, t in enumerate(mine) if t >= ts), len(mine))
                assert reader.first_at_or_after(p, ts) == expected, (p, q)
                hint = reader.broker_lookup(p, ts)
                broker_was_wrong |= (hint if hint is not None else len(mine)) != expected
    if broker.kind == "kafka":  # ListOffsets by time is right, and trusted: no record search
        assert not broker_was_wrong
        assert reader.answered_by[SEARCH] == 0 and reader.answered_by[BROKER] > 0
    else:  # Tansu's answer is wrong for some of these: the search found them
        assert broker_was_wrong
        assert reader.answered_by[SEARCH] > 0


def test_live_members_are_seen_and_gone_once_the_consumer_leaves(settings):
    topic = settings.topic("members")
    ensure_topics(settings, [topic])
    group = settings.group("probe")
    assert not describe_group(settings, group).live
    consumer = make_consumer(settings, group, topic)
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            consumer.poll(timeout_ms=100)

    thread = threading.Thread(target=poll)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not describe_group(settings, group).live and time.monotonic() < deadline:
            time.sleep(0.2)
        state = describe_group(settings, group)
        assert state.live and len(state.members) == 1
    finally:
        stop.set()
        thread.join()
        consumer.close()
    assert not describe_group(settings, group).live


def test_commit_for_an_idle_group_is_kept(settings):
    topic = settings.topic("offsets")
    ensure_topics(settings, [topic])
    group = settings.group("idle")
    assert committed(settings, group, topic) == {p: None for p in range(settings.partitions)}
    commit(settings, group, topic, {0: 5, 2: 7})
    assert committed(settings, group, topic) == {0: 5, 1: None, 2: 7}
