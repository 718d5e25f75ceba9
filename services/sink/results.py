"""What the store reports and returns, used by both store modules and by its readers."""
from __future__ import annotations

import time
from dataclasses import dataclass

from shared.schema import Article, Tag


@dataclass(frozen=True)
class UpsertResult:
    inserted: int
    updated: int
    # Of the inserted articles (services/sink/dedup.py): exact and near duplicates of a stored
    # article, and the others: the first of a new story, or joining a story already stored.
    exact_duplicates: int = 0
    near_duplicates: int = 0
    stories_new: int = 0
    stories_joined: int = 0
    stories_formed: int = 0  # stories that now hold two or more articles and did not before
    story_seconds: float = 0.0  # spent on stories: candidates, similarities, grouping, their rows


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article as the store holds it: what `articles --json`, `explain`, `retag` and
    evaluation read (the raw content is not stored; the clean text is)."""

    id: str
    url: str
    source: str
    title: str | None
    text: str | None
    published_at: str | None
    fetched_at: float | None
    stored_at: float
    language: str | None
    dateline: str | None
    authors: tuple[str, ...]
    duplicate_of: str | None
    story_id: str | None
    taxonomy_version: str | None
    content_hash: str | None
    tags: tuple[str, ...] = ()
    tag_details: tuple[dict, ...] = ()  # {name, score, evidence} per tag, as the tagger wrote them

    def to_json(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def as_article(self) -> Article:
        """The clean article the tagger once received, rebuilt (the clean text stands in for the
        raw content); the sink's own decisions travel along, so an upsert keeps them."""
        return Article(
            id=self.id, url=self.url, source=self.source, content=self.text or self.title or self.url,
            title=self.title, published_at=self.published_at, authors=list(self.authors),
            fetched_at=self.fetched_at or time.time(), content_hash=self.content_hash or "",
            text=self.text, dateline=self.dateline, language=self.language,
            tags=[Tag(d["name"], d["score"], d["evidence"]) for d in self.tag_details],
            taxonomy_version=self.taxonomy_version, duplicate_of=self.duplicate_of, story_id=self.story_id,
        )


@dataclass(frozen=True, slots=True)
class StoryMember:
    id: str
    title: str | None
    source: str
    published_at: str | None
    duplicate_of: str | None


@dataclass(frozen=True, slots=True)
class StorySummary:
    """One story as `newsflow stories` shows it: its articles earliest first, the sources
    (outlets) that reported it, most reports first, and the time span they cover."""

    story_id: str
    size: int
    first_at: float  # publication time, else storing time, epoch seconds
    last_at: float
    outlets: tuple[str, ...]
    articles: tuple[StoryMember, ...]

    def to_json(self) -> dict:
        return {
            "story_id": self.story_id, "size": self.size, "first_at": self.first_at, "last_at": self.last_at,
            "outlets": list(self.outlets),
            "articles": [{name: getattr(m, name) for name in m.__dataclass_fields__} for m in self.articles],
        }
