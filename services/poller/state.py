"""What the poller has published, per feed, and each feed's health and validators.

SQLite, so it survives restarts: a restarted poller sends the same validators, publishes
nothing it already published, and keeps each failing feed's backoff and schedule.

`published` holds, per feed, the ids seen and the content hash last published under each;
`at` is when the id was last listed by the feed, so an old entry the feed still lists is
never the one forgotten when the table is trimmed to its bound.
"""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

SEEN_PER_FEED = 5000  # default bound; settings.seen_ids_per_feed

MIGRATIONS = [
    """
    CREATE TABLE published (
        feed TEXT NOT NULL, article_id TEXT NOT NULL, content_hash TEXT NOT NULL, at REAL NOT NULL,
        PRIMARY KEY (feed, article_id)
    );
    CREATE INDEX published_by_age ON published (feed, at);
    CREATE TABLE feeds (
        feed TEXT PRIMARY KEY, last_success REAL, last_error TEXT, last_error_at REAL,
        error_count INTEGER NOT NULL DEFAULT 0, etag TEXT, last_modified TEXT, body_hash TEXT
    );
    """,
    """
    ALTER TABLE feeds ADD COLUMN current_url TEXT;
    ALTER TABLE feeds ADD COLUMN next_poll_at REAL;
    ALTER TABLE feeds ADD COLUMN last_outcome TEXT;
    ALTER TABLE feeds ADD COLUMN name TEXT;
    """,
    "ALTER TABLE feeds ADD COLUMN last_bozo TEXT;",  # why the last parsed body was malformed
    "ALTER TABLE feeds ADD COLUMN last_skipped TEXT;",  # {reason: entries} of the last parse, JSON
]
FEED_FIELDS = {
    "name", "last_success", "last_error", "last_error_at", "error_count", "etag", "last_modified",
    "body_hash", "current_url", "next_poll_at", "last_outcome", "last_bozo", "last_skipped",
}


class PollerState:
    def __init__(self, path: str | Path):
        self.db = sqlite3.connect(str(path), timeout=10)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        # WAL with NORMAL: a commit survives a crash of the poller, only a power cut can lose the
        # last ones, which then are polled and published again (at-least-once, as everywhere).
        self.db.execute("PRAGMA synchronous=NORMAL")
        (version,) = self.db.execute("PRAGMA user_version").fetchone()
        for number, script in enumerate(MIGRATIONS, start=1):
            if number > version:
                self.db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    def known(self, feed: str) -> dict[str, str]:
        """{article id: content hash last published} of one feed."""
        return dict(self.db.execute("SELECT article_id, content_hash FROM published WHERE feed = ?", (feed,)))

    def mark_seen(self, feed: str, published: list[tuple[str, str]], still_listed: list[str] = (),
                  bound: int = SEEN_PER_FEED) -> None:
        """Record what was published (id, hash) and that `still_listed` ids were seen again."""
        with self.db:
            self._mark_seen(feed, published, still_listed, bound)

    def _mark_seen(self, feed: str, published, still_listed, bound: int) -> None:
        now = time.time()
        self.db.executemany(
            "INSERT INTO published (feed, article_id, content_hash, at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (feed, article_id) DO UPDATE SET content_hash = excluded.content_hash, at = excluded.at",
            [(feed, aid, h, now) for aid, h in published],
        )
        self.db.executemany(
            "UPDATE published SET at = ? WHERE feed = ? AND article_id = ?", [(now, feed, aid) for aid in still_listed]
        )
        (count,) = self.db.execute("SELECT count(*) FROM published WHERE feed = ?", (feed,)).fetchone()
        if count > bound:  # forget the ids not listed for the longest time
            self.db.execute(
                "DELETE FROM published WHERE feed = ? AND article_id IN "
                "(SELECT article_id FROM published WHERE feed = ? ORDER BY at LIMIT ?)",
                (feed, feed, count - bound),
            )

    def feed(self, feed: str) -> dict:
        row = self.db.execute("SELECT * FROM feeds WHERE feed = ?", (feed,)).fetchone()
        return dict(row) if row else {"feed": feed, "error_count": 0}

    def update_feed(self, feed: str, **fields) -> None:
        with self.db:
            self._update_feed(feed, fields)

    def _update_feed(self, feed: str, fields: dict) -> None:
        unknown = set(fields) - FEED_FIELDS
        if unknown:
            raise ValueError(f"unknown feed field(s) {sorted(unknown)}")
        names = sorted(fields)
        self.db.execute("INSERT OR IGNORE INTO feeds (feed) VALUES (?)", (feed,))
        if names:
            assignments = ", ".join(f"{n} = ?" for n in names)  # names checked above
            self.db.execute(f"UPDATE feeds SET {assignments} WHERE feed = ?", [fields[n] for n in names] + [feed])

    def record_success(self, feed: str, at: float | None = None, seen: tuple | None = None,
                       bound: int = SEEN_PER_FEED, **fields) -> None:
        """A successful poll, and with `seen` = (published, still_listed) its entries, in one transaction."""
        with self.db:
            if seen:
                self._mark_seen(feed, seen[0], seen[1], bound)
            self._update_feed(feed, dict(fields, last_success=at or time.time(), error_count=0))

    def record_error(self, feed: str, reason: str, **fields) -> int:
        """Count one more error; returns the feed's consecutive error count."""
        count = self.feed(feed).get("error_count", 0) + 1
        self.update_feed(feed, last_error=reason, last_error_at=time.time(), error_count=count, **fields)
        return count

    def health(self, feed: str) -> dict | None:
        row = self.db.execute("SELECT * FROM feeds WHERE feed = ?", (feed,)).fetchone()
        return dict(row) if row else None

    def close(self) -> None:
        self.db.close()
