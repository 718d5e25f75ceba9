"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1), which feedparser 6 does not read.

Each item becomes an entry shaped like feedparser's (id, title, link, dates as UTC struct_time,
content, summary, authors, enclosures), so the poller gives it the same identity, dates and
limits as an RSS or Atom entry (services/poller/parse.py).
"""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from urllib.parse import urljoin

import orjson

VERSION_PREFIX = "https://jsonfeed.org/version/1"
# The specification's URL for 1 and 1.1; a bare "1.0" or "1.1" as some generators write it
# (gofeed reads those too).
VERSION = re.compile(r"^(?:https?://jsonfeed\.org/version/)?1(?:\.\d+)?/?$")


class JsonFeedError(ValueError):
    pass


def looks_like_json(body: bytes) -> bool:
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def feed_entries(body: bytes, base: str | None) -> list[dict]:
    """The items of a JSON Feed as feedparser-like entries; raises JsonFeedError when the body is
    not JSON or not a JSON Feed. Relative item URLs resolve against the feed's own address."""
    try:
        document = orjson.loads(body.lstrip(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as exc:
        raise JsonFeedError(f"not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise JsonFeedError("JSON, but not a JSON Feed: the top level is not an object")
    version = document.get("version")
    if not (isinstance(version, str) and VERSION.match(version.strip())):
        raise JsonFeedError(f"JSON, but not a JSON Feed: no \"version\" {VERSION_PREFIX}[.x]")
    items = document.get("items")
    if not isinstance(items, list):
        raise JsonFeedError("a JSON Feed without an \"items\" list")
    base = _text(document.get("feed_url")) or base
    feed_authors = _authors(document)
    return [_entry(item, base, feed_authors) for item in items if isinstance(item, dict)]


def _entry(item: dict, base: str | None, feed_authors: list[dict]) -> dict:
    link = _text(item.get("url")) or _text(item.get("external_url"))
    content = []
    if _text(item.get("content_html")):
        content.append({"value": item["content_html"], "type": "text/html"})
    if _text(item.get("content_text")):
        content.append({"value": item["content_text"], "type": "text/plain"})
    attachments = item.get("attachments") if isinstance(item.get("attachments"), list) else []
    return {
        "id": _text(item.get("id")) if not isinstance(item.get("id"), (int, float)) else str(item["id"]),
        "title": _text(item.get("title")),
        "link": _resolve(link, base),
        "published_parsed": _utc(item.get("date_published")),
        "updated_parsed": _utc(item.get("date_modified")),
        "content": content,
        "summary": _text(item.get("summary")),
        "summary_detail": {"type": "text/plain"},
        "authors": _authors(item) or feed_authors,
        "enclosures": [{"href": a["url"]} for a in attachments if isinstance(a, dict) and _text(a.get("url"))],
    }


def _authors(holder: dict) -> list[dict]:
    """1.1's `authors` list, else 1.0's single `author`."""
    found = holder.get("authors")
    if not isinstance(found, list):
        found = [holder.get("author")]
    return [{"name": a["name"]} for a in found if isinstance(a, dict) and _text(a.get("name"))]


def _utc(value) -> time.struct_time | None:
    """An RFC 3339 date as a UTC struct_time (feedparser's form); None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).timetuple()


def _resolve(link: str | None, base: str | None) -> str | None:
    if not link or not base:
        return link
    try:
        return urljoin(base, link)
    except ValueError:
        return link


def _text(value) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
