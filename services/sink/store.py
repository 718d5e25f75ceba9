"""Where articles are stored: SQLite (the embedded default) or PostgreSQL, behind one interface.

Both speak the same SQL except for placeholders, how migrations are locked and full-text
search (SQLite FTS5, PostgreSQL tsvector); the upsert is `INSERT … ON CONFLICT (id) DO UPDATE`,
so a replayed article updates its row and its tags, never adds a row.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from services.sink.regroup import RegroupPlan
from services.sink.results import StoredArticle, StorySummary, UpsertResult
from shared.schema import Article

__all__ = ["Store", "StoredArticle", "StorySummary", "UpsertResult", "open_store"]


class Store(Protocol):
    def upsert(self, articles: Sequence[Article]) -> UpsertResult: ...
    def list_articles(
        self,
        *,
        tag: str | None = None,
        query: str | None = None,
        since: float | None = None,
        until: float | None = None,
        source: str | None = None,
        story: str | None = None,
        limit: int | None = None,
    ) -> list[StoredArticle]: ...
    def list_stories(
        self, *, since: float | None = None, tag: str | None = None, min_size: int = 1, limit: int | None = None,
    ) -> list[StorySummary]: ...
    def regroup_stories(self, *, write: bool) -> "RegroupPlan": ...
    def get_article(self, article_id: str) -> StoredArticle | None: ...
    def count(self) -> int: ...
    def tag_counts(self) -> dict[str, int]: ...
    def iter_articles(self, *, stored_since: float | None = None, batch_size: int = 500) -> Iterator[StoredArticle]: ...
    def stored_versions(self, ids: Sequence[str]) -> dict[str, tuple[str | None, float]]: ...
    def close(self) -> None: ...


def open_store(url: str) -> Store:
    if url.startswith("sqlite:///"):
        from services.sink.sql_store import open_sqlite

        return open_sqlite(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        from services.sink.sql_store import open_postgres

        return open_postgres(url)
    from shared.config import redact_url

    raise ValueError(f"unsupported database URL {redact_url(url)!r}: use sqlite:///path.db or postgresql://user@host/db")
