"""The poller's publishing to news.raw: every send confirmed by the broker before an entry is
marked as published (shared/pipeline/publish.py), PublishFailed otherwise."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence

from kafka.errors import KafkaError

from services.poller.metrics import PollerMetrics
from shared.brokerwatch import BrokerWatch
from shared.config import Settings
from shared.kafka import make_producer
from shared.pipeline.publish import CheckedPublisher, DeliveryFailed
from shared.schema import Article, encode

# Acknowledged, but maybe by a broker that restarted empty meanwhile (its topics are new): not marked.
LOST_WHILE_PUBLISHING = "the broker's topics changed while publishing (a memory-only broker restarted?)"


class PublishFailed(RuntimeError):
    """The broker did not acknowledge a message: an infrastructure fault, not a feed's."""


class RawPublisher:
    def __init__(self, settings: Settings, metrics: PollerMetrics):
        self.settings, self.metrics = settings, metrics
        timeout_ms = int(settings.publish_timeout_s * 1000)
        self.producer = make_producer(
            settings, delivery_timeout_ms=timeout_ms, request_timeout_ms=min(30_000, timeout_ms - 100),
        )
        self.checked = CheckedPublisher(self.producer, confirm_timeout_s=settings.publish_timeout_s)
        self.watch: BrokerWatch | None = None  # set by main(): checks the topics after each publish

    async def ready(self) -> None:
        """The first send() blocks until the topic's metadata is known: fetch it off the event loop."""
        await asyncio.to_thread(self.producer.partitions_for, self.settings.raw_topic)

    async def publish(self, articles: Sequence[Article]) -> None:
        """Send every article and wait for the broker's acknowledgements; PublishFailed if any fails."""
        try:
            self._send(articles)
            await self.checked.confirmed()
        except (KafkaError, DeliveryFailed) as exc:
            raise self._failed(exc) from exc
        if self.watch is not None and not await asyncio.to_thread(self.watch.unchanged):
            raise PublishFailed(LOST_WHILE_PUBLISHING)
        self.metrics.messages_out.inc(len(articles))

    def publish_blocking(self, articles: Sequence[Article]) -> None:
        try:
            self._send(articles)
            self.checked.confirm()
        except (KafkaError, DeliveryFailed) as exc:
            raise self._failed(exc) from exc
        if self.watch is not None and not self.watch.unchanged():
            raise PublishFailed(LOST_WHILE_PUBLISHING)
        self.metrics.messages_out.inc(len(articles))

    def _send(self, articles: Sequence[Article]) -> None:
        for article in articles:
            self.checked.send(self.settings.raw_topic, article.key, encode(article))

    def _failed(self, exc: Exception) -> PublishFailed:
        return PublishFailed(f"cannot publish to {self.settings.raw_topic}: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        self.producer.close(timeout=3)  # what is unsent by then was not marked: published again later
