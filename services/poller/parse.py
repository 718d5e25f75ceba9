"""Feed bytes -> raw Articles, with feedparser (which never fetches here: it gets bytes), and
JSON Feed with services/poller/jsonfeed.py."""
from __future__ import annotations

import calendar
import io
import re
import resource
import signal
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser

from services.poller import jsonfeed, safexml
from services.poller.feeds import Feed
from services.poller.linktext import is_web_address, link_texts
from shared.procs import die_with_parent
from shared.schema import Article, content_id, hash_text

# C0 and C1 control characters but tab, line feed and carriage return (feedparser's own
# expectations keep those in titles; the cleaner folds them).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

safexml.install()  # no entity expansion, bounded nesting (safexml.py says what it measured)


class FeedParseError(Exception):
    pass


@dataclass
class ParsedFeed:
    entries: list[Article]
    bozo: str | None  # why feedparser found the feed malformed, when it did
    ttl_s: float | None = None  # RSS <ttl>, a lower bound of the polling interval
    skipped: dict[str, int] = field(default_factory=dict)  # entries not made articles, by reason

    @property
    def bozo_kind(self) -> str | None:
        return self.bozo.split("(", 1)[0] if self.bozo else None


def parser_process(memory_mb: int) -> None:
    """Initializer of a parser process: it dies with the poller, and cannot grow past memory_mb
    (0: no cap): a parse that needs more memory fails with MemoryError, or kills the process
    (the poller replaces it), instead of taking the machine's memory."""
    die_with_parent()
    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class _ParseTimeout(BaseException):
    """Raised by SIGALRM in a parser process. Not an Exception, so that parse_feed's catch-all
    for feedparser's own crashes does not take it for one."""


