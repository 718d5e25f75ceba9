"""Archived files -> raw Articles: plain text, HTML pages, JSON lines, saved feeds.

A file or line that cannot be read is yielded as an IngestError (a value, not an
exception), so one bad file never stops an ingest of thousands.
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from services.poller.feeds import Feed
from services.poller.parse import FeedParseError, canonical_url, parse_feed
from shared.headline import split_title
from shared.schema import Article, content_id, encode, hash_text

TEXT_SUFFIXES = {".txt", ".text", ".md", ""}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
FEED_SUFFIXES = {".xml", ".rss", ".atom"}
HTML_TITLE = re.compile(r"<title[^>]*>(?P<title>.*?)</title>", re.IGNORECASE | re.DOTALL)
# The content runs to its own closing quote: "Lupita Nyong'o" keeps its apostrophe.
OG_TITLE = re.compile(r"<meta[^>]+property=[\"']og:title[\"'][^>]+content=(?P<q>[\"'])(?P<title>.+?)(?P=q)", re.IGNORECASE)


@dataclass
class IngestError:
    path: Path
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.reason}"


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if child.is_file() and not any(part.startswith(".") for part in rel.parts):
                    yield child
        elif path.is_file():
            yield path


def decode_text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        return str(best) if best is not None else data.decode("latin-1")


def ingest_paths(
    paths: Iterable[Path], fetched_at: float, max_article_bytes: int | None = None,
) -> Iterator[Article | IngestError]:
    """Articles of every file; an article whose message would be over max_article_bytes is an
    IngestError (the broker would refuse it, and the whole ingest would stop there)."""
    for path in iter_files(paths):
        for item in _ingest_file(path, fetched_at):
            if max_article_bytes and isinstance(item, Article) and (size := len(encode(item))) > max_article_bytes:
                item = IngestError(path, None, f"article {item.url} of {size:,} bytes is over the cap of "
                                               f"{max_article_bytes:,} (NEWSFLOW_MAX_ARTICLE_BYTES)")
            yield item


def _ingest_file(path: Path, fetched_at: float) -> Iterator[Article | IngestError]:
    suffix = path.suffix.lower()
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield IngestError(path, None, f"cannot read: {exc.strerror or exc}")
        return
    if suffix in JSONL_SUFFIXES:
        yield from _jsonl(path, data, fetched_at)
    elif suffix in FEED_SUFFIXES:
        yield from _saved_feed(path, data, fetched_at)
    elif suffix in HTML_SUFFIXES or suffix in TEXT_SUFFIXES:
        text = decode_text(data)
        if not text.strip():
            yield IngestError(path, None, "empty file")
        elif suffix in HTML_SUFFIXES:
            yield _article(path, data, text, html_title(text), "text/html", fetched_at)
        else:
            title, body = split_title(text)
            yield _article(path, data, body, title, "text/plain", fetched_at)
    else:
        yield IngestError(path, None, f"unsupported file type {suffix!r}")


def _article(path: Path, data: bytes, content: str, title: str | None, kind: str, fetched_at: float) -> Article:
    return Article(
        id=content_id(data),
        url=path.resolve().as_uri(),
        source="file",
        title=title,
        content=content,
        content_type=kind,
        fetched_at=fetched_at,
        content_hash=hash_text(content),
    )


def html_title(markup: str) -> str | None:
    match = OG_TITLE.search(markup) or HTML_TITLE.search(markup)
    if match is None:
        return None
    return html.unescape(match.group("title")).strip() or None


def _jsonl(path: Path, data: bytes, fetched_at: float) -> Iterator[Article | IngestError]:
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield IngestError(path, number, f"not JSON: {exc}")
            continue
        if not isinstance(record, dict):
            yield IngestError(path, number, "not a JSON object")
            continue
        content = record.get("text") or record.get("content") or ""
        url = record.get("url") or ""
        if not isinstance(content, str) or not content.strip():
            yield IngestError(path, number, "no text or content")
            continue
        if record.get("id"):
            article_id = str(record["id"])
        elif url:
            article_id = content_id("link:" + canonical_url(url))
        else:
            article_id = content_id(content)
        yield Article(
            id=article_id,
            url=url or f"{path.resolve().as_uri()}#L{number}",
            source=str(record.get("source") or "file"),
            title=record.get("title") or None,
            content=content,
            content_type="text/html" if record.get("content_type") == "text/html" else "text/plain",
            published_at=record.get("published_at") or None,
            fetched_at=fetched_at,
            content_hash=hash_text(f"{record.get('title') or ''}\n{content}"),
        )


def _saved_feed(path: Path, data: bytes, fetched_at: float) -> Iterator[Article | IngestError]:
    try:
        yield from parse_feed(Feed(name=path.stem, url=path.resolve().as_uri()), data, fetched_at).entries
    except FeedParseError as exc:
        yield IngestError(path, None, str(exc))
