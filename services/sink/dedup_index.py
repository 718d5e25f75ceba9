"""The duplicate and story index in the database, used inside the sink's upsert transaction.

The database is the only state every sink worker shares and that survives restarts, so the
decision is made there, under a lock (SQLite: the write lock of BEGIN IMMEDIATE; PostgreSQL: a
transaction-scoped advisory lock), in batches: a few indexed queries per batch of articles,
then the pure decisions of services/sink/dedup.py in batch order, each article seeing the ones
before it in the same batch.
"""
from __future__ import annotations

import dataclasses
import struct
from collections import Counter, defaultdict
from operator import itemgetter
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from services.sink.dialect import Dialect
from services.sink.dedup import (
    MIN_SHARED_KEYS, STORY_WINDOW_DAYS, Decision, Known, Signature, decide, signature,
)
from shared.schema import Article

STORY_CANDIDATES = 20
KEY_POSTINGS = 100
BAND_CANDIDATES = 50


@dataclass
class DedupBatch:
    """The decisions for one batch, their counts by kind, and the index rows still to write."""

    exact: int = 0
    near: int = 0
    new: int = 0
    joined: int = 0
    decisions: dict[str, Decision] = field(default_factory=dict)
    rows: tuple[list, list, list] = field(default_factory=lambda: ([], [], []))


