"""The Store on SQLite (WAL) and on PostgreSQL (psycopg 3). SQL with parameters only."""
from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from services.sink.dedup_index import DedupIndex, signatures, with_decisions
from services.sink.dialect import NEWEST_FIRST, POSTGRES, SQLITE, Dialect
from services.sink.migrations import MIGRATIONS, statements_for
from services.sink.search import parse_query
from shared.times import iso_to_epoch
from services.sink.results import StoredArticle, StorySummary, UpsertResult
from services.sink import regroup
from services.sink.regroup import RegroupPlan
from services.sink.story_listing import list_stories
from shared.schema import Article

COLUMNS = (
    "id", "url", "source", "title", "text", "published_at", "fetched_at", "stored_at", "language",
    "dateline", "authors", "duplicate_of", "story_id", "taxonomy_version", "content_hash",
)
WRITTEN = COLUMNS + ("published_ts",)  # published_ts: the publication time in epoch seconds, for filters
UPDATES = ", ".join(f"{c} = excluded.{c}" for c in WRITTEN if c != "id")
SETS = ", ".join(f"{c} = ?" for c in WRITTEN if c != "id")  # UPDATE … WHERE id = ?: the id goes last
SELECTED = ", ".join(f"articles.{c}" for c in COLUMNS)
WHEN = "COALESCE(articles.published_ts, articles.stored_at)"  # undated articles count by their storing time


class SqlStore:
    """The store on one database; where the two differ, `dialect` says (services/sink/dialect.py)."""

    def __init__(self, conn, dialect: Dialect, reconnect: Callable[[], Any] | None = None):
        self.conn = conn
        self.dialect = dialect
        self._reconnect = reconnect
        self.ph = dialect.placeholder
        self.begin = dialect.begin_write
        self.dedup = DedupIndex(dialect)
        marks = ", ".join([self.ph] * len(WRITTEN))
        self.upsert_article = (
            f"INSERT INTO articles ({', '.join(WRITTEN)}) VALUES ({marks}) ON CONFLICT (id) DO UPDATE SET {UPDATES}"
        )
        self.update_article = self._sql(f"UPDATE articles SET {SETS} WHERE id = ?")
        self.insert_tag = self._sql("INSERT INTO article_tags (article_id, tag, score, evidence) VALUES (?, ?, ?, ?)")

    def _sql(self, query: str) -> str:
        return self.dialect.sql(query)

    def _connection(self):
        """The connection, made anew if the server dropped it (a restart, a failover): the
        sink's retry of a failed transaction then goes to a live one."""
        if self._reconnect and (self.conn.closed or getattr(self.conn, "broken", False)):
            self.conn = self._reconnect()
        return self.conn

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
        conn = self._connection()
        cur = conn.cursor()
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
            self._write_articles(cur, [_row(a, stored_at) for a in rows], existing)
            self.dedup.write(cur, decided, stored_at)
            for chunk in _chunks(ids, 500):
                marks = ", ".join([self.ph] * len(chunk))
                cur.execute(f"DELETE FROM article_tags WHERE article_id IN ({marks})", chunk)
            tags = [(a.id, t.name, t.score, orjson.dumps(t.evidence).decode()) for a in rows for t in a.tags]
            if tags:
                cur.executemany(self.insert_tag, tags)
            conn.commit()
        except BaseException:
            self.dedup.forget()
            if not getattr(conn, "broken", False):  # a lost connection has nothing to roll back
                conn.rollback()
            raise
        finally:
            cur.close()
        self.dedup.committed(decided)
        return UpsertResult(
            inserted=len(ids) - len(existing), updated=len(existing),
            exact_duplicates=decided.exact, near_duplicates=decided.near,
            stories_new=decided.new, stories_joined=decided.joined, stories_formed=decided.formed,
            story_seconds=decided.story_seconds,
        )

    def _write_articles(self, cur, rows: list[tuple], existing: dict) -> None:
        """New rows by INSERT … ON CONFLICT, stored ones by UPDATE: on PostgreSQL an INSERT that
        turns into an update computes the search tsvector twice (~550 us of server CPU each)."""
        new = [r for r in rows if r[0] not in existing]
        stored = [r for r in rows if r[0] in existing]
        if new:
            cur.executemany(self.upsert_article, new)
        if stored:
            cur.executemany(self.update_article, [r[1:] + r[:1] for r in stored])
            if cur.rowcount < len(stored):  # deleted meanwhile by something that does not take the lock
                cur.executemany(self.upsert_article, stored)

    def _query(self, query: str, params: Sequence = ()) -> list[tuple]:
        cur = self._connection().cursor()
        try:
            cur.execute(self._sql(query), params)
            rows = cur.fetchall()
        finally:
            cur.close()
        self.conn.commit()  # end the read transaction (PostgreSQL opens one per query)
        return rows

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
    ) -> list[StoredArticle]:
        """Articles newest first (by publication, else storing time); with `query`, best match first.

        since/until are epoch seconds (until excluded). `query` is words, "phrases" and -words
        (services/sink/search.py); raises ValueError when it holds nothing to search for.
        """
        sources, where, params, order = "articles", [], [], NEWEST_FIRST
        if query is not None:
            sources, where, params, order = self.dialect.search(parse_query(query))
        if tag:
            where.append("articles.id IN (SELECT article_id FROM article_tags WHERE tag = ?)")
            params.append(tag)
        if source:
            where.append("articles.source = ?")
            params.append(source)
        if story:
            where.append("articles.story_id = ?")
            params.append(story)
        if since is not None:
            where.append(f"{WHEN} >= ?")
            params.append(float(since))
        if until is not None:
            where.append(f"{WHEN} < ?")
            params.append(float(until))
        sql = f"SELECT {SELECTED} FROM {sources}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return self._stored(self._query(sql, params))

    def list_stories(self, *, since: float | None = None, tag: str | None = None, min_size: int = 1,
                     limit: int | None = None) -> list[StorySummary]:
        return list_stories(self._query, since=since, tag=tag, min_size=min_size, limit=limit)

    def regroup_stories(self, *, write: bool) -> RegroupPlan:
        """Every indexed article's story under the rule as it is now (services/sink/regroup.py);
        with `write`, stored in one transaction under the sinks' lock, else only planned."""
        conn = self._connection()
        cur = conn.cursor()
        try:
            cur.execute(self.begin if write else "SELECT 1")
            cur.execute(
                "SELECT a.id, a.title, COALESCE(a.text, a.title, ''), a.language, s.day, a.story_id, a.duplicate_of "
                "FROM articles a JOIN dedup_signatures s ON s.article_id = a.id ORDER BY a.id")
            found = regroup.plan([regroup.Stored(*row) for row in cur.fetchall()])
            if write:
                regroup.apply(cur, self.ph, self.dialect.insert_rows, found, time.time())
            conn.commit()
        except BaseException:
            if not getattr(conn, "broken", False):
                conn.rollback()
            raise
        finally:
            cur.close()
        return found

    def get_article(self, article_id: str) -> StoredArticle | None:
        rows = self._query(f"SELECT {', '.join(COLUMNS)} FROM articles WHERE id = ?", [article_id])
        return self._stored(rows)[0] if rows else None

    def _stored(self, rows: list[tuple]) -> list[StoredArticle]:
        """Rows of COLUMNS, with their tags, as StoredArticles."""
        tags: dict[str, list] = {r[0]: [] for r in rows}
        for chunk in _chunks(list(tags), 500):
            marks = ", ".join("?" * len(chunk))
            for article_id, tag, score, evidence in self._query(
                f"SELECT article_id, tag, score, evidence FROM article_tags WHERE article_id IN ({marks}) ORDER BY tag",
                chunk,
            ):
                tags[article_id].append({"name": tag, "score": score, "evidence": orjson.loads(evidence)})
        stored = []
        for row in rows:
            fields = dict(zip(COLUMNS, row))
            fields["authors"] = tuple(orjson.loads(fields["authors"] or "[]"))
            details = tags[fields["id"]]
            stored.append(StoredArticle(**fields, tags=tuple(d["name"] for d in details), tag_details=tuple(details)))
        return stored

    def count(self) -> int:
        return self._query("SELECT COUNT(*) FROM articles")[0][0]

    def tag_counts(self) -> dict[str, int]:
        return dict(self._query("SELECT tag, COUNT(*) FROM article_tags GROUP BY tag ORDER BY tag"))

    def iter_articles(self, *, stored_since: float | None = None, batch_size: int = 500) -> Iterator[StoredArticle]:
        """Every article (stored at or after `stored_since`), by id, a page at a time (retag)."""
        after = ""
        while True:
            where, params = "id > ?", [after]
            if stored_since is not None:
                where += " AND stored_at >= ?"
                params.append(stored_since)
            rows = self._query(
                f"SELECT {', '.join(COLUMNS)} FROM articles WHERE {where} ORDER BY id LIMIT ?", [*params, batch_size]
            )
            if not rows:
                return
            yield from self._stored(rows)
            after = rows[-1][0]

    def stored_versions(self, ids: Sequence[str]) -> dict[str, tuple[str | None, float]]:
        """{id: (taxonomy_version, stored_at)} of the ids still stored (retag waits on these)."""
        out = {}
        for chunk in _chunks(list(ids), 500):
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT id, taxonomy_version, stored_at FROM articles WHERE id IN ({marks})"
            out.update({i: (v, at) for i, v, at in self._query(query, chunk)})
        return out

    def close(self) -> None:
        self.conn.close()


