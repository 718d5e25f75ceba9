"""Stories: which stored articles report one event, as a function of the articles alone.

Pure: no database. The sink (services/sink/dedup_index.py) finds each new article's
neighbours, keeps the similarities as edges, and calls `group` on the neighbourhood the new
articles touched.

The rule, chosen by measurement on ../shared/testdata/stories (BENCHMARKS.md, issue 14):
- Two articles are compared when they were published within WINDOW_DAYS of each other and
  share at least MIN_SHARED_KEYS of their heaviest words (services/sink/dedup.py); their
  similarity is dedup.story_similarity of the title-weighted word vectors. A similarity under
  EDGE_FLOOR is not kept and counts as 0.
- A neighbourhood is what edges of at least LINK_THRESHOLD connect, directly or through others.
- Inside a neighbourhood, groups merge by average link: the two groups whose average
  similarity over every pair between them (0 for pairs without an edge) is highest merge, while
  it is at least STORY_THRESHOLD and some pair between them is linked. Two lone articles start
  a story only if they are at least PAIR_THRESHOLD alike: a story needs two reports that
  clearly tell the same thing, then takes in the reports that resemble it as a whole. An
  average, unlike the single best pair, does not let a story drift from report to report into
  another event; the pair rule keeps reports that share only their background (the same
  leaders, the same dispute) apart.
- A story's id is the id of its earliest article (publication day, then id).

Neither the order the articles arrived in, nor how they were batched or split between sink
workers, enters the rule: the same articles give the same stories. Ties are broken by ids.
"""
from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Mapping

WINDOW_DAYS = 90
EDGE_FLOOR = 0.03
LINK_THRESHOLD = 0.1
PAIR_THRESHOLD = 0.26
STORY_THRESHOLD = 0.08
EDGES_PER_ARTICLE = 60  # the strongest edges of an article that grouping reads (stories.strongest)
_PRECISION = 9  # averages are compared rounded, so the order of a sum cannot break a tie


def strongest(edges: Mapping[tuple[str, str], float], per_article: int = 0) -> dict[tuple[str, str], float]:
    """The pairs among each article's `per_article` most similar (ties by id), from either side."""
    per_article = per_article or EDGES_PER_ARTICLE
    ranked: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for (a, b), sim in edges.items():
        ranked[a].append((-sim, b))
        ranked[b].append((-sim, a))
    kept = {(a, b) for a, row in ranked.items() for _, b in sorted(row)[:per_article]}
    return {(a, b): sim for (a, b), sim in edges.items() if (a, b) in kept or (b, a) in kept}


def neighbourhoods(members: Iterable[str], edges: Mapping[tuple[str, str], float]) -> list[list[str]]:
    """The groups that edges of at least LINK_THRESHOLD connect, each sorted, in order of their first id."""
    parent = {m: m for m in members}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for (a, b), sim in edges.items():
        if sim >= LINK_THRESHOLD and a in parent and b in parent:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = defaultdict(list)
    for m in sorted(parent):
        groups[root(m)].append(m)
    return sorted(groups.values())


def group(days: Mapping[str, int], edges: Mapping[tuple[str, str], float]) -> dict[str, str]:
    """Story id of every article in `days` (article -> publication day), given the similarity of
    each compared pair in `edges` (either order; pairs outside `days` are ignored)."""
    story: dict[str, str] = {}
    found = neighbourhoods(days, edges)
    where = {m: n for n, members in enumerate(found) for m in members}
    inside: list[dict[tuple[str, str], float]] = [{} for _ in found]  # each neighbourhood's own edges
    for (a, b), sim in edges.items():
        if a in where and where[a] == where.get(b):
            inside[where[a]][(a, b)] = sim
    for members, own in zip(found, inside):
        for cluster in average_link(members, own):
            first = min(cluster, key=lambda m: (days[m], m))
            story.update((m, first) for m in cluster)
    return story


def average_link(members: list[str], edges: Mapping[tuple[str, str], float]) -> list[list[str]]:
    """Agglomerative clustering of `members` by average link, stopping under STORY_THRESHOLD.

    Two lone articles start a story only if they are at least PAIR_THRESHOLD alike; groups then
    merge on a lower average, provided some pair between them is linked (LINK_THRESHOLD). The
    candidate merges wait in a heap; one whose groups have changed since is skipped when popped,
    so each step costs a logarithm, not a scan of every pair."""
    inside = set(members)
    clusters: dict[str, list[str]] = {m: [m] for m in members}  # keyed by the smallest id
    between: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)  # (sum, max) of similarities
    for (a, b), sim in edges.items():
        if a in inside and b in inside and a != b and sim >= EDGE_FLOOR:
            between[a][b] = between[b][a] = (sim, sim)
    version = dict.fromkeys(members, 0)
    heap: list[tuple[float, str, str, int, int]] = []
    for a, row in between.items():
        for b in row:
            if a < b:
                _offer(heap, clusters, between, version, a, b)
    while heap:
        _, a, b, version_a, version_b = heapq.heappop(heap)
        if version.get(a) != version_a or version.get(b) != version_b:
            continue  # a group has changed (or gone) since this was offered
        _merge(clusters, between, version, a, b)
        for other in between[a]:
            _offer(heap, clusters, between, version, min(a, other), max(a, other))
    return sorted(sorted(c) for c in clusters.values())


def _offer(heap, clusters, between, version, a: str, b: str) -> None:
    """Push the merge of groups a < b if the rule allows it, keyed by (-average, a, b)."""
    total, closest = between[a][b]
    size_a, size_b = len(clusters[a]), len(clusters[b])
    if closest < (PAIR_THRESHOLD if size_a == size_b == 1 else LINK_THRESHOLD):
        return
    average = round(total / (size_a * size_b), _PRECISION)
    if average >= STORY_THRESHOLD:
        heapq.heappush(heap, (-average, a, b, version[a], version[b]))


def _merge(clusters, between, version, a: str, b: str) -> None:
    """Group b into group a (a < b): sums add up, the closest pair is the closer of the two."""
    clusters[a] += clusters.pop(b)
    del version[b]
    version[a] += 1
    for other, (total, closest) in between.pop(b).items():
        between[other].pop(b, None)
        if other != a:
            kept_total, kept_closest = between[a].get(other, (0.0, 0.0))
            between[a][other] = between[other][a] = (kept_total + total, max(kept_closest, closest))
    between[a].pop(b, None)
