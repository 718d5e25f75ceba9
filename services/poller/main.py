"""Poller: feeds and archived files -> raw articles on news.raw (kafka-python, acks=all).

Many feeds at once (a global cap, a cap and a minimum gap per host), conditional GET, a body
hash to skip unchanged feeds, backoff on errors. An entry is remembered as published only
after the broker acknowledged it, so a crash or a broker outage re-publishes, never loses.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
import time
from collections.abc import Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlparse

import httpx
from prometheus_client import CollectorRegistry

from services.poller.feeds import Feed, load_feeds
from services.poller.fetch import FetchError, fetch, make_client
from services.poller.fulltext import needs_full_text, with_full_text
from services.poller.guard import parse_allowed
from services.poller.ingest import IngestError, ingest_paths
from services.poller.metrics import PollerMetrics
from services.poller.parse import FeedParseError, parse_feed
from services.poller.schedule import max_age_s, next_delay
from services.poller.state import PollerState
from shared.config import Settings
from shared.kafka import ensure_topics, make_producer
from shared.metrics import serve_metrics
from shared.schema import Article, encode

log = logging.getLogger(__name__)
PUBLISH_CHUNK = 500


class HostGate:
    """At most `concurrency` requests to one host at once, `min_gap_s` apart."""

    def __init__(self, concurrency: int, min_gap_s: float):
        self.slots = asyncio.Semaphore(concurrency)
        self.turn = asyncio.Lock()
        self.min_gap_s = min_gap_s
        self.last = 0.0

    @asynccontextmanager
    async def slot(self):
        async with self.slots:
            async with self.turn:
                wait = self.last + self.min_gap_s - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self.last = time.monotonic()
            yield


class Poller:
    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None):
        self.settings = settings
        self.metrics = PollerMetrics(registry or CollectorRegistry())
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.state = PollerState(settings.data_dir / "poller.db")
        self.producer = make_producer(settings)
        self.allow = parse_allowed(settings.allow_private_hosts)
        self.stop = asyncio.Event()
        self.hosts: dict[str, HostGate] = {}
        self.fetch_slots = asyncio.Semaphore(settings.fetch_concurrency)

    # -- publishing ------------------------------------------------------------------------

    def publish(self, articles: Sequence[Article]) -> None:
        """Send and wait for the broker's acknowledgement of every article (raises if any fails)."""
        futures = [
            self.producer.send(self.settings.raw_topic, key=a.key, value=encode(a)) for a in articles
        ]
        self.producer.flush()
        for future in futures:
            future.get(timeout=30)
        self.metrics.messages_out.inc(len(articles))

    def ingest(self, paths: Sequence[str | Path]) -> int:
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

    # -- fetching --------------------------------------------------------------------------

    @asynccontextmanager
    async def gate(self, url: str):
        host = urlparse(url).hostname or ""
        gate = self.hosts.setdefault(
            host, HostGate(self.settings.host_concurrency, self.settings.host_min_gap_s)
        )
        async with self.fetch_slots:
            async with gate.slot():
                yield

    async def _fetch(self, client: httpx.AsyncClient, url: str, **kwargs):
        async with self.gate(url):
            return await fetch(
                client, url, total_timeout_s=self.settings.fetch_timeout_s,
                max_bytes=self.settings.max_body_bytes, allow_hosts=self.allow, **kwargs,
            )

    def _schedule(self, feed: Feed, errors: int, **hints) -> float:
        delay = next_delay(
            interval_s=feed.interval_s or self.settings.poll_interval_s, error_count=errors,
            max_backoff_s=self.settings.max_backoff_s, **hints,
        )
        return time.time() + delay

    async def poll_feed(self, client: httpx.AsyncClient, feed: Feed) -> int:
        """Fetch, parse and publish one feed; returns how many articles it published."""
        key = feed.url
        row = self.state.feed(key)
        url = row.get("current_url") or feed.url
        started = time.perf_counter()
        try:
            fetched = await self._fetch(
                client, url, headers=feed.headers, etag=row.get("etag"), last_modified=row.get("last_modified")
            )
        except FetchError as exc:
            self._failed(feed, exc.outcome, str(exc), retry_after_s=exc.retry_after_s)
            return 0
        finally:
            self.metrics.fetch_seconds.observe(time.perf_counter() - started)
        updates: dict = {"name": feed.name}
        if fetched.moved_to and fetched.moved_to != url:
            log.info("feed %s moved permanently to %s", feed.name, fetched.moved_to)
            updates["current_url"] = fetched.moved_to
        hints = {"cache_max_age_s": max_age_s(fetched.headers.get("cache-control"))}
        if fetched.not_modified:
            self._succeeded(feed, "304", self._schedule(feed, 0, **hints), **updates)
            return 0
        self.metrics.fetched_bytes.inc(len(fetched.body))
        updates.update(etag=fetched.etag, last_modified=fetched.last_modified)
        body_hash = hashlib.sha256(fetched.body).hexdigest()
        if body_hash == row.get("body_hash"):  # a server that ignores validators: skip the parse
            self._succeeded(feed, "200", self._schedule(feed, 0, **hints), **updates)
            return 0
        try:
            parsed = parse_feed(feed, fetched.body, time.time(), fetched.headers)
        except FeedParseError as exc:
            self._failed(feed, "parse_error", str(exc))
            return 0
        if parsed.bozo_kind:
            self.metrics.bozo.labels(parsed.bozo_kind).inc()
        fresh = await self._fresh_entries(client, feed, key, parsed.entries)
        if fresh:
            await asyncio.to_thread(self.publish, fresh)
            self.state.mark_published(key, [(a.id, a.content_hash) for a in fresh])
        hints["ttl_s"] = parsed.ttl_s
        self._succeeded(feed, "200", self._schedule(feed, 0, **hints), body_hash=body_hash, **updates)
        log.info("feed %s: %d entries, %d published", feed.name, len(parsed.entries), len(fresh))
        return len(fresh)

    async def _fresh_entries(self, client, feed: Feed, key: str, entries: list[Article]) -> list[Article]:
        fresh = []
        for article in entries:
            if not self.state.is_new_or_changed(key, article.id, article.content_hash):
                self.metrics.entries.labels("unchanged").inc()
                continue
            status = "updated" if self.state.was_published(key, article.id) else "new"
            self.metrics.entries.labels(status).inc()
            fresh.append(article)
        if feed.fulltext and self.settings.fulltext_min_chars:
            fresh = list(await asyncio.gather(*(self._full_text(client, a) for a in fresh)))
        return fresh

    async def _full_text(self, client, article: Article) -> Article:
        if not needs_full_text(article, self.settings.fulltext_min_chars):
            return article
        try:
            async with self.gate(article.url):
                full = await with_full_text(
                    client, article, total_timeout_s=self.settings.fetch_timeout_s,
                    max_bytes=self.settings.max_body_bytes, allow_hosts=self.allow,
                )
        except FetchError as exc:
            self.metrics.fulltext.labels(exc.outcome).inc()
            log.info("full text of %s: %s (keeping the summary)", article.url, exc)
            return article
        self.metrics.fulltext.labels("ok").inc()
        return full

    def _succeeded(self, feed: Feed, outcome: str, next_poll_at: float, **fields) -> None:
        self.metrics.fetches.labels(outcome).inc()
        self.metrics.last_success.labels(feed.name).set(time.time())
        self.metrics.feed_errors.labels(feed.name).set(0)
        self.state.record_success(feed.url, last_outcome=outcome, next_poll_at=next_poll_at, **fields)

    def _failed(self, feed: Feed, outcome: str, reason: str, retry_after_s: float | None = None) -> None:
        self.metrics.fetches.labels(outcome).inc()
        errors = self.state.record_error(feed.url, reason, last_outcome=outcome, name=feed.name)
        self.metrics.feed_errors.labels(feed.name).set(errors)
        at = self._schedule(feed, errors, retry_after_s=retry_after_s)
        self.state.update_feed(feed.url, next_poll_at=at)
        log.warning("feed %s: %s (error %d in a row; next try in %.0f s)", feed.name, reason, errors, at - time.time())

    # -- the loop --------------------------------------------------------------------------

    def _count_states(self, feeds: list[Feed], disabled: int) -> None:
        failing = sum(1 for f in feeds if self.state.feed(f.url).get("error_count", 0) > 0)
        self.metrics.feeds.labels("ok").set(len(feeds) - failing)
        self.metrics.feeds.labels("failing").set(failing)
        self.metrics.feeds.labels("disabled").set(disabled)

    async def run(self, feeds: list[Feed], *, once: bool, ingest: Sequence[str] = (), disabled: int = 0) -> None:
        if ingest:
            await asyncio.to_thread(self.ingest, ingest)
        async with make_client(connect_timeout_s=self.settings.connect_timeout_s,
                               read_timeout_s=self.settings.fetch_timeout_s) as client:
            while not self.stop.is_set():
                now = time.time()
                due = [f for f in feeds if once or (self.state.feed(f.url).get("next_poll_at") or 0) <= now]
                if due:
                    await asyncio.gather(*(self.poll_feed(client, f) for f in due))
                    self._count_states(feeds, disabled)
                if once:
                    break
                next_at = min((self.state.feed(f.url).get("next_poll_at") or now for f in feeds), default=now + 60)
                try:
                    await asyncio.wait_for(self.stop.wait(), timeout=max(0.2, next_at - time.time()))
                except asyncio.TimeoutError:
                    pass
        await asyncio.to_thread(self.producer.flush)

    def close(self) -> None:
        self.producer.close(timeout=10)
        self.state.close()


def main(
    settings: Settings, *, once: bool = False, ingest: Sequence[str] = (), poll_feeds: bool = True
) -> None:
    ensure_topics(settings, [settings.raw_topic])
    listed = load_feeds(settings.feeds_file) if poll_feeds else []
    feeds = [f for f in listed if f.enabled]
    if poll_feeds:
        log.info("polling %d feeds from %s", len(feeds), settings.feeds_file)
    asyncio.run(_serve(settings, feeds, once=once, ingest=ingest, disabled=len(listed) - len(feeds)))


async def _serve(settings: Settings, feeds: list[Feed], *, once: bool, ingest: Sequence[str], disabled: int) -> None:
    poller = Poller(settings)
    serve_metrics(settings, poller.metrics.registry, "poller")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stopper(poller, sig))
    try:
        await poller.run(feeds, once=once, ingest=ingest, disabled=disabled)
    finally:
        poller.close()


def _stopper(poller: Poller, sig: signal.Signals):
    def stop() -> None:
        log.info("poller stopping (%s)", sig.name)
        poller.stop.set()

    return stop
