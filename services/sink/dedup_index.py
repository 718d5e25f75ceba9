"""The duplicate and story index in the database, used inside the sink's upsert transaction.

The database is the only state every sink worker shares and that survives restarts, so the
decision is made there, under a lock (SQLite: the write lock of BEGIN IMMEDIATE; PostgreSQL: a
transaction-scoped advisory lock), in batches: a few indexed queries per batch of articles,
then the pure decisions of services/sink/dedup.py in batch order, each article seeing the ones
before it in the same batch. Which stored articles share a key word or a MinHash band comes
from the sink's memory (services/sink/key_index.py), brought up to date under the same lock.
"""
from __future__ import annotations

import dataclasses
import struct
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from services.sink.dialect import Dialect
from services.sink import stories
from services.sink.dedup import (
    MIN_SHARED_KEYS, Decision, Known, Signature, band_keys, decide, signature,
)
from services.sink.key_index import KeyIndex
from shared.schema import Article

# Grouping is a function of the articles alone while these limits (and key_index.py's) are not
# reached: an article with more than EDGES_PER_ARTICLE edges, a neighbourhood over
# MAX_NEIGHBOURHOOD stored articles.
MAX_NEIGHBOURHOOD = 500


@dataclass
class DedupBatch:
    """The decisions for one batch, their counts by kind, and the index rows still to write."""

    exact: int = 0
    near: int = 0
    new: int = 0
    joined: int = 0
    formed: int = 0  # stories of two or more articles that no stored story of two or more became
    story_seconds: float = 0.0  # time spent on stories: candidates, similarities, grouping, writes
    decisions: dict[str, Decision] = field(default_factory=dict)
    rows: tuple[list, list] = field(default_factory=lambda: ([], []))
    keys: list[tuple[str, int, dict[str, float], tuple[int, ...]]] = field(default_factory=list)  # KeyIndex rows
    last_seq: int = 0
    regrouped: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # stored article -> (was, is)


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
    "story_edges": ("article_id", "other_id", "sim"),
}


