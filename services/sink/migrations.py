"""Schema migrations, applied in order at open. Append; never edit a released one."""

MIGRATIONS: list[tuple[int, list[str]]] = [
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
]