def _row(a: Article, stored_at: float) -> tuple:
    return (
        a.id, a.url, a.source, _text(a.title), _text(a.text), a.published_at, a.fetched_at, stored_at, a.language,
        _text(a.dateline), orjson.dumps(a.authors).decode(), a.duplicate_of, a.story_id, a.taxonomy_version,
        a.content_hash, iso_to_epoch(a.published_at),
    )


def _text(value: str | None) -> str | None:
    """Without NUL characters, which PostgreSQL refuses in text (a whole batch would fail on one)."""
    return value.replace("\x00", "") if value and "\x00" in value else value


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


MIGRATION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
)


def open_sqlite(path: str) -> SqlStore:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10)
    _use_wal(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    with conn:
        conn.execute("BEGIN IMMEDIATE")  # one migrating process at a time
        conn.execute(MIGRATION_TABLE)
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        (legacy,) = conn.execute("PRAGMA user_version").fetchone()
        if not done and legacy:  # a database from before schema_migrations counted in user_version
            done = {v for v, _ in MIGRATIONS if v <= legacy}
            conn.executemany("INSERT INTO schema_migrations VALUES (?, ?)", [(v, time.time()) for v in done])
        for version, statements in MIGRATIONS:
            if version not in done:
                for statement in statements_for(statements, "sqlite"):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time()))
    return SqlStore(conn, SQLITE)


def _use_wal(conn, timeout_s: float = 10.0) -> None:
    """Switch a new database file to WAL. Sinks starting together on a fresh file race for it:
    the switch needs the file to itself and SQLite answers "locked" at once, without waiting."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


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
                for statement in statements_for(statements, "postgresql"):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
    return SqlStore(conn, POSTGRES, reconnect=lambda: psycopg.connect(url))