def parse_within(limit_s: float, *args) -> ParsedFeed:
    """parse_feed(*args) in a parser process, stopped after limit_s seconds of parsing: the limit
    counts from here, not from when the poller queued the feed or started the process."""
    def expired(_signum, _frame):
        raise _ParseTimeout()

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    try:
        return parse_feed(*args)
    except _ParseTimeout:
        raise FeedParseError(f"parsing took longer than {limit_s:g} s (NEWSFLOW_PARSE_TIMEOUT_S); stopped") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def canonical_url(url: str) -> str:
    """Scheme and host lower-cased, utm_* parameters and the fragment dropped (a URL that does not
    split, such as `http://[::1`, is kept as it is)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.lower().startswith("utm_")]
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, urlencode(query), ""))


def iso_utc(struct) -> str | None:
    if not struct:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(struct), tz=timezone.utc).isoformat()
    except (OverflowError, ValueError, TypeError):
        return None


def entry_id(feed_key: str, entry, link: str | None, title: str, published: str | None) -> str:
    """guid, else canonical link, else title and date.

    A guid that is a URI (`http://…`, `tag:…`, `urn:…`) names the article everywhere; any other
    guid ("42") and the title+date fallback only mean something inside their feed, so they are
    scoped by the feed's key: two feeds numbering their items 1, 2, 3 must not overwrite each
    other's articles in the sink, which upserts by id.
    """
    guid = (entry.get("id") or "").strip()
    if guid:
        if _is_uri(guid):
            return content_id("guid:" + guid)
        return content_id(f"guid:{feed_key}\n{guid}")
    if link:
        return content_id("link:" + canonical_url(link))
    return content_id(f"entry:{feed_key}\n{title}\n{published or ''}")


def _is_uri(guid: str) -> bool:
    return "://" in guid or guid.lower().startswith(("tag:", "urn:"))


def _content(entry) -> tuple[str, str]:
    candidates = [(c.get("value") or "", c.get("type") or "") for c in entry.get("content") or []]
    detail = entry.get("summary_detail") or {}
    candidates.append((entry.get("summary") or "", detail.get("type") or "text/html"))
    value, kind = max(candidates, key=lambda c: len(c[0]))
    return value, ("text/html" if "html" in kind else "text/plain")


def parse_feed(
    feed: Feed, body: bytes, fetched_at: float, headers: dict[str, str] | None = None, url: str | None = None,
) -> ParsedFeed:
    """`headers` are the HTTP response headers (lower-case names): feedparser weighs their charset
    against the XML's. `url` is where the body came from: relative links resolve against it."""
    if not body.strip():
        raise FeedParseError("empty body instead of a feed")
    headers = dict(headers or {})
    base = _base_url(url or feed.url, headers.get("content-location"))
    if base:
        headers["content-location"] = base
    if jsonfeed.looks_like_json(body):
        try:
            return _articles(feed, jsonfeed.feed_entries(body, base), fetched_at, None, None)
        except jsonfeed.JsonFeedError as exc:
            raise FeedParseError(str(exc)) from None
    # A BytesIO, never bare bytes: feedparser opens a bytes argument as a file name first.
    try:
        parsed = feedparser.parse(io.BytesIO(body), sanitize_html=True, response_headers=headers)
    except safexml.FeedTooDeep as exc:
        raise FeedParseError(f"refused: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - feedparser's loose parser has crashes of its own (&#xD83D;)
        raise FeedParseError(f"feedparser failed: {type(exc).__name__}: {exc}") from None
    bozo = repr(parsed.get("bozo_exception")) if parsed.get("bozo") else None
    if not parsed.entries and not parsed.get("version"):
        head = body[:1000].lower()
        if any(tag in head for tag in (b"<html", b"<!doctype html", b"<head", b"<body")):
            raise FeedParseError("an HTML page, not a feed")
        raise FeedParseError(f"not a feed{': ' + bozo if bozo else ''}")
    _prefer_web_links(parsed.entries, body)
    return _articles(feed, parsed.entries, fetched_at, bozo, _ttl_s(parsed.feed.get("ttl")))


def _prefer_web_links(entries, body: bytes) -> None:
    """Where an entry's link is no web address but its `<link>` text is one, take the text."""
    if all(is_web_address(e.get("link")) or not e.get("link") for e in entries):
        return
    texts = link_texts(body)
    if texts is None or len(texts) != len(entries):
        return
    for entry, text in zip(entries, texts):
        if text and not is_web_address(entry.get("link")):
            entry["link"] = text


def _articles(feed: Feed, entries, fetched_at: float, bozo: str | None, ttl_s: float | None) -> ParsedFeed:
    articles, skipped = [], Counter()
    for entry in entries:
        made = article_from_entry(feed, entry, fetched_at)
        if isinstance(made, str):
            skipped[made] += 1
        else:
            articles.append(made)
    return ParsedFeed(articles, bozo, ttl_s, dict(skipped))


def article_from_entry(feed: Feed, entry, fetched_at: float) -> Article | str:
    """One feedparser entry as a raw Article, or why it is skipped: "enclosure_only" (a file and
    nothing to read), "empty" (no title, text or link). An entry with a link and nothing else
    is an article without content, for the poller to fill from the page or skip (link_only)."""
    title = plain_title(entry.get("title"))
    link = (entry.get("link") or "").strip() or None
    published = iso_utc(_first(entry, "published_parsed", "updated_parsed"))
    content, content_type = _content(entry)
    if not (title or content or link):
        return "enclosure_only" if entry.get("enclosures") else "empty"
    return Article(
        id=entry_id(feed.url, entry, link, title, published),
        url=link or feed.url,
        source=feed.name,
        title=title or None,
        content=content or title,
        content_type=content_type,
        published_at=published,
        authors=[a.get("name") for a in entry.get("authors") or [] if a.get("name")],
        fetched_at=fetched_at,
        content_hash=hash_text(f"{title}\n{link or ''}\n{content}"),
    )


def plain_title(title: str | None) -> str:
    """The title without control characters (a bell, an escape, a vertical tab)."""
    return CONTROL.sub("", title or "").strip()


def _first(entry, *keys):
    # Plain dict look-ups: feedparser's own get("updated_parsed") falls back to published (and warns).
    return next((dict.get(entry, key) for key in keys if dict.get(entry, key)), None)


def _base_url(url: str, content_location: str | None) -> str | None:
    """The base for relative links: the server's Content-Location if it is a web address, else the URL."""
    candidates = [(url, content_location)] if content_location else []
    for base, relative in candidates + [(url, "")]:
        try:
            candidate = urljoin(base, relative)
            if urlsplit(candidate).scheme in ("http", "https"):
                return candidate
        except ValueError:  # "http://[bad": not a base for anything
            continue
    return None


def _ttl_s(ttl) -> float | None:
    try:
        return float(ttl) * 60 if ttl else None  # RSS <ttl> is in minutes
    except (TypeError, ValueError):
        return None
