"""`newsflow backfill`: archived files to news.raw, with progress, a rate limit and a count.

The files are read by the poller's own ingest (plain text, HTML, JSON lines, saved RSS/Atom);
an article's id comes from its content (or its JSON line's id or URL), so a second backfill
of the same files publishes the same ids, and the sink's upsert stores each article once.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.poller.ingest import IngestError, ingest_paths, iter_files
from services.replay.progress import Progress
from shared.config import Settings
from shared.kafka import ensure_topics, make_producer
from shared.pipeline.publish import CheckedPublisher
from shared.schema import encode

log = logging.getLogger(__name__)
ACK_EVERY = 1000  # messages between two waits for the broker's acknowledgements


class RateLimiter:
    """At most `rate` acquisitions per second on average (a token bucket holding one second's worth)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate <= 0:
            raise ValueError("the rate must be positive")
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self.tokens = 1.0  # no burst at the start: the first second is as paced as the rest
        self.at = clock()

    def acquire(self) -> None:
        now = self.clock()
        self.tokens = min(max(1.0, self.rate), self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1.0:
            wait = (1.0 - self.tokens) / self.rate
            self.sleep(wait)
            self.at = self.clock()
            self.tokens = 0.0
        else:
            self.tokens -= 1.0


@dataclass
class BackfillResult:
    files: int = 0
    articles: int = 0
    seconds: float = 0.0
    errors: list[IngestError] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.articles / self.seconds if self.seconds > 0 else 0.0


def backfill(settings: Settings, paths: Sequence[Path], rate: float | None = None) -> BackfillResult:
    files = list(iter_files(paths))  # listed first, so the bar knows its total
    result = BackfillResult(files=len(files))
    ensure_topics(settings, [settings.raw_topic])
    publisher = CheckedPublisher(make_producer(settings))
    limiter = RateLimiter(rate) if rate else None
    progress = Progress("backfill", len(files), "files", rate_unit="articles")
    unconfirmed = 0
    fetched_at = time.time()
    try:
        for path in files:
            published = 0
            for item in ingest_paths([path], fetched_at, settings.max_article_bytes):
                if isinstance(item, IngestError):
                    result.errors.append(item)
                    log.warning("backfill: %s", item)
                    continue
                if limiter:
                    limiter.acquire()
                publisher.send(settings.raw_topic, item.key, encode(item))
                published += 1
                unconfirmed += 1
                if unconfirmed >= ACK_EVERY:  # a refusal is an infrastructure fault: DeliveryFailed
                    unconfirmed -= publisher.confirm()
            result.articles += published
            progress.advance(1, counted=published)
        publisher.confirm()
    finally:
        publisher.close()
    result.seconds = progress.finish()
    return result
