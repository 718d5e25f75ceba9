"""What the poller has published, per feed, and each feed's health. SQLite, survives restarts."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

SEEN_PER_FEED = 5000

SCHEMA = """
CREATE TABLE IF NOT EXISTS published (
    feed TEXT NOT NULL, article_id TEXT NOT NULL, content_hash TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (feed, article_id)
);
CREATE INDEX IF NOT EXISTS published_by_age ON published (feed, at);
CREATE TABLE IF NOT EXISTS feeds (
    feed TEXT PRIMARY KEY, last_success REAL, last_error TEXT, last_error_at REAL,
    error_count INTEGER NOT NULL DEFAULT 0, etag TEXT, last_modified TEXT, body_hash TEXT
);
"""


class PollerState:
    def __init__(self, path: str | Path):
        self.db = sqlite3.connect(str(path), timeout=10)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def is_new_or_changed(self, feed: str, article_id: str, content_hash: str) -> bool:
        row = self.db.execute(
            "SELECT content_hash FROM published WHERE feed = ? AND article_id = ?", (feed, article_id)
        ).fetchone()
        return row is None or row[0] != content_hash

    def mark_published(self, feed: str, items: list[tuple[str, str]]) -> None:
        now = time.time()
        with self.db:
            self.db.executemany(
                "INSERT INTO published (feed, article_id, content_hash, at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (feed, article_id) DO UPDATE SET content_hash = excluded.content_hash, at = excluded.at",
                [(feed, aid, h, now) for aid, h in items],
            )
            # Forget the oldest beyond the bound: a feed never lists that many entries at once.
            self.db.execute(
                "DELETE FROM published WHERE feed = ? AND article_id NOT IN "
                "(SELECT article_id FROM published WHERE feed = ? ORDER BY at DESC LIMIT ?)",
                (feed, feed, SEEN_PER_FEED),
            )

    def record_success(self, feed: str) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO feeds (feed, last_success, error_count) VALUES (?, ?, 0) "
                "ON CONFLICT (feed) DO UPDATE SET last_success = excluded.last_success, error_count = 0",
                (feed, time.time()),
            )

    def record_error(self, feed: str, reason: str) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO feeds (feed, last_error, last_error_at, error_count) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (feed) DO UPDATE SET last_error = excluded.last_error, "
                "last_error_at = excluded.last_error_at, error_count = error_count + 1",
                (feed, reason, time.time()),
            )

    def health(self, feed: str) -> dict | None:
        cursor = self.db.execute("SELECT * FROM feeds WHERE feed = ?", (feed,))
        row = cursor.fetchone()
        return dict(zip([d[0] for d in cursor.description], row)) if row else None

    def close(self) -> None:
        self.db.close()
