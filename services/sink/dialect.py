"""Where SQLite and PostgreSQL differ for the store, in one place: placeholders, how a write
transaction is serialised, how many values travel in one statement, bulk inserts and full-text
search. The SQL everywhere else is the same on both (migrations.py keeps per-dialect DDL)."""
from __future__ import annotations

from services.sink.search import SearchQuery, fts5_match, websearch_text

CHUNK = 500  # values per statement where each travels as its own parameter (SQLite)
DEDUP_LOCK = 7_318_225  # pg_advisory_xact_lock key: one deciding sink at a time
# Newest first; undated articles last, by when they were stored.
NEWEST_FIRST = "articles.published_ts IS NULL, articles.published_ts DESC, articles.stored_at DESC, articles.id"


class Dialect:
    name: str
    placeholder: str
    begin_write: str  # starts a write transaction that serialises the sinks' duplicate/story decisions
    arrays: bool  # many values travel as one array parameter (PostgreSQL) rather than one each

    def sql(self, query: str) -> str:
        """`query` written with `?` placeholders, in this dialect."""
        return query.replace("?", self.placeholder)

    def marks(self, n: int) -> str:
        return ", ".join([self.placeholder] * n)

    def select_in(self, cur, query: str, values: list) -> list[tuple]:
        """Run `query` whose `IN ({marks})` takes `values` (deduplicated)."""
        raise NotImplementedError

    def insert_rows(self, cur, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        raise NotImplementedError

    def strongest_edges(self, cur, article_ids: list[str], per_article: int) -> list[tuple]:
        """(article_id, other_id, sim) of each article's `per_article` strongest story edges (ties
        by other_id): a walk in order of strength (migration 7) per article."""
        raise NotImplementedError

    def search(self, query: SearchQuery) -> tuple[str, list[str], list, str]:
        """FROM, WHERE, parameters and ORDER BY of a full-text search."""
        raise NotImplementedError


_EDGES = "SELECT article_id, other_id, sim FROM story_edges"
_STRONGEST = "ORDER BY sim DESC, other_id"


class Sqlite(Dialect):
    name, placeholder, begin_write, arrays = "sqlite", "?", "BEGIN IMMEDIATE", False

    def select_in(self, cur, query: str, values: list) -> list[tuple]:
        values = list(dict.fromkeys(values))
        rows: list[tuple] = []
        for i in range(0, len(values), CHUNK):  # in-process: one value per parameter costs little
            chunk = values[i:i + CHUNK]
            cur.execute(query.format(marks=self.marks(len(chunk))), chunk)
            rows.extend(cur.fetchall())
        return rows

    def strongest_edges(self, cur, article_ids: list[str], per_article: int) -> list[tuple]:
        rows: list[tuple] = []
        for article_id in dict.fromkeys(article_ids):
            cur.execute(f"{_EDGES} WHERE article_id = ? {_STRONGEST} LIMIT ?", (article_id, per_article))
            rows.extend(cur.fetchall())
        return rows

    def insert_rows(self, cur, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({self.marks(len(columns))})", rows)

    def search(self, query: SearchQuery) -> tuple[str, list[str], list, str]:
        return (
            "articles_fts JOIN articles ON articles.rowid = articles_fts.rowid",
            ["articles_fts MATCH ?"],
            [fts5_match(query)],
            f"bm25(articles_fts, 10.0, 1.0), {NEWEST_FIRST}",  # a title hit weighs 10 body hits
        )


class Postgres(Dialect):
    name, placeholder, arrays = "postgresql", "%s", True
    begin_write = f"SELECT pg_advisory_xact_lock({DEDUP_LOCK})"

    def select_in(self, cur, query: str, values: list) -> list[tuple]:
        values = list(dict.fromkeys(values))
        if not values:
            return []
        # a round trip and a parse per statement: the values go as one array
        cur.execute(query.replace("IN ({marks})", "= ANY(%s)"), [values])
        return cur.fetchall()

    def strongest_edges(self, cur, article_ids: list[str], per_article: int) -> list[tuple]:
        cur.execute(f"SELECT e.* FROM unnest(%s::text[]) AS a (id) CROSS JOIN LATERAL ({_EDGES} "
                    f"WHERE article_id = a.id {_STRONGEST} LIMIT %s) AS e", [list(dict.fromkeys(article_ids)), per_article])
        return cur.fetchall()

    def insert_rows(self, cur, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        # COPY: arrays for unnest() cost ~100 us an article to build in psycopg (the terms are
        # long strings), COPY rows ~5
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def search(self, query: SearchQuery) -> tuple[str, list[str], list, str]:
        return (
            "articles, websearch_to_tsquery('english', ?) AS q",
            ["articles.search @@ q"],
            [websearch_text(query)],
            f"ts_rank(articles.search, q) DESC, {NEWEST_FIRST}",
        )


SQLITE, POSTGRES = Sqlite(), Postgres()
