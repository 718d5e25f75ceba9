"""`newsflow stories`: stored stories, newest first, read from the articles table (a story is
the articles that share a story_id; services/sink/stories.py decides it)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from services.sink.results import StoryMember, StorySummary

WHEN = "COALESCE(articles.published_ts, articles.stored_at)"
Query = Callable[[str, Sequence], list[tuple]]


def list_stories(query: Query, *, since: float | None = None, tag: str | None = None,
                 min_size: int = 1, limit: int | None = None) -> list[StorySummary]:
    """Stories with an article published (or, undated, stored) since `since`, and one tagged `tag`;
    of at least `min_size` articles; the one with the latest article first."""
    where, params = ["articles.story_id IS NOT NULL"], []
    if since is not None:
        where.append(f"articles.story_id IN (SELECT story_id FROM articles WHERE {WHEN} >= ?)")
        params.append(float(since))
    if tag:
        where.append("articles.story_id IN (SELECT a.story_id FROM articles a "
                     "JOIN article_tags t ON t.article_id = a.id WHERE t.tag = ?)")
        params.append(tag)
    sql = (f"SELECT articles.story_id, COUNT(*), MIN({WHEN}), MAX({WHEN}) FROM articles "
           f"WHERE {' AND '.join(where)} GROUP BY articles.story_id HAVING COUNT(*) >= ? "
           f"ORDER BY MAX({WHEN}) DESC, articles.story_id")
    params.append(int(min_size))
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit))
    heads = query(sql, params)
    members = _members(query, [h[0] for h in heads])
    out = []
    for story_id, size, first_at, last_at in heads:
        articles = members.get(story_id, [])
        outlets = Counter(m.source for m in articles)
        out.append(StorySummary(
            story_id=story_id, size=int(size), first_at=float(first_at), last_at=float(last_at),
            outlets=tuple(sorted(outlets, key=lambda s: (-outlets[s], s))), articles=tuple(articles),
        ))
    return out


def _members(query: Query, story_ids: list[str]) -> dict[str, list[StoryMember]]:
    found: dict[str, list[StoryMember]] = {}
    for start in range(0, len(story_ids), 500):
        chunk = story_ids[start:start + 500]
        rows = query(
            "SELECT story_id, id, title, source, published_at, duplicate_of FROM articles "
            f"WHERE story_id IN ({', '.join('?' * len(chunk))}) ORDER BY {WHEN}, id", chunk,
        )
        for story_id, *member in rows:
            found.setdefault(story_id, []).append(StoryMember(*member))
    return found
