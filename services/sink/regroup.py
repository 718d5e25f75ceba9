"""`newsflow stories --regroup`: every stored article's story decided again under the rule as it
is now (services/sink/dedup.py, stories.py), after the rule changed; `--dry-run` shows the diff.

The sink decides stories as articles arrive and never revisits stored ones: a replay changes
nothing. When the rule changes (a threshold, the word weights), the stories stored under the
old rule stay until this runs. It reads every article's stored text, computes its signature
again, compares every pair the rule compares (without the sink's lookup limits), groups, and
writes the index and the story ids in one transaction under the sinks' lock.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import orjson

from services.sink import stories
from services.sink.dedup import MIN_SHARED_KEYS, Signature, signature, story_similarity


@dataclass(frozen=True)
class Stored:
    id: str
    title: str | None
    text: str
    language: str | None
    day: int
    story_id: str | None
    duplicate_of: str | None


@dataclass
class RegroupPlan:
    story_of: dict[str, str]
    was: dict[str, str | None]
    signatures: dict[str, Signature]
    edges: dict[tuple[str, str], float]
    moved: list[str] = field(default_factory=list)  # articles whose story changes

    def summary(self) -> dict:
        before = Counter(s for s in self.was.values() if s)
        after = Counter(self.story_of.values())
        return {
            "articles": len(self.story_of), "moved": len(self.moved),
            "stories_before": len(before), "stories_after": len(after),
            "multi_before": sum(1 for n in before.values() if n > 1),
            "multi_after": sum(1 for n in after.values() if n > 1),
        }


def plan(rows: list[Stored]) -> RegroupPlan:
    sigs = {r.id: signature(r.title, r.text, r.language, r.day) for r in rows}
    edges = compared_pairs(sigs)
    for r in rows:
        if r.duplicate_of in sigs:  # as the sink does: a copy is compared with its original
            pair = (min(r.id, r.duplicate_of), max(r.id, r.duplicate_of))  # compared_pairs' order
            edges[pair] = story_similarity(sigs[r.id].terms, sigs[r.duplicate_of].terms)
    edges = stories.strongest(edges)  # what the sink reads of an article's edges
    story_of = stories.group({i: s.day for i, s in sigs.items()}, edges)
    was = {r.id: r.story_id for r in rows}
    moved = sorted(i for i in story_of if story_of[i] != was[i])
    return RegroupPlan(story_of, was, sigs, edges, moved)


def compared_pairs(sigs: dict[str, Signature]) -> dict[tuple[str, str], float]:
    """Every pair within the window sharing MIN_SHARED_KEYS keys, with its similarity (over the floor)."""
    postings: dict[str, list[str]] = defaultdict(list)
    for article_id in sorted(sigs):
        for key in sigs[article_id].keys:
            postings[key].append(article_id)
    edges: dict[tuple[str, str], float] = {}
    for article_id in sorted(sigs):
        sig = sigs[article_id]
        shared = Counter(other for key in sig.keys for other in postings[key] if other > article_id)
        for other, count in shared.items():
            if count < MIN_SHARED_KEYS or abs(sigs[other].day - sig.day) > stories.WINDOW_DAYS:
                continue
            sim = story_similarity(sig.terms, sigs[other].terms)
            if sim >= stories.EDGE_FLOOR:
                edges[(article_id, other)] = sim
    return edges


def apply(cur, ph: str, insert_rows, plan_: RegroupPlan, now: float) -> None:
    """Write `plan_` in the caller's transaction (which holds the sinks' lock)."""
    cur.execute("DELETE FROM story_edges")
    cur.execute("UPDATE index_generation SET generation = generation + 1")  # running sinks reload
    both_ways = [row for (a, b), sim in plan_.edges.items() for row in ((a, b, sim), (b, a, sim))]
    if both_ways:
        insert_rows(cur, "story_edges", ("article_id", "other_id", "sim"), both_ways)
    cur.executemany(
        f"UPDATE dedup_signatures SET terms = {ph}, story_id = {ph} WHERE article_id = {ph}",
        [(orjson.dumps(s.terms).decode(), plan_.story_of[i], i) for i, s in plan_.signatures.items()],
    )
    cur.executemany(f"UPDATE articles SET story_id = {ph} WHERE id = {ph}",
                    [(plan_.story_of[i], i) for i in plan_.moved])
    cur.execute("DELETE FROM stories")
    cur.executemany(f"INSERT INTO stories (story_id, first_article_id, created_at) VALUES ({ph}, {ph}, {ph})",
                    [(s, s, now) for s in sorted(set(plan_.story_of.values()))])
