"""Full text for entries that carry only a summary: fetch the linked page, extract the article."""
from __future__ import annotations

import asyncio
import dataclasses

import trafilatura

from services.poller.fetch import FeedClient, FetchError, fetch
from shared.schema import Article


def needs_full_text(article: Article, min_chars: int) -> bool:
    return len(article.content) < min_chars and article.url.startswith(("http://", "https://"))


def extract_main_text(page: bytes, url: str) -> str | None:
    # Bytes, not text: trafilatura finds the page's charset (meta tag or detection).
    return trafilatura.extract(page, output_format="html", include_comments=False, url=url)


async def with_full_text(
    client: FeedClient, article: Article, *, total_timeout_s: float, max_bytes: int,
) -> Article:
    """The article with the page's main text as HTML content; raises FetchError when it cannot."""
    page = await fetch(client, article.url, total_timeout_s=total_timeout_s, max_bytes=max_bytes)
    # Extraction is CPU work of tens of milliseconds: off the event loop, so fetches go on.
    extracted = await asyncio.to_thread(extract_main_text, page.body, article.url)
    if not extracted or len(extracted) <= len(article.content):
        raise FetchError(f"{article.url}: no article text found in the page", "extract_failed")
    return dataclasses.replace(article, content=extracted, content_type="text/html")
