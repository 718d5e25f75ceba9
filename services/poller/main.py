"""Poller: feeds and archived files -> raw articles on news.raw (kafka-python, acks=all).

An entry is remembered as published only after the broker acknowledged it, so a crash or
a broker outage re-publishes rather than loses (the sink's upsert absorbs the repeat).
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from prometheus_client import CollectorRegistry

from services.poller.feeds import Feed, load_feeds
from services.poller.fetch import FetchError, fetch
from services.poller.ingest import IngestError, ingest_paths
from services.poller.metrics import PollerMetrics
from services.poller.parse import FeedParseError, parse_feed
from services.poller.state import PollerState
from shared.config import Settings
from shared.kafka import ensure_topics, make_producer
from shared.metrics import serve_metrics
from shared.schema import Article, encode

log = logging.getLogger(__name__)
PUBLISH_CHUNK = 500


class Poller:
    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None):
        self.settings = settings
        self.metrics = PollerMetrics(registry or CollectorRegistry())
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.state = PollerState(settings.data_dir / "poller.db")
        self.producer = make_producer(settings)
        self.stop = threading.Event()

    def publish(self, articles: Sequence[Article]) -> None:
        """Send and wait for the broker's acknowledgement of every article (raises if any fails)."""
        futures = [
            self.producer.send(self.settings.raw_topic, key=a.key, value=encode(a)) for a in articles
        ]
        self.producer.flush()
        for future in futures:
            future.get(timeout=30)
        self.metrics.messages_out.inc(len(articles))

    def ingest(self, paths: Iterable[str | Path]) -> int:
        """Publish every article in files and folders; explicit ingest always publishes."""
        published = 0
        chunk: list[Article] = []
        for item in ingest_paths([Path(p) for p in paths], time.time()):
            if isinstance(item, IngestError):
                self.metrics.ingest_errors.inc()
                log.warning("ingest: %s", item)
                continue
            chunk.append(item)
            if len(chunk) >= PUBLISH_CHUNK:
                self.publish(chunk)
                published += len(chunk)
                chunk = []
        if chunk:
            self.publish(chunk)
            published += len(chunk)
        log.info("ingested %d articles", published)
        return published

    def poll_feed(self, feed: Feed) -> int:
        started = time.perf_counter()
        try:
            body = fetch(
                feed.url,
                timeout_s=self.settings.fetch_timeout_s,
                max_bytes=self.settings.max_body_bytes,
                headers=feed.headers,
            )
            parsed = parse_feed(feed, body, time.time())
        except (FetchError, FeedParseError) as exc:
            outcome = "parse_error" if isinstance(exc, FeedParseError) else "error"
            self.metrics.fetches.labels(outcome).inc()
            self.state.record_error(feed.url, str(exc))
            log.warning("feed %s (%s): %s", feed.name, feed.url, exc)
            return 0
        finally:
            self.metrics.fetch_seconds.observe(time.perf_counter() - started)
        self.metrics.fetches.labels("ok").inc()
        fresh = [a for a in parsed.entries if self.state.is_new_or_changed(feed.url, a.id, a.content_hash)]
        self.metrics.entries.labels("new").inc(len(fresh))
        self.metrics.entries.labels("unchanged").inc(len(parsed.entries) - len(fresh))
        if fresh:
            self.publish(fresh)
            self.state.mark_published(feed.url, [(a.id, a.content_hash) for a in fresh])
        self.state.record_success(feed.url)
        log.info("feed %s: %d entries, %d published", feed.name, len(parsed.entries), len(fresh))
        return len(fresh)

    def run(self, feeds: list[Feed], *, once: bool, ingest: Sequence[str] = ()) -> None:
        if ingest:
            self.ingest(ingest)
        due = {feed.url: 0.0 for feed in feeds}
        while not self.stop.is_set():
            now = time.monotonic()
            for feed in feeds:
                if due[feed.url] <= now and not self.stop.is_set():
                    self.poll_feed(feed)
                    due[feed.url] = time.monotonic() + (feed.interval_s or self.settings.poll_interval_s)
            if once:
                break
            self.stop.wait(max(0.1, min(due.values(), default=now + 60) - time.monotonic()))
        self.producer.flush()

    def close(self) -> None:
        self.producer.close(timeout=10)
        self.state.close()


def main(
    settings: Settings, *, once: bool = False, ingest: Sequence[str] = (), poll_feeds: bool = True
) -> None:
    ensure_topics(settings, [settings.raw_topic])
    feeds = [f for f in load_feeds(settings.feeds_file) if f.enabled] if poll_feeds else []
    poller = Poller(settings)
    serve_metrics(settings, poller.metrics.registry, "poller")

    def stop(signum, _frame):
        log.info("poller stopping (%s)", signal.Signals(signum).name)
        poller.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if poll_feeds:
        log.info("polling %d feeds from %s", len(feeds), settings.feeds_file)
    try:
        poller.run(feeds, once=once, ingest=ingest)
    finally:
        poller.close()
