"""Schema migrations, applied in order at open. Append; never edit a released one.

A migration is `(version, statements)`: a plain list of SQL strings runs the same on SQLite
and PostgreSQL; a dict `{"sqlite": [...], "postgresql": [...]}` gives each its own.
Versions are recorded one by one in `schema_migrations`, so a gap (a migration merged later
with a lower number) is applied when it appears.
"""
from __future__ import annotations

Statements = list[str] | dict[str, list[str]]
DIALECTS = ("sqlite", "postgresql")

# Migration 3 on both dialects, after their own statements (published_ts exists by then).
# `stories`: a story and the first article stored in it (the dedup in the sink decides
# story_id); IF NOT EXISTS because an earlier migration may already have made it.
_SHARED_3 = [
    """CREATE TABLE IF NOT EXISTS stories (
        story_id TEXT PRIMARY KEY,
        first_article_id TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS articles_by_time ON articles ((COALESCE(published_ts, stored_at)))",
]

MIGRATIONS: list[tuple[int, Statements]] = [
    (
        1,
        [
            """CREATE TABLE articles (
                id TEXT PRIMARY KEY,
                url TEXT NOT NULL,
                source TEXT NOT NULL,
                title TEXT,
                text TEXT,
                published_at TEXT,
                fetched_at DOUBLE PRECISION,
                stored_at DOUBLE PRECISION NOT NULL,
                language TEXT,
                dateline TEXT,
                authors TEXT NOT NULL DEFAULT '[]',
                duplicate_of TEXT,
                story_id TEXT,
                taxonomy_version TEXT,
                content_hash TEXT
            )""",
            """CREATE TABLE article_tags (
                article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
                tag TEXT NOT NULL,
                score DOUBLE PRECISION NOT NULL,
                evidence TEXT NOT NULL DEFAULT '[]',
                PRIMARY KEY (article_id, tag)
            )""",
            "CREATE INDEX article_tags_by_tag ON article_tags (tag)",
            "CREATE INDEX articles_by_published ON articles (published_at)",
            "CREATE INDEX articles_by_source ON articles (source)",
            "CREATE INDEX articles_by_story ON articles (story_id)",
        ],
    ),
    (
        2,
        # The duplicate and story index (services/sink/dedup.py, dedup_index.py). `seq` orders
        # articles as they were indexed: the smallest is "the first" a duplicate points to.
        [
            """CREATE TABLE dedup_signatures (
                article_id TEXT PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
                seq BIGINT NOT NULL,
                text_hash TEXT NOT NULL,
                minhash TEXT NOT NULL,
                terms TEXT NOT NULL,
                day INTEGER NOT NULL,
                root_id TEXT NOT NULL,
                story_id TEXT NOT NULL
            )""",
            "CREATE INDEX dedup_signatures_by_hash ON dedup_signatures (text_hash)",
            "CREATE UNIQUE INDEX dedup_signatures_by_seq ON dedup_signatures (seq)",
            """CREATE TABLE dedup_bands (
                band_key BIGINT NOT NULL,
                article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
                PRIMARY KEY (band_key, article_id)
            )""",
            """CREATE TABLE story_keys (
                term TEXT NOT NULL,
                day INTEGER NOT NULL,
                article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
                PRIMARY KEY (term, day, article_id)
            )""",
        ],
    ),
    (
        3,
        # Full-text search, a numeric publication time for --since/--until, and a story table.
        {
            "sqlite": [
                # External content: the index keeps no copy of the text, only postings keyed by
                # the articles' rowid (which VACUUM keeps for a rowid table like this one).
                """CREATE VIRTUAL TABLE articles_fts USING fts5(
                    title, text, content='articles', tokenize='porter unicode61 remove_diacritics 2'
                )""",
                """CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
                    INSERT INTO articles_fts (rowid, title, text) VALUES (new.rowid, new.title, new.text);
                END""",
                """CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
                    INSERT INTO articles_fts (articles_fts, rowid, title, text)
                    VALUES ('delete', old.rowid, old.title, old.text);
                END""",
                """CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, text ON articles BEGIN
                    INSERT INTO articles_fts (articles_fts, rowid, title, text)
                    VALUES ('delete', old.rowid, old.title, old.text);
                    INSERT INTO articles_fts (rowid, title, text) VALUES (new.rowid, new.title, new.text);
                END""",
                "INSERT INTO articles_fts (articles_fts) VALUES ('rebuild')",  # rows stored before
                "ALTER TABLE articles ADD COLUMN published_ts DOUBLE PRECISION",
                # SQLite reads ISO 8601 with a zone offset; what it cannot read stays NULL.
                "UPDATE articles SET published_ts = CAST(strftime('%s', published_at) AS REAL)"
                " WHERE published_at IS NOT NULL",
                *_SHARED_3,
            ],
            "postgresql": [
                # Title words weigh more than body words. A tsvector holds at most 1 MB, so the
                # body is cut at 200,000 characters (a very long article); SQLite indexes it all.
                """ALTER TABLE articles ADD COLUMN search tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('english', coalesce(title, '')), 'A')
                    || setweight(to_tsvector('english', left(coalesce(text, ''), 200000)), 'B')
                ) STORED""",
                "CREATE INDEX articles_search ON articles USING GIN (search)",
                "ALTER TABLE articles ADD COLUMN published_ts DOUBLE PRECISION",
                # Only what looks like ISO 8601 is cast: a cast error would abort the migration.
                r"""UPDATE articles SET published_ts = EXTRACT(EPOCH FROM published_at::timestamptz)
                    WHERE published_at ~ '^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$'""",
                *_SHARED_3,
            ],
        },
    ),
    (
        4,
        # A replay stores an article again with the same title and text: re-indexing it in FTS5
        # (a delete and an insert, ~350 us for 3 KB) bought nothing.
        {
            "sqlite": [
                "DROP TRIGGER articles_fts_update",
                """CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, text ON articles
                WHEN old.title IS NOT new.title OR old.text IS NOT new.text BEGIN
                    INSERT INTO articles_fts (articles_fts, rowid, title, text)
                    VALUES ('delete', old.rowid, old.title, old.text);
                    INSERT INTO articles_fts (rowid, title, text) VALUES (new.rowid, new.title, new.text);
                END""",
            ],
            "postgresql": [],
        },
    ),
    (
        5,
        # Stories by average link (services/sink/stories.py): the similarity of every compared
        # pair over EDGE_FLOOR, one row each way so that an article's edges are one range scan.
        # Stories decided before this migration keep their ids; new articles are grouped anew.
        [
            """CREATE TABLE story_edges (
                article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
                other_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
                sim DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (article_id, other_id)
            )""",
            "CREATE INDEX dedup_signatures_by_story ON dedup_signatures (story_id)",
        ],
    ),
    (
        6,
        # Story and near-duplicate candidates come from each sink's memory
        # (services/sink/key_index.py), rebuilt from dedup_signatures; `newsflow stories
        # --regroup` raises the generation so that running sinks read the rewritten vectors again.
        [
            "DROP TABLE story_keys",
            "DROP TABLE dedup_bands",
            "CREATE TABLE index_generation (generation BIGINT NOT NULL)",
            "INSERT INTO index_generation (generation) VALUES (0)",
        ],
    ),
    (
        7,
        # A neighbourhood reads each article's strongest edges: a walk in order of strength that
        # stops at EDGES_PER_ARTICLE, where a window over all of an article's edges read every
        # one (an old article in a dense run has hundreds). On SQLite the table itself is kept
        # in that order (one B-tree an edge written, not a table and two indexes).
        {
            "sqlite": [
                """CREATE TABLE story_edges_by_strength (
                    article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
                    other_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
                    sim DOUBLE PRECISION NOT NULL,
                    PRIMARY KEY (article_id, sim DESC, other_id)
                ) WITHOUT ROWID""",
                "INSERT INTO story_edges_by_strength (article_id, other_id, sim) "
                "SELECT article_id, other_id, sim FROM story_edges",
                "DROP TABLE story_edges",
                "ALTER TABLE story_edges_by_strength RENAME TO story_edges",
            ],
            "postgresql": [
                "ALTER TABLE story_edges DROP CONSTRAINT story_edges_pkey",
                "CREATE INDEX story_edges_by_strength ON story_edges (article_id, sim DESC, other_id)",
            ],
        },
    ),
]


def statements_for(statements: Statements, dialect: str) -> list[str]:
    """The SQL of one migration for `dialect` ("sqlite" or "postgresql")."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}")
    if isinstance(statements, dict):
        return list(statements[dialect])
    return list(statements)
