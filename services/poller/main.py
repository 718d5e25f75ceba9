"""Poller: feeds and archived files -> raw articles on news.raw (kafka-python, acks=all).

Many feeds at once (a global cap, a cap and a minimum gap per host), conditional GET, a body
hash to skip unchanged feeds, backoff on errors. A broken feed is that feed's error: it is
counted, backed off and polled again later, and the other feeds go on.

An entry is remembered as published only after the broker acknowledged it. When the broker
cannot take a message the poller stops with exit code 75 (EX_TEMPFAIL, PublishFailed) instead of retrying
in-process: kafka-python clients do not recover from a broker that lost its state (DESIGN.md),
and a fresh process rebuilds them. Nothing unacknowledged was marked, so the restarted poller
publishes those entries again; `newsflow run` restarts it with backoff.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import orjson
from kafka.errors import KafkaError
from prometheus_client import CollectorRegistry

from services.poller.decide import (
    AfterFetch, Entries, after_fetch, classify, link_only, mark_no_text, mark_too_large,
)
from services.poller.feeds import Feed, FeedsFileError, load_feeds
from services.poller.fetch import FeedClient, FetchError, Fetched, fetch, make_client
from services.poller.fulltext import FullTexts
from services.poller.guard import parse_allowed
from services.poller.hosts import Hosts
from services.poller.ingest import IngestError, ingest_paths
from services.poller.metrics import PollerMetrics
from services.poller.parse import FeedParseError, ParsedFeed
from services.poller.parsers import Parsers
from services.poller.publisher import PublishFailed, RawPublisher
from services.poller.schedule import max_age_s, next_delay
from services.poller.state import PollerState
from shared.brokerwatch import BrokerWatch, wait_for_broker
from shared.config import Settings
from shared.exits import EX_TEMPFAIL
from shared.metrics import serve_metrics
from shared.schema import Article

log = logging.getLogger(__name__)
PUBLISH_CHUNK = 500
STOP_GRACE_S = 5.0  # SIGTERM: polls with their body in hand get this long to finish (exit within 10 s)


__all__ = ["Poller", "PublishFailed", "main"]


class Poller:
    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None,
                 metrics: PollerMetrics | None = None):
        self.settings = settings
        self.metrics = metrics or PollerMetrics(registry or CollectorRegistry())
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.state = PollerState(settings.data_dir / "poller.db")
        self.publisher = RawPublisher(settings, self.metrics)
        self.allow = parse_allowed(settings.allow_private_hosts)
        self.stop = asyncio.Event()
        self.hosts = Hosts(settings.fetch_concurrency, settings.host_concurrency, settings.host_min_gap_s)
        self.full_texts = FullTexts(settings, self.hosts, self.metrics)
        self.parsers = Parsers(settings)
        self.next_at: dict[str, float] = {}  # feed key -> epoch seconds of its next poll
        self.failing: set[str] = set()  # feed keys whose last poll failed
        self.holding: set[str] = set()  # feeds whose body is in hand: a stop lets their poll finish

    @property
    def producer(self):
        return self.publisher.producer

    @property
    def parse_pool(self):
        return self.parsers.pool

    def ingest(self, paths: Sequence[str | Path]) -> int:
        """Publish every article in files and folders; explicit ingest always publishes."""
        published = 0
        chunk: list[Article] = []
        for item in ingest_paths([Path(p) for p in paths], time.time(), self.settings.max_article_bytes):
            if isinstance(item, IngestError):
                self.metrics.ingest_errors.inc()
                log.warning("ingest: %s", item)
                continue
            chunk.append(item)
            if len(chunk) >= PUBLISH_CHUNK:
                self.publisher.publish_blocking(chunk)
                published += len(chunk)
                chunk = []
        if chunk:
            self.publisher.publish_blocking(chunk)
            published += len(chunk)
        log.info("ingested %d articles", published)
        return published

    # -- fetching --------------------------------------------------------------------------

    def client(self) -> FeedClient:
        return make_client(
            allow_hosts=self.allow, connect_timeout_s=self.settings.connect_timeout_s,
            read_timeout_s=self.settings.fetch_timeout_s, max_connections=self.settings.fetch_concurrency,
        )

    async def _fetch(self, client: FeedClient, url: str, **kwargs) -> Fetched:
        async with self.hosts.gate(url):
            started = time.perf_counter()
            try:
                return await fetch(
                    client, url, total_timeout_s=self.settings.fetch_timeout_s,
                    max_bytes=self.settings.max_body_bytes, **kwargs,
                )
            finally:
                self.metrics.fetch_seconds.observe(time.perf_counter() - started)

    def _schedule(self, feed: Feed, errors: int, **hints) -> float:
        delay = next_delay(
            interval_s=feed.interval_s or self.settings.poll_interval_s, error_count=errors,
            max_backoff_s=self.settings.max_backoff_s, **hints,
        )
        return time.time() + delay

    async def poll_feed(self, client: FeedClient, feed: Feed) -> int:
        """Fetch, parse and publish one feed; returns how many articles it published.

        Whatever goes wrong with the feed is recorded as its error; only PublishFailed (the
        broker's fault) propagates.
        """
        try:
            return await self._poll(client, feed)
        except (PublishFailed, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - an unforeseen input must not stop the other feeds
            log.exception("feed %s: unexpected error", feed.name)
            self._failed(feed, "error", f"internal error: {type(exc).__name__}: {exc}")
            return 0
        finally:
            self.holding.discard(feed.url)

    async def _poll(self, client: FeedClient, feed: Feed) -> int:
        key = feed.url
        row = self.state.feed(key)
        url = row.get("current_url") or feed.url
        updates: dict = {"name": feed.name}
        try:
            fetched = await self._fetch(
                client, url, headers=feed.headers, etag=row.get("etag"), last_modified=row.get("last_modified")
            )
        except FetchError as exc:
            self._failed(feed, exc.outcome, str(exc), retry_after_s=exc.retry_after_s, **updates)
            return 0
        self.holding.add(key)  # from here on a SIGTERM lets this poll finish (see _finish_held)
        if fetched.moved_to and fetched.moved_to != url:
            log.info("feed %s moved permanently to %s", feed.name, fetched.moved_to)
            updates["current_url"] = fetched.moved_to
        hints = {"cache_max_age_s": max_age_s(fetched.headers.get("cache-control"))}
        if not fetched.not_modified:
            self.metrics.fetched_bytes.inc(len(fetched.body))
            # Validators change only on a 200, and only once that body was handled (below).
            updates.update(etag=fetched.etag, last_modified=fetched.last_modified)
        body_hash = None if fetched.not_modified else hashlib.sha256(fetched.body).hexdigest()
        decision = after_fetch(fetched.not_modified, body_hash, row.get("body_hash"))
        if decision is not AfterFetch.PARSE:
            if decision is AfterFetch.SAME_BODY:
                self.metrics.parses_skipped.inc()
            self._succeeded(feed, "304" if decision is AfterFetch.NOT_MODIFIED else "200",
                            self._schedule(feed, 0, **hints), **updates)
            return 0
        try:
            parsed = await self.parsers.parse(feed, fetched)
        except FeedParseError as exc:
            self._failed(feed, "parse_error", str(exc), **updates)
            return 0
        if parsed.bozo_kind:
            self.metrics.bozo.labels(parsed.bozo_kind).inc()
            log.info("feed %s is malformed (%s); %d entries recovered", feed.name, parsed.bozo, len(parsed.entries))
        published, seen = await self._publish_entries(client, feed, parsed)
        hints["ttl_s"] = parsed.ttl_s
        # Marked only now, after the acknowledgements: a failed publish leaves them unmarked.
        self._succeeded(feed, "200", self._schedule(feed, 0, **hints), seen=seen, body_hash=body_hash,
                        last_bozo=parsed.bozo, **updates)
        return published

    async def _publish_entries(self, client: FeedClient, feed: Feed, parsed: ParsedFeed) -> tuple[int, tuple]:
        """Publish new and changed entries (services/poller/decide.py); returns how many, and
        what to mark as seen."""
        full_text_on = bool(feed.fulltext and self.settings.fulltext_min_chars)
        skipped = Counter(parsed.skipped)
        articles, skipped["link_only"] = link_only(parsed.entries, full_text_on)
        entries: Entries = classify(articles, self.state.known(feed.url))
        if entries.fresh and full_text_on:
            entries.fresh = await self.full_texts.fill(client, entries.fresh)
        skipped["link_only_no_text"] = mark_no_text(entries)
        self._count_skipped(feed, +skipped)
        for article in mark_too_large(entries, self.settings.max_article_bytes):
            log.warning("feed %s: entry %s is over NEWSFLOW_MAX_ARTICLE_BYTES (%d); not published",
                        feed.name, article.url, self.settings.max_article_bytes)
        sendable = entries.publishable
        if sendable:
            await self.publisher.publish(sendable)
        for article in entries.fresh:
            self.metrics.entries.labels(entries.status[article.id]).inc()
        self.metrics.entries.labels("unchanged").inc(len(entries.unchanged))
        log.info("feed %s: %d entries, %d published", feed.name, len(parsed.entries), len(sendable))
        return len(sendable), entries.seen

    def _count_skipped(self, feed: Feed, skipped: Counter) -> None:
        """Entries not published for want of anything to read, by reason: counted, and kept as the
        feed's last poll's figures for `newsflow feeds list`."""
        for reason, count in skipped.items():
            self.metrics.entries_skipped.labels(reason).inc(count)
        self.state.update_feed(feed.url, last_skipped=orjson.dumps(dict(sorted(skipped.items()))).decode())

    def _succeeded(self, feed: Feed, outcome: str, next_poll_at: float, **fields) -> None:
        self.metrics.fetches.labels(outcome).inc()
        now = time.time()
        self.metrics.last_success.labels(feed.name).set(now)
        self.metrics.feed_errors.labels(feed.name).set(0)
        self.state.record_success(feed.url, at=now, last_outcome=outcome, next_poll_at=next_poll_at,
                                  bound=self.settings.seen_ids_per_feed, **fields)
        self.next_at[feed.url] = next_poll_at
        self.failing.discard(feed.url)

    def _failed(self, feed: Feed, outcome: str, reason: str, retry_after_s: float | None = None, **fields) -> None:
        self.metrics.fetches.labels(outcome).inc()
        errors = self.state.record_error(feed.url, reason, last_outcome=outcome, **fields)
        self.metrics.feed_errors.labels(feed.name).set(errors)
        at = self._schedule(feed, errors, retry_after_s=retry_after_s)
        self.state.update_feed(feed.url, next_poll_at=at)
        self.next_at[feed.url] = at
        self.failing.add(feed.url)
        log.warning("feed %s: %s (error %d in a row; next try in %.0f s)", feed.name, reason, errors, at - time.time())

    # -- the loop --------------------------------------------------------------------------

    def restore(self, feeds: list[Feed], disabled: int) -> None:
        """Schedule and feed metrics from the state database: right from the start after a restart."""
        for feed in feeds:
            row = self.state.health(feed.url) or {}
            self.next_at[feed.url] = row.get("next_poll_at") or 0.0
            if row.get("error_count"):
                self.failing.add(feed.url)
            self.metrics.feed_errors.labels(feed.name).set(row.get("error_count") or 0)
            if row.get("last_success"):
                self.metrics.last_success.labels(feed.name).set(row["last_success"])
        self._count_states(feeds, disabled)

    def _count_states(self, feeds: list[Feed], disabled: int) -> None:
        failing = sum(1 for f in feeds if f.url in self.failing)
        self.metrics.feeds.labels("ok").set(len(feeds) - failing)
        self.metrics.feeds.labels("failing").set(failing)
        self.metrics.feeds.labels("disabled").set(disabled)

    async def run(self, feeds: list[Feed], *, once: bool, ingest: Sequence[str] = (), disabled: int = 0) -> None:
        if ingest:
            await asyncio.to_thread(self.ingest, ingest)
        feeds = _unique(feeds)
        self.restore(feeds, disabled)
        await self.publisher.ready()
        async with self.client() as client:
            if once:
                await self.poll_all(client, feeds)
                self._count_states(feeds, disabled)
            else:
                await self._loop(client, feeds, disabled)

    async def poll_all(self, client: FeedClient, feeds: list[Feed]) -> int:
        """Poll every feed once, at the same time; the first PublishFailed cancels the rest."""
        tasks = [asyncio.create_task(self.poll_feed(client, f)) for f in feeds]
        try:
            return sum(await asyncio.gather(*tasks))
        finally:
            await _cancel(tasks)

    async def _loop(self, client: FeedClient, feeds: list[Feed], disabled: int) -> None:
        """Start each feed's poll when it is due; a slow feed never holds the others back."""
        running: dict[str, asyncio.Task] = {}
        stopped = asyncio.create_task(self.stop.wait())
        try:
            while not self.stop.is_set():
                now = time.time()
                for feed in feeds:
                    if feed.url not in running and self.next_at.get(feed.url, 0.0) <= now:
                        running[feed.url] = asyncio.create_task(self.poll_feed(client, feed))
                waiting = [self.next_at.get(f.url, 0.0) for f in feeds if f.url not in running]
                timeout = max(0.05, min(waiting, default=now + 60) - now)
                await asyncio.wait([stopped, *running.values()], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                finished = [url for url, task in running.items() if task.done()]
                for url in finished:
                    running.pop(url).result()  # raises PublishFailed: the poller stops
                if finished:
                    self._count_states(feeds, disabled)
        finally:
            if self.stop.is_set():
                await self._finish_held(running)
            await _cancel([stopped, *running.values()])

    async def _finish_held(self, running: dict[str, asyncio.Task]) -> None:
        """On SIGTERM: polls that have their feed's body finish (parse, publish, mark), for
        STOP_GRACE_S at most; polls still fetching are dropped (polled again after a restart)."""
        held = [task for url, task in running.items() if url in self.holding and not task.done()]
        if not held:
            return
        log.info("finishing the %d poll(s) whose feed was fetched (%.0f s at most)", len(held), STOP_GRACE_S)
        await asyncio.wait(held, timeout=STOP_GRACE_S)

    def close(self) -> None:
        self.parsers.close()
        self.publisher.close()
        self.state.close()


async def _cancel(tasks) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _unique(feeds: list[Feed]) -> list[Feed]:
    seen: dict[str, Feed] = {}
    for feed in feeds:
        if feed.url in seen:
            log.warning("feed %s is listed twice (as %s and %s); polling it once", feed.url, seen[feed.url].name, feed.name)
            continue
        seen[feed.url] = feed
    return list(seen.values())


def main(
    settings: Settings, *, once: bool = False, ingest: Sequence[str] = (), poll_feeds: bool = True
) -> None:
    try:
        listed = load_feeds(settings.feeds_file) if poll_feeds else []
    except FeedsFileError as exc:
        log.error("%s", exc)
        sys.exit(2)
    feeds = [f for f in listed if f.enabled]
    metrics = PollerMetrics(CollectorRegistry())
    serve_metrics(settings, metrics.registry, "poller")
    wait_for_broker(settings, [settings.raw_topic], metrics)
    if poll_feeds:
        log.info("polling %d feeds from %s (%d disabled)", len(feeds), settings.feeds_file, len(listed) - len(feeds))
    try:
        asyncio.run(_serve(settings, metrics, feeds, once=once, ingest=ingest, disabled=len(listed) - len(feeds)))
    except (PublishFailed, KafkaError) as exc:
        log.error("%s; exiting so that a fresh poller (restarted by `newsflow run`) publishes what was "
                  "not acknowledged", exc)
        sys.exit(EX_TEMPFAIL)


async def _serve(settings: Settings, metrics: PollerMetrics, feeds: list[Feed], *, once: bool,
                 ingest: Sequence[str], disabled: int) -> None:
    poller = Poller(settings, metrics=metrics)
    poller.publisher.watch = BrokerWatch(settings, metrics, [settings.raw_topic]).start()
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