def day_of(article: Article, stored_at: float) -> int:
    if article.published_at:
        try:
            return int(datetime.fromisoformat(article.published_at).timestamp() // 86400)
        except ValueError:
            pass
    return int(stored_at // 86400)


def signatures(articles: list[Article], stored_at: float) -> dict[str, Signature]:
    """Computed before the transaction opens: the lock is held only for lookups and writes."""
    return {
        a.id: signature(a.title, a.text if a.text is not None else a.content, a.language, day_of(a, stored_at))
        for a in articles
    }


def _encode_minhash(values: tuple[int, ...]) -> str:
    """8 lower-case hex digits a value (each < 2**32), in order."""
    return struct.pack(f">{len(values)}I", *values).hex()


def _decode_minhash(text: str) -> tuple[int, ...]:
    return struct.unpack(f">{len(text) // 8}I", bytes.fromhex(text))


TABLES = {
    "dedup_signatures": ("article_id", "seq", "text_hash", "minhash", "terms", "day", "root_id", "story_id"),
    "dedup_bands": ("band_key", "article_id"),
    "story_keys": ("term", "day", "article_id"),
}


class DedupIndex:
    """The SQL is the same on both databases but for how many values travel in one statement:
    SQLite runs in-process, so one row or key per execution costs little; PostgreSQL pays a round
    trip and a query parse per statement, so it gets arrays (`= ANY(%s)`, `unnest`) instead."""

    def __init__(self, dialect: Dialect):
        self.dialect = dialect
        self.ph = dialect.placeholder

    def _in(self, cur, query: str, values: list) -> list[tuple]:
        return self.dialect.select_in(cur, query, values)

    def assign(self, cur, articles: list[Article], sigs: dict[str, Signature]) -> DedupBatch:
        """Decide duplicate_of and story_id for `articles` (new to the index), in order, and index them."""
        counts = DedupBatch()
        if not articles:
            return counts
        by_hash, by_band, story_hits, known = self._candidates(cur, articles, sigs)
        cur.execute("SELECT COALESCE(MAX(seq), 0) FROM dedup_signatures")
        next_seq = int(cur.fetchone()[0]) + 1
        overlay = _BatchOverlay()
        sig_rows, band_rows, key_rows = counts.rows

        def oldest_first(ids: list[str]) -> list[Known]:
            found = [known[i] for i in dict.fromkeys(ids) if i in known]
            return [k for _, k in sorted(found, key=lambda sk: sk[0])]

        for a in articles:
            sig = sigs[a.id]
            exact = oldest_first(by_hash.get(sig.text_hash, [])[:1] + overlay.exact(sig))[:1]
            near = oldest_first([i for k in sig.bands for i in by_band.get(k, [])] + overlay.near(sig))
            story = oldest_first(story_hits.get(a.id, []) + overlay.story(sig))
            decision = decide(a.id, sig, exact, near, story)
            counts.decisions[a.id] = decision
            setattr(counts, decision.kind, getattr(counts, decision.kind) + 1)
            root = decision.duplicate_of or a.id
            story_of = None if decision.story_id == a.id else known[decision.matched][1].story_terms
            if decision.story_id != a.id and story_of is None and decision.matched:
                story_of = known[decision.matched][1].terms  # the match is the story's first article
            known[a.id] = (next_seq, Known(a.id, root, decision.story_id, sig.minhash, sig.terms, story_of))
            overlay.add(a.id, sig)
            sig_rows.append((a.id, next_seq, sig.text_hash, _encode_minhash(sig.minhash),
                             orjson.dumps(sig.terms).decode(), sig.day, root, decision.story_id))
            band_rows.extend((k, a.id) for k in dict.fromkeys(sig.bands))
            key_rows.extend((t, sig.day, a.id) for t in sig.keys)
            next_seq += 1
        return counts

    def _candidates(self, cur, articles: list[Article], sigs: dict[str, Signature]):
        """What the index already holds that `articles` may match: by exact text hash, by
        MinHash band, story candidates, and each candidate's signature (with its story's terms)."""
        by_hash: dict[str, list[str]] = defaultdict(list)
        for article_id, text_hash in self._in(
            cur, "SELECT article_id, text_hash FROM dedup_signatures WHERE text_hash IN ({marks}) ORDER BY seq",
            [sigs[a.id].text_hash for a in articles],
        ):
            by_hash[text_hash].append(article_id)
        by_band: dict[int, list[str]] = defaultdict(list)
        for band_key, article_id in self._in(
            cur, "SELECT band_key, article_id FROM dedup_bands WHERE band_key IN ({marks})",
            [k for a in articles for k in sigs[a.id].bands],
        ):
            if len(by_band[band_key]) < BAND_CANDIDATES:  # a band shared by thousands says little
                by_band[band_key].append(article_id)
        looking = [a.id for a in articles if sigs[a.id].text_hash not in by_hash and len(sigs[a.id].keys) >= MIN_SHARED_KEYS]
        if self.dialect.arrays:
            story_hits = self._story_candidates_lateral(cur, {i: sigs[i] for i in looking})
        else:
            story_hits = {i: self._story_candidates(cur, sigs[i]) for i in looking}
        wanted = {i for ids in by_hash.values() for i in ids[:1]}
        wanted |= {i for ids in by_band.values() for i in ids} | {i for ids in story_hits.values() for i in ids}
        known: dict[str, tuple[int, Known]] = {}
        for article_id, seq, root_id, story_id, minhash, terms in self._in(
            cur, "SELECT article_id, seq, root_id, story_id, minhash, terms FROM dedup_signatures "
            "WHERE article_id IN ({marks})", list(wanted),
        ):
            known[article_id] = (seq, Known(article_id, root_id, story_id, _decode_minhash(minhash), orjson.loads(terms)))
        story_terms: dict[str, dict] = {i: k.terms for i, (_, k) in known.items()}
        for article_id, terms in self._in(
            cur, "SELECT article_id, terms FROM dedup_signatures WHERE article_id IN ({marks})",
            [k.story_id for _, k in known.values() if k.story_id not in story_terms],
        ):
            story_terms[article_id] = orjson.loads(terms)
        for article_id, (seq, k) in known.items():
            if k.story_id != article_id:
                known[article_id] = (seq, dataclasses.replace(k, story_terms=story_terms.get(k.story_id)))
        return by_hash, by_band, story_hits, known

    def _story_candidates(self, cur, sig: Signature) -> list[str]:
        """Stored articles in the window sharing MIN_SHARED_KEYS of `sig`'s keys, most shared first.

        Each key's postings are read newest first and at most KEY_POSTINGS of them, so a word in
        every article of the week costs a bounded index range scan, not a scan of the week.
        """
        lo, hi = sig.day - STORY_WINDOW_DAYS, sig.day + STORY_WINDOW_DAYS
        one = (f"SELECT * FROM (SELECT article_id, day FROM story_keys WHERE term = {self.ph} "
               f"AND day BETWEEN {self.ph} AND {self.ph} ORDER BY day DESC LIMIT {KEY_POSTINGS}) AS k")
        query = " UNION ALL ".join(f"{one}{i}" for i in range(len(sig.keys)))
        cur.execute(query, [v for key in sig.keys for v in (key, lo, hi)])
        return _most_shared([(article_id, day) for article_id, day in cur.fetchall()])

    def _story_candidates_lateral(self, cur, sigs: dict[str, Signature]) -> dict[str, list[str]]:
        """The same lookups as _story_candidates, for every article in one statement (PostgreSQL)."""
        postings: dict[str, list[tuple[str, int]]] = {i: [] for i in sigs}
        rows = [(i, key, sig.day - STORY_WINDOW_DAYS, sig.day + STORY_WINDOW_DAYS) for i, sig in sigs.items() for key in sig.keys]
        if rows:
            cur.execute(
                "SELECT q.aid, k.article_id, k.day "
                "FROM unnest(%s::text[], %s::text[], %s::integer[], %s::integer[]) AS q (aid, term, lo, hi) "
                "CROSS JOIN LATERAL (SELECT article_id, day FROM story_keys WHERE term = q.term "
                f"AND day BETWEEN q.lo AND q.hi ORDER BY day DESC LIMIT {KEY_POSTINGS}) AS k",
                [list(column) for column in zip(*rows)],
            )
            for aid, article_id, day in cur.fetchall():
                postings[aid].append((article_id, day))
        return {i: _most_shared(p) for i, p in postings.items()}

    def write(self, cur, batch: DedupBatch) -> None:
        """Index the articles of `batch`; called after their rows are in `articles`."""
        for table, rows in zip(("dedup_signatures", "dedup_bands", "story_keys"), batch.rows):
            if rows:
                self.dialect.insert_rows(cur, table, TABLES[table], rows)


class _BatchOverlay:
    """The ids of articles decided earlier in the same batch, not yet written, as candidates."""

    def __init__(self):
        self.by_hash: dict[str, str] = {}
        self.by_band: dict[int, list[str]] = defaultdict(list)
        self.by_key: dict[str, list[tuple[str, int]]] = defaultdict(list)

    def add(self, article_id: str, sig: Signature) -> None:
        self.by_hash.setdefault(sig.text_hash, article_id)
        for band in dict.fromkeys(sig.bands):
            self.by_band[band].append(article_id)
        for key in sig.keys:
            self.by_key[key].append((article_id, sig.day))

    def exact(self, sig: Signature) -> list[str]:
        return [self.by_hash[sig.text_hash]] if sig.text_hash in self.by_hash else []

    def near(self, sig: Signature) -> list[str]:
        return [i for band in sig.bands for i in self.by_band.get(band, ())]

    def story(self, sig: Signature) -> list[str]:
        return _most_shared([
            (article_id, day)
            for key in sig.keys for article_id, day in self.by_key.get(key, ())[-KEY_POSTINGS:]
            if abs(day - sig.day) <= STORY_WINDOW_DAYS
        ])


def _most_shared(postings: list[tuple[str, int]]) -> list[str]:
    """Ids seen at least MIN_SHARED_KEYS times: the STORY_CANDIDATES most shared, then newest, first."""
    # Up to 12 x KEY_POSTINGS postings an article, most of them ids seen once: count in C first.
    shared = {i: n for i, n in Counter(map(itemgetter(0), postings)).items() if n >= MIN_SHARED_KEYS}
    newest: dict[str, int] = {}
    for article_id, day in postings:
        if article_id in shared and day > newest.get(article_id, day - 1):
            newest[article_id] = day
    ranked = sorted(((n, newest[i], i) for i, n in shared.items()), key=lambda t: (-t[0], -t[1], t[2]))
    return [i for _, _, i in ranked[:STORY_CANDIDATES]]


def with_decisions(articles: list[Article], decisions: dict[str, Decision]) -> list[Article]:
    return [
        dataclasses.replace(a, duplicate_of=decisions[a.id].duplicate_of, story_id=decisions[a.id].story_id)
        if a.id in decisions else a
        for a in articles
    ]
