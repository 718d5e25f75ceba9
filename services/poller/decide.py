"""The poller's per-feed decisions, pure: what a fetch means, which entries are new, updated
or unchanged, which are too large to publish. No network, broker or database here: the
poller (main.py) does what these say."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from shared.schema import Article, encode


class AfterFetch(Enum):
    NOT_MODIFIED = "304"  # the server said so: nothing to parse, a success
    SAME_BODY = "same_body"  # a server that ignores validators sent what we had: skip the parse
    PARSE = "parse"


def after_fetch(not_modified: bool, body_hash: str | None, previous_hash: str | None) -> AfterFetch:
    if not_modified:
        return AfterFetch.NOT_MODIFIED
    if body_hash is not None and body_hash == previous_hash:
        return AfterFetch.SAME_BODY
    return AfterFetch.PARSE


UNPUBLISHED = ("too_large", "no_text")


@dataclass
class Entries:
    """A parsed feed's entries against what was published before (known: id -> content hash)."""

    fresh: list[Article] = field(default_factory=list)  # new or updated, in feed order
    status: dict[str, str] = field(default_factory=dict)  # id -> "new" | "updated" | "too_large" | "no_text"
    unchanged: list[str] = field(default_factory=list)

    @property
    def publishable(self) -> list[Article]:
        return [a for a in self.fresh if self.status[a.id] not in UNPUBLISHED]

    @property
    def seen(self) -> tuple[list[tuple[str, str]], list[str]]:
        """What to mark once published: every fresh entry (a too-large one, or one left without
        text, is counted once, and again only when it changes) and the unchanged ids."""
        return [(a.id, a.content_hash) for a in self.fresh], self.unchanged


def classify(entries: Iterable[Article], known: dict[str, str]) -> Entries:
    """New, updated (same id, new content hash) or unchanged; an id listed twice counts once
    (its last listing)."""
    result = Entries()
    for article in {a.id: a for a in entries}.values():
        previous = known.get(article.id)
        if previous == article.content_hash:
            result.unchanged.append(article.id)
            continue
        result.status[article.id] = "updated" if previous is not None else "new"
        result.fresh.append(article)
    return result


def too_large(article: Article, max_bytes: int) -> bool:
    """A message the broker may refuse: kafka-python raises at send() past its max_request_size,
    Kafka refuses past message.max.bytes, and either made the poller exit and fail again on the
    same entry after every restart."""
    return len(encode(article)) > max_bytes


def mark_too_large(entries: Entries, max_bytes: int) -> list[Article]:
    """Mark the fresh entries over `max_bytes`; returns them."""
    over = [a for a in entries.fresh if too_large(a, max_bytes)]
    for article in over:
        entries.status[article.id] = "too_large"
    return over


def link_only(articles: list[Article], full_text_on: bool) -> tuple[list[Article], int]:
    """Entries with a link and nothing else (parse.article_from_entry) stay only when the full
    text of their page will be fetched; returns the articles kept and how many were dropped."""
    if full_text_on:
        return articles, 0
    kept = [a for a in articles if a.content]
    return kept, len(articles) - len(kept)


def mark_no_text(entries: Entries) -> int:
    """Mark the fresh entries still without text (their page gave none); returns how many."""
    empty = [a for a in entries.fresh if not a.content]
    for article in empty:
        entries.status[article.id] = "no_text"
    return len(empty)
