"""The Store on SQLite (WAL) and on PostgreSQL (psycopg 3). SQL with parameters only."""
from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import orjson

from services.sink.dedup_index import DEDUP_LOCK, DedupIndex, signatures, with_decisions
from services.sink.migrations import MIGRATIONS
from services.sink.store import UpsertResult
from shared.schema import Article

COLUMNS = (
    "id", "url", "source", "title", "text", "published_at", "fetched_at", "stored_at", "language",
    "dateline", "authors", "duplicate_of", "story_id", "taxonomy_version", "content_hash",
)
UPDATES = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "id")


class SqlStore:
    """Dialect differences are the placeholder (`?` or `%s`) and the connection; all else is shared."""

    def __init__(self, conn, placeholder: str, begin: str):
        self.conn = conn
        self.ph = placeholder
        self.begin = begin  # starts a write transaction that serialises the duplicate/story decisions
        self.dedup = DedupIndex(placeholder, postgres=placeholder == "%s")
        marks = ", ".join([placeholder] * len(COLUMNS))
        self.upsert_article = (
            f"INSERT INTO articles ({', '.join(COLUMNS)}) VALUES ({marks}) ON CONFLICT (id) DO UPDATE SET {UPDATES}"
        )
        self.insert_tag = (
            f"INSERT INTO article_tags (article_id, tag, score, evidence) VALUES ({', '.join([placeholder] * 4)})"
        )

    def _sql(self, query: str) -> str:
        return query.replace("?", self.ph)

    def upsert(self, articles: Sequence[Article]) -> UpsertResult:
        """Store `articles` and decide, in the same transaction, their duplicate_of and story_id.

        An article already stored keeps the duplicate_of and story_id it was given first.
        """
        latest = {a.id: a for a in articles}  # an id repeated in one batch: the last one wins
        if not latest:
            return UpsertResult(0, 0)
        ids = list(latest)
        stored_at = time.time()
        # Signatures cost CPU: computed before the lock, and only for articles not stored yet
        # (a replay skips them); one that appeared meanwhile is computed under the lock below.
        stored_before = {row[0] for chunk in _chunks(ids, 500) for row in self._query(
            f"SELECT id FROM articles WHERE story_id IS NOT NULL AND id IN ({', '.join('?' * len(chunk))})", chunk)}
        sigs = signatures([a for a in latest.values() if a.id not in stored_before], stored_at)
        cur = self.conn.cursor()
        try:
            cur.execute(self.begin)
            existing: dict[str, tuple] = {}
            for chunk in _chunks(ids, 500):
                marks = ", ".join([self.ph] * len(chunk))
                cur.execute(f"SELECT id, duplicate_of, story_id FROM articles WHERE id IN ({marks})", chunk)
                existing.update((row[0], row[1:]) for row in cur.fetchall())
            # Rows stored before the index existed have no story yet: they are decided now.
            fresh = [a for a in latest.values() if a.id not in existing or existing[a.id][1] is None]
            sigs.update(signatures([a for a in fresh if a.id not in sigs], stored_at))
            decided = self.dedup.assign(cur, fresh, sigs)
            rows = with_decisions(list(latest.values()), decided.decisions)
            rows = [
                dataclasses.replace(a, duplicate_of=existing[a.id][0], story_id=existing[a.id][1])
                if a.id not in decided.decisions else a
                for a in rows
            ]
            cur.executemany(self.upsert_article, [_row(a, stored_at) for a in rows])
            self.dedup.write(cur, decided)
            for chunk in _chunks(ids, 500):
                marks = ", ".join([self.ph] * len(chunk))
                cur.execute(f"DELETE FROM article_tags WHERE article_id IN ({marks})", chunk)
            tags = [(a.id, t.name, t.score, orjson.dumps(t.evidence).decode()) for a in rows for t in a.tags]
            if tags:
                cur.executemany(self.insert_tag, tags)
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        finally:
            cur.close()
        return UpsertResult(
            inserted=len(ids) - len(existing), updated=len(existing),
            exact_duplicates=decided.exact, near_duplicates=decided.near,
            stories_new=decided.new, stories_joined=decided.joined,
        )

    def _query(self, query: str, params: Sequence = ()) -> list[tuple]:
        cur = self.conn.cursor()
        try:
            cur.execute(self._sql(query), params)
            rows = cur.fetchall()
        finally:
            cur.close()
        self.conn.commit()  # end the read transaction (PostgreSQL opens one per query)
        return rows

    def list_articles(self, *, tag: str | None = None, limit: int | None = None) -> list[dict]:
        where, params = "", []
        if tag:
            where = "WHERE id IN (SELECT article_id FROM article_tags WHERE tag = ?)"
            params.append(tag)
        query = (
            f"SELECT {', '.join(COLUMNS)} FROM articles {where} "
            "ORDER BY published_at IS NULL, published_at DESC, stored_at DESC, id"
        )
        if limit is not None:
            query += " LIMIT ?"
            params.append(int(limit))
        rows = [dict(zip(COLUMNS, r)) for r in self._query(query, params)]
        return self._with_tags(rows)

    def get_article(self, article_id: str) -> dict | None:
        rows = self._query(f"SELECT {', '.join(COLUMNS)} FROM articles WHERE id = ?", [article_id])
        return self._with_tags([dict(zip(COLUMNS, rows[0]))])[0] if rows else None

    def _with_tags(self, rows: list[dict]) -> list[dict]:
        by_id = {r["id"]: r for r in rows}
        for row in rows:
            row["authors"] = orjson.loads(row["authors"] or "[]")
            row["tags"], row["tag_details"] = [], []
        for chunk in _chunks(list(by_id), 500):
            marks = ", ".join("?" * len(chunk))
            for article_id, tag, score, evidence in self._query(
                f"SELECT article_id, tag, score, evidence FROM article_tags WHERE article_id IN ({marks}) ORDER BY tag",
                chunk,
            ):
                by_id[article_id]["tags"].append(tag)
                by_id[article_id]["tag_details"].append({"name": tag, "score": score, "evidence": orjson.loads(evidence)})
        return rows

    def count(self) -> int:
        return self._query("SELECT COUNT(*) FROM articles")[0][0]

    def tag_counts(self) -> dict[str, int]:
        return dict(self._query("SELECT tag, COUNT(*) FROM article_tags GROUP BY tag ORDER BY tag"))

    def close(self) -> None:
        self.conn.close()


def _row(a: Article, stored_at: float) -> tuple:
    return (
        a.id, a.url, a.source, a.title, a.text, a.published_at, a.fetched_at, stored_at, a.language,
        a.dateline, orjson.dumps(a.authors).decode(), a.duplicate_of, a.story_id, a.taxonomy_version, a.content_hash,
    )


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def open_sqlite(path: str) -> SqlStore:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    (current,) = conn.execute("PRAGMA user_version").fetchone()
    for version, statements in MIGRATIONS:
        if version > current:
            with conn:
                conn.execute("BEGIN IMMEDIATE")  # one migrating process at a time
                (current,) = conn.execute("PRAGMA user_version").fetchone()
                if version > current:
                    for statement in statements:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {int(version)}")
    return SqlStore(conn, "?", "BEGIN IMMEDIATE")


MIGRATION_LOCK = 7_318_224  # any constant: pg_advisory_xact_lock key for newsflow migrations


def open_postgres(url: str) -> SqlStore:
    import psycopg

    conn = psycopg.connect(url)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())")
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for version, statements in MIGRATIONS:
            if version not in done:
                for statement in statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
    return SqlStore(conn, "%s", f"SELECT pg_advisory_xact_lock({DEDUP_LOCK})")