class DedupIndex:
    """The SQL is the same on both databases but for how many values travel in one statement:
    SQLite runs in-process, so one row or key per execution costs little; PostgreSQL pays a round
    trip and a query parse per statement, so it gets arrays (`= ANY(%s)`, `unnest`) instead."""

    def __init__(self, dialect: Dialect):
        self.dialect = dialect
        self.ph = dialect.placeholder
        self.keys = KeyIndex()

    def _in(self, cur, query: str, values: list) -> list[tuple]:
        return self.dialect.select_in(cur, query, values)

    def assign(self, cur, articles: list[Article], sigs: dict[str, Signature]) -> DedupBatch:
        """Decide duplicate_of and story_id for `articles` (new to the index), and index them."""
        batch = DedupBatch()
        if not articles:
            return batch
        self._catch_up(cur)
        by_hash, by_band, known = self._candidates(cur, articles, sigs)
        next_seq = self.keys.seen_seq + 1
        overlay = _BatchOverlay()
        edges: dict[tuple[str, str], float] = {}

        def oldest_first(ids: list[str]) -> list[Known]:
            found = [known[i] for i in dict.fromkeys(ids) if i in known]
            return [k for _, k in sorted(found, key=lambda sk: sk[0])]

        for a in articles:
            sig = sigs[a.id]
            exact = oldest_first(by_hash.get(sig.text_hash, [])[:1] + overlay.exact(sig))[:1]
            near = oldest_first([i for k in sig.bands for i in by_band.get(k, [])] + overlay.near(sig))
            batch.decisions[a.id] = decision = decide(sig, exact, near)
            started = time.perf_counter()
            self._compare(a.id, sig, decision.matched, edges)
            batch.story_seconds += time.perf_counter() - started
            # a candidate for the articles after it in the batch (a failed batch reloads the index)
            self.keys.add([(a.id, sig.day, sig.terms, sig.bands)])
            known[a.id] = (next_seq, Known(a.id, decision.duplicate_of or a.id, sig.minhash))
            overlay.add(a.id, sig)
            next_seq += 1
        started = time.perf_counter()
        self._group(cur, batch, {a.id: sigs[a.id].day for a in articles}, edges)
        batch.story_seconds += time.perf_counter() - started
        self._index_rows(batch, articles, sigs, known, edges)
        return batch

    def _compare(self, article_id: str, sig: Signature, matched: str | None,
                 edges: dict[tuple[str, str], float]) -> None:
        """The new article's edges: to its story candidates, stored or earlier in the batch
        (compared in one call), and, whatever their dates, to the original it copies."""
        found = self.keys.candidates(sig.keys, sig.day) if len(sig.keys) >= MIN_SHARED_KEYS else []
        edges.update(((article_id, other), sim) for other, sim in zip(found, self.keys.similarities(sig.terms, found))
                     if sim >= stories.EDGE_FLOOR)
        if matched and (article_id, matched) not in edges:
            edges[(article_id, matched)] = self.keys.similarities(sig.terms, [matched])[0]

    def _group(self, cur, batch: DedupBatch, days: dict[str, int], edges: dict[tuple[str, str], float]) -> None:
        """Group the neighbourhood of the new articles again; stored articles that change story
        are noted in `batch.regrouped` (and updated by `write`)."""
        days, edges, stored_story = self._neighbourhood(cur, days, edges)
        story_of = stories.group(days, edges)
        for article_id, decision in batch.decisions.items():
            story = story_of[article_id]
            kind = decision.kind if decision.duplicate_of else ("new" if story == article_id else "joined")
            batch.decisions[article_id] = dataclasses.replace(decision, story_id=story, kind=kind)
            setattr(batch, kind, getattr(batch, kind) + 1)
        batch.regrouped = {
            i: (was, story_of[i]) for i, was in stored_story.items() if story_of.get(i, was) != was
        }
        stored_sizes = Counter(stored_story.values())
        members: dict[str, list[str]] = defaultdict(list)
        for article_id, story in story_of.items():
            members[story].append(article_id)
        batch.formed = sum(
            1 for group in members.values()
            if len(group) > 1 and all(stored_sizes[stored_story[m]] == 1 for m in group if m in stored_story)
        )

    def _neighbourhood(self, cur, days: dict[str, int], edges: dict[tuple[str, str], float]):
        """Everything edges of at least LINK_THRESHOLD reach from the new articles (up to
        MAX_NEIGHBOURHOOD stored articles a batch), with every edge among them (each article's
        strongest) and their stored stories."""
        days, edges = dict(days), dict(edges)
        stored_story: dict[str, str | None] = {}
        linked = defaultdict(set)
        for (a, b), sim in edges.items():
            if sim >= stories.LINK_THRESHOLD:
                linked[a].add(b)
                linked[b].add(a)
        frontier = {b for a in days for b in linked[a]} - set(days)
        while frontier and len(stored_story) < MAX_NEIGHBOURHOOD:
            level = sorted(frontier)[:MAX_NEIGHBOURHOOD - len(stored_story)]
            for article_id, day, story_id in self._in(
                cur, "SELECT article_id, day, story_id FROM dedup_signatures WHERE article_id IN ({marks})", level,
            ):
                days[article_id], stored_story[article_id] = day, story_id
            # an article's EDGES_PER_ARTICLE strongest edges are what grouping reads of it: an old
            # article in a dense run of alike reports gains edges from every later one
            for article_id, other_id, sim in self.dialect.strongest_edges(cur, level, stories.EDGES_PER_ARTICLE):
                edges[(article_id, other_id)] = sim
                if sim >= stories.LINK_THRESHOLD:
                    linked[article_id].add(other_id)
            frontier = {b for a in level for b in linked[a]} - set(days)
        return days, edges, stored_story

    def _index_rows(self, batch: DedupBatch, articles: list[Article], sigs: dict[str, Signature],
                    known: dict, edges: dict[tuple[str, str], float]) -> None:
        sig_rows, edge_rows = batch.rows
        for a in articles:
            sig, decision = sigs[a.id], batch.decisions[a.id]
            sig_rows.append((a.id, known[a.id][0], sig.text_hash, _encode_minhash(sig.minhash),
                             orjson.dumps(sig.terms).decode(), sig.day, decision.duplicate_of or a.id,
                             decision.story_id))
            batch.keys.append((a.id, sig.day, sig.terms, sig.bands))
            batch.last_seq = max(batch.last_seq, known[a.id][0])
        new = {a.id for a in articles}
        for (a, b), sim in edges.items():
            if a in new:  # an edge between two new articles was found once, by the later one
                edge_rows.extend([(a, b, sim), (b, a, sim)])

    def _catch_up(self, cur) -> None:
        """Bring the key index up to what the database holds (under the sinks' lock): all of it
        when this sink starts or `newsflow stories --regroup` rewrote the vectors, else the
        rows other sinks indexed since this one last looked."""
        cur.execute("SELECT generation FROM index_generation")
        generation = cur.fetchone()[0]
        if generation != self.keys.generation:
            self.forget()
            self.keys.generation = generation
        cur.execute("SELECT article_id, seq, day, terms, minhash FROM dedup_signatures WHERE seq > "
                    f"{self.ph} ORDER BY seq", [self.keys.seen_seq])
        rows = self._stored_rows(cur)
        if self.keys.seen_seq:
            self.keys.add(rows)  # what other sinks stored since this one last looked: in place if few
        else:
            self.keys.load(rows)

    def _stored_rows(self, cur):
        """KeyIndex rows of the rows `cur` selected, fetched a page at a time and parsed one at a
        time: a first load reads every row, and pages of 5,000 parsed at once left ~35 MB more
        of the sink's memory behind them at 100,000 articles (BENCHMARKS.md)."""
        while rows := cur.fetchmany(1000):
            for article_id, seq, day, terms, minhash in rows:
                yield article_id, day, orjson.loads(terms), band_keys(_decode_minhash(minhash))
                self.keys.seen_seq = seq

    def committed(self, batch: DedupBatch) -> None:
        """The transaction that wrote `batch` has committed: its articles become candidates."""
        self.keys.add(batch.keys)
        self.keys.seen_seq = max(self.keys.seen_seq, batch.last_seq)

    def forget(self) -> None:
        """The database may differ from what this index holds (a failed commit): read it all again."""
        self.keys = KeyIndex()

    def _candidates(self, cur, articles: list[Article], sigs: dict[str, Signature]):
        """What the index already holds that `articles` may copy: by exact text hash and by
        MinHash band, with their MinHashes (story candidates are looked up article by article)."""
        by_hash: dict[str, list[str]] = defaultdict(list)
        for article_id, text_hash in self._in(
            cur, "SELECT article_id, text_hash FROM dedup_signatures WHERE text_hash IN ({marks}) ORDER BY seq",
            [sigs[a.id].text_hash for a in articles],
        ):
            by_hash[text_hash].append(article_id)
        by_band = self.keys.sharing_bands(k for a in articles for k in sigs[a.id].bands)
        copies = {i for ids in by_hash.values() for i in ids[:1]} | {i for ids in by_band.values() for i in ids}
        known: dict[str, tuple[int, Known]] = {}  # only copies compare MinHashes: story candidates stay in memory
        for article_id, seq, root_id, minhash in self._in(
            cur, "SELECT article_id, seq, root_id, minhash FROM dedup_signatures WHERE article_id IN ({marks})",
            list(copies),
        ):
            known[article_id] = (seq, Known(article_id, root_id, _decode_minhash(minhash)))
        return by_hash, by_band, known

    def write(self, cur, batch: DedupBatch, stored_at: float) -> None:
        """Index the articles of `batch` and move stored ones to their new stories; called after
        the batch's rows are in `articles`."""
        started = None
        for table, rows in zip(TABLES, batch.rows):
            if table == "story_edges":
                started = time.perf_counter()
            if rows:
                self.dialect.insert_rows(cur, table, TABLES[table], rows)
        moves = [(story, article_id) for article_id, (_, story) in sorted(batch.regrouped.items())]
        if moves:
            cur.executemany(f"UPDATE dedup_signatures SET story_id = {self.ph} WHERE article_id = {self.ph}", moves)
            cur.executemany(f"UPDATE articles SET story_id = {self.ph} WHERE id = {self.ph}", moves)
        current = {d.story_id for d in batch.decisions.values()} | {story for story, _ in moves}
        cur.executemany(
            f"INSERT INTO stories (story_id, first_article_id, created_at) VALUES ({self.ph}, {self.ph}, {self.ph}) "
            "ON CONFLICT (story_id) DO NOTHING", [(story, story, stored_at) for story in sorted(current)])
        emptied = sorted({was for was, _ in batch.regrouped.values() if was} - current)
        cur.executemany(
            f"DELETE FROM stories WHERE story_id = {self.ph} AND NOT EXISTS "
            f"(SELECT 1 FROM articles WHERE story_id = {self.ph})", [(story, story) for story in emptied])
        batch.story_seconds += time.perf_counter() - started


class _BatchOverlay:
    """The articles decided earlier in the same batch, not yet written, as candidates for copies
    (as story candidates they are in the key index already)."""

    def __init__(self):
        self.by_hash: dict[str, str] = {}
        self.by_band: dict[int, list[str]] = defaultdict(list)

    def add(self, article_id: str, sig: Signature) -> None:
        self.by_hash.setdefault(sig.text_hash, article_id)
        for band in dict.fromkeys(sig.bands):
            self.by_band[band].append(article_id)

    def exact(self, sig: Signature) -> list[str]:
        return [self.by_hash[sig.text_hash]] if sig.text_hash in self.by_hash else []

    def near(self, sig: Signature) -> list[str]:
        return [i for band in sig.bands for i in self.by_band.get(band, ())]


def with_decisions(articles: list[Article], decisions: dict[str, Decision]) -> list[Article]:
    return [
        dataclasses.replace(a, duplicate_of=decisions[a.id].duplicate_of, story_id=decisions[a.id].story_id)
        if a.id in decisions else a
        for a in articles
    ]
