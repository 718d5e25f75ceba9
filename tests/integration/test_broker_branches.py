"""Where Apache Kafka and Tansu answer differently, which branch of newsflow's code each takes.

Each workaround for Tansu (DESIGN.md) runs on Kafka too; these tests pin down, per broker, what
the broker itself says and that newsflow's answer is right either way. Run on both brokers
(`make test`; NEWSFLOW_TEST_BROKER picks).
"""
from __future__ import annotations

import asyncio
import time

import pytest
from kafka import KafkaAdminClient, TopicPartition

from services.replay.groups import describe_group
from shared.kafka import ensure_topics, high_watermarks, make_admin, make_consumer, make_producer

pytestmark = [pytest.mark.integration, pytest.mark.fallback]


def _produce_in_batches(settings, topic: str, batches: list[int]) -> None:
    producer = make_producer(settings, linger_ms=200, batch_size=1024 * 1024)
    for size in batches:  # each group of sends leaves as one record batch
        futures = [producer.send(topic, value=b"x" * 100, partition=0) for _ in range(size)]
        producer.flush()
        for future in futures:
            future.get(10)
    producer.close()


def test_partition_ends_come_from_the_fetch_high_watermark(settings, broker):
    """Lag and drain checks use the high watermark of a fetch response (shared/kafka.py,
    shared/lag.py). On Kafka ListOffsets agrees with it; on Tansu it answers the last batch's
    base offset + 1 and would undercount."""
    topic = settings.topic("ends")
    ensure_topics(settings, [topic])
    _produce_in_batches(settings, topic, [100, 10, 5])
    assert high_watermarks(settings, topic)[0] == 115
    consumer = make_consumer(settings, None)
    try:
        listed = consumer.end_offsets([TopicPartition(topic, 0)])[TopicPartition(topic, 0)]
    finally:
        consumer.close(autocommit=False)
    if broker.kind == "kafka":
        assert listed == 115
    else:
        assert listed < 115  # 111: the base offset of the last batch + 1


def test_live_members_are_described_by_describe_groups_on_both(settings, broker):
    """Replay refuses to move a live group's offsets; it learns of members by DescribeGroups
    (v2, services/replay/groups.py). kafka-python's own call (v3+) works on Kafka, where it
    agrees with ours, and fails on Tansu."""
    topic = settings.topic("described")
    ensure_topics(settings, [topic])
    group = settings.group("described")
    consumer = make_consumer(settings, group, topic)
    try:
        deadline = time.monotonic() + 30
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(timeout_ms=100)
        ours = describe_group(settings, group)
        assert ours.live and ours.state == "Stable"
        admin = make_admin(settings, KafkaAdminClient)
        try:
            if broker.kind == "kafka":
                theirs = admin.describe_groups([group])[group]
                assert len(theirs["members"]) == len(ours.members) == 1
            else:
                with pytest.raises(ValueError, match="ACLOperation"):
                    admin.describe_groups([group])
        finally:
            admin.close()
    finally:
        consumer.close()
    assert not describe_group(settings, group).live


def test_a_faust_consumer_leaves_its_group_whatever_generation_it_joined_in(settings, broker):
    """aiokafka sends LeaveGroup only above generation 0. Kafka's first generation is 1, so our
    patch (shared/stream.py) never acts there; Tansu's is 0, where without it the member would
    stay listed and block a replay."""
    from aiokafka import AIOKafkaConsumer

    from shared.stream import leave_groups_from_generation_zero

    leave_groups_from_generation_zero()
    topic = settings.topic("generation")
    ensure_topics(settings, [topic])
    group = settings.group("generation")

    async def join_and_leave() -> int:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=settings.kafka_bootstrap, group_id=group,
            session_timeout_ms=settings.session_timeout_ms, heartbeat_interval_ms=settings.heartbeat_interval_ms,
        )
        await consumer.start()
        try:
            deadline = time.monotonic() + 30
            while not consumer.assignment() and time.monotonic() < deadline:
                await consumer.getmany(timeout_ms=100)
            assert describe_group(settings, group).live
            return consumer._coordinator.generation
        finally:
            await consumer.stop()

    generation = asyncio.run(join_and_leave())
    assert generation == (1 if broker.kind == "kafka" else 0)
    assert not describe_group(settings, group).live  # gone at once, not after a session timeout
