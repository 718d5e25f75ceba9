"""Sink: news.tagged -> upsert into the database; offsets committed only after the DB commit."""
from __future__ import annotations

import logging
import signal
import time

from kafka import OffsetAndMetadata, TopicPartition
from prometheus_client import CollectorRegistry

from services.sink.metrics import SinkMetrics
from services.sink.store import Store, open_store
from shared.config import Settings
from shared.kafka import ensure_topics, make_consumer, make_producer
from shared.metrics import serve_metrics
from shared.schema import Article, BadMessage, DeadLetter, decode

log = logging.getLogger(__name__)


class Sink:
    def __init__(self, settings: Settings, store: Store, registry: CollectorRegistry | None = None):
        self.settings = settings
        self.store = store
        self.metrics = SinkMetrics(registry or CollectorRegistry())
        self.consumer = make_consumer(
            settings, settings.group("sink"), settings.tagged_topic, max_poll_records=settings.sink_batch_size
        )
        self.producer = make_producer(settings)  # for dead letters
        self.stopping = False

    def run(self) -> None:
        log.info("sink consuming %s into %s", self.settings.tagged_topic, _redact(self.settings.database_url))
        try:
            while not self.stopping:
                batch = self.consumer.poll(timeout_ms=self.settings.sink_batch_ms)
                if batch:
                    self.write(batch)
        finally:
            self.consumer.close(autocommit=False)
            self.producer.close(timeout=10)
            self.store.close()

    def write(self, batch: dict) -> None:
        articles: list[Article] = []
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp, records in batch.items():
            for record in records:
                self.metrics.messages_in.inc()
                try:
                    articles.append(decode(record.value))
                except BadMessage as exc:
                    self.dead_letter(record, exc)
            offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
        if articles:
            started = time.perf_counter()
            result = self.store.upsert(articles)
            stored_at = time.time()
            self.metrics.db_write_seconds.observe(time.perf_counter() - started)
            self.metrics.rows.labels("insert").inc(result.inserted)
            self.metrics.rows.labels("update").inc(result.updated)
            self.metrics.duplicates.labels("exact").inc(result.exact_duplicates)
            self.metrics.duplicates.labels("near").inc(result.near_duplicates)
            self.metrics.stories.labels("new").inc(result.stories_new)
            self.metrics.stories.labels("joined").inc(result.stories_joined)
            self.metrics.messages_out.inc(len(articles))
            for article in articles:
                self.metrics.end_to_end_seconds.observe(max(0.0, stored_at - article.fetched_at))
        self.producer.flush()  # dead letters acknowledged before we move past them
        self.consumer.commit(offsets)

    def dead_letter(self, record, exc: BadMessage) -> None:
        letter = DeadLetter(
            stage="sink",
            reason=f"{exc.kind}: {exc}",
            original=record.value or b"",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
        )
        log.warning("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, letter.reason)
        self.producer.send(self.settings.dlq_topic, key=record.key, value=letter.encode())
        self.metrics.dead_lettered(exc.kind)


def _redact(url: str) -> str:
    """A database URL without its password, for logs."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"


def main(settings: Settings) -> None:
    ensure_topics(settings, [settings.tagged_topic, settings.dlq_topic])
    sink = Sink(settings, open_store(settings.database_url))
    serve_metrics(settings, sink.metrics.registry, "sink")

    def stop(signum, _frame):
        log.info("sink stopping (%s): finishing the current batch", signal.Signals(signum).name)
        sink.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sink.run()
