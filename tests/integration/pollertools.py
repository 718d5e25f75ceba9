"""Driving the real Poller (real HTTP server, real broker) from tests, and reading what it did."""
from __future__ import annotations

import asyncio

from kafka import TopicPartition
from prometheus_client import CollectorRegistry

from services.poller.feeds import Feed
from services.poller.main import Poller
from services.poller.state import PollerState
from shared.config import Settings
from shared.kafka import ensure_topics, high_watermarks, make_consumer
from shared.schema import Article, decode


def poller_settings(settings: Settings, **overrides) -> Settings:
    """The test's settings, allowed to fetch from 127.0.0.1, with no gap between requests to it."""
    base = dict(allow_private_hosts="127.0.0.1", host_min_gap_s=0.0, host_concurrency=16,
                fetch_concurrency=32, fetch_timeout_s=5.0, fulltext_min_chars=0, poll_interval_s=60.0)
    base.update(overrides)
    updated = settings.model_copy(update=base)
    ensure_topics(updated, [updated.raw_topic])
    return updated


def poll_once(settings: Settings, feeds: list[Feed], registry: CollectorRegistry | None = None) -> Poller:
    """One `--once` cycle of a fresh Poller over `feeds` (state kept in settings.data_dir); returns it closed."""
    registry = registry or CollectorRegistry()

    async def go() -> Poller:
        poller = Poller(settings, registry)
        try:
            await poller.run(feeds, once=True)
        finally:
            poller.close()
        return poller

    return asyncio.run(go())


def metric(registry: CollectorRegistry, name: str, **labels) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def raw_count(settings: Settings) -> int:
    return sum(high_watermarks(settings, settings.raw_topic).values())


def raw_articles(settings: Settings) -> list[Article]:
    """Every article on news.raw, partition by partition in offset order."""
    ends = high_watermarks(settings, settings.raw_topic)
    consumer = make_consumer(settings, None, consumer_timeout_ms=2000)
    try:
        out = []
        for partition, end in sorted(ends.items()):
            if not end:
                continue
            tp = TopicPartition(settings.raw_topic, partition)
            consumer.assign([tp])
            consumer.seek_to_beginning(tp)
            got = []
            while len(got) < end:
                batch = consumer.poll(timeout_ms=2000)
                if not batch:
                    raise TimeoutError(f"read {len(got)} of {end} messages of partition {partition}")
                for records in batch.values():
                    got.extend(decode(r.value) for r in records)
            out.extend(got)
        return out
    finally:
        consumer.close(autocommit=False)


def feed_state(settings: Settings, key: str) -> dict:
    state = PollerState(settings.data_dir / "poller.db")
    try:
        return state.health(key) or {}
    finally:
        state.close()
