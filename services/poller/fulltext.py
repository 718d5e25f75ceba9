"""Full text for entries that carry only a summary, or only a link: fetch the linked page,
extract the article (and, for an entry without one, its title)."""
from __future__ import annotations

import asyncio
import dataclasses
import logging

import trafilatura

from services.poller.decide import too_large
from services.poller.fetch import FeedClient, FetchError, fetch
from services.poller.hosts import Hosts
from services.poller.ingest import html_title
from services.poller.metrics import PollerMetrics
from shared.config import Settings
from shared.schema import Article

log = logging.getLogger(__name__)


def needs_full_text(article: Article, min_chars: int) -> bool:
    return len(article.content) < min_chars and article.url.startswith(("http://", "https://"))


def extract_main_text(page: bytes, url: str) -> str | None:
    # Bytes, not text: trafilatura finds the page's charset (meta tag or detection).
    return trafilatura.extract(page, output_format="html", include_comments=False, url=url)


async def with_full_text(
    client: FeedClient, article: Article, *, total_timeout_s: float, max_bytes: int,
) -> Article:
    """The article with the page's main text as HTML content (and the page's title when the
    entry had none); raises FetchError when it cannot."""
    page = await fetch(client, article.url, total_timeout_s=total_timeout_s, max_bytes=max_bytes)
    # Extraction is CPU work of tens of milliseconds: off the event loop, so fetches go on.
    extracted = await asyncio.to_thread(extract_main_text, page.body, article.url)
    if not extracted or len(extracted) <= len(article.content):
        raise FetchError(f"{article.url}: no article text found in the page", "extract_failed")
    title = article.title or html_title(page.body[:200_000].decode("utf-8", errors="replace"))
    return dataclasses.replace(article, content=extracted, content_type="text/html", title=title)


class FullTexts:
    """The poller's full-text fetches: at most NEWSFLOW_FULLTEXT_MAX_PER_POLL a poll, through the
    per-host gate, each counted by outcome; a page that fails leaves the entry as it was."""

    def __init__(self, settings: Settings, hosts: Hosts, metrics: PollerMetrics):
        self.settings, self.hosts, self.metrics = settings, hosts, metrics

    async def fill(self, client: FeedClient, articles: list[Article]) -> list[Article]:
        short = [i for i, a in enumerate(articles) if needs_full_text(a, self.settings.fulltext_min_chars)]
        budget = self.settings.fulltext_max_per_poll
        if len(short) > budget:  # a first poll of a long feed: the newest pages, not an hour of fetches
            self.metrics.fulltext.labels("over_budget").inc(len(short) - budget)
        pages = await asyncio.gather(*(self._one(client, articles[i]) for i in short[:budget]))
        articles = list(articles)
        for i, article in zip(short, pages):
            articles[i] = article
        return articles

    async def _one(self, client: FeedClient, article: Article) -> Article:
        try:
            async with self.hosts.gate(article.url):
                full = await with_full_text(
                    client, article, total_timeout_s=self.settings.fetch_timeout_s,
                    max_bytes=self.settings.max_body_bytes,
                )
        except FetchError as exc:
            self.metrics.fulltext.labels(exc.outcome).inc()
            log.info("full text of %s: %s (keeping the summary)", article.url, exc)
            return article
        if too_large(full, self.settings.max_article_bytes):
            self.metrics.fulltext.labels("too_large").inc()
            log.info("full text of %s is over NEWSFLOW_MAX_ARTICLE_BYTES (keeping the summary)", article.url)
            return article
        self.metrics.fulltext.labels("ok").inc()
        return full
