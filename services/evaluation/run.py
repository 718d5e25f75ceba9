"""`newsflow eval`: the cleaner, tagger and duplicate/story index measured against labelled data.

Everything runs through the code the pipeline runs: `clean_article`, `tag_article`, and the
sink's Store (a temporary SQLite database with its duplicate and story index).
"""
from __future__ import annotations

import gzip
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from services.cleaner.clean import clean_article
from services.evaluation.dataset import Case
from services.evaluation.scores import PRF, benchmark_scores, page_scores, prf, same_cluster_pairs
from services.sink.results import StoredArticle
from services.sink.store import open_store
from services.tagger.tag import tag_article
from services.tagger.taxonomy import Taxonomy
from shared.schema import Article

TAG_F1_TARGET = 0.95
STORY_RECALL_TARGET = 0.95
DUPLICATE_F1_TARGET = 0.95
BOILERPLATE_REMOVED_TARGET = 0.95
BODY_KEPT_TARGET = 0.99
TRAFILATURA_F1 = 0.958  # the benchmark's own figure for trafilatura 2.0 (its README)
EXTRACTION_F1_TARGET = TRAFILATURA_F1 - 0.01
STORE_BATCH = 10  # articles per upsert, as the sink batches them


@dataclass
class Check:
    name: str
    value: float | bool
    target: float | bool | None = None  # None: reported, not a target

    @property
    def ok(self) -> bool:
        if self.target is None:
            return True
        if isinstance(self.target, bool):
            return self.value == self.target
        return self.value >= self.target


@dataclass
class Section:
    title: str
    checks: list[Check] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # details: failures, per-item notes

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def pipeline(articles: list[Article], taxonomy: Taxonomy, db_path: Path) -> tuple[dict[str, Article], dict[str, StoredArticle], list[str]]:
    """Clean, tag and store `articles` in order; (tagged articles, stored rows, errors) by id."""
    tagged: dict[str, Article] = {}
    errors = []
    for article in articles:
        try:
            tagged[article.id] = tag_article(clean_article(article), taxonomy)
        except ValueError as exc:
            errors.append(f"{article.id}: {exc}")
    store = open_store(f"sqlite:///{db_path}")
    try:
        items = list(tagged.values())
        for i in range(0, len(items), STORE_BATCH):
            store.upsert(items[i:i + STORE_BATCH])
        rows = {r.id: r for r in store.list_articles()}
    finally:
        store.close()
    return tagged, rows, errors


def _prf_checks(section: Section, name: str, score: PRF, target: float | None) -> None:
    section.checks += [
        Check(f"{name} precision", score.precision), Check(f"{name} recall", score.recall),
        Check(f"{name} F1", score.f1, target),
    ]


def evaluate_set(cases: list[Case], taxonomy: Taxonomy) -> list[Section]:
    with tempfile.TemporaryDirectory() as tmp:
        tagged, rows, errors = pipeline([c.article for c in cases], taxonomy, Path(tmp) / "eval.db")
    tags = Section(f"tags on our set ({len(cases)} articles, taxonomy {taxonomy.version})")
    tags.lines += [f"cleaning failed: {e}" for e in errors]
    for topic in taxonomy.topics:
        expected = {c.id for c in cases if topic.name in c.tags}
        predicted = {i for i, a in tagged.items() if topic.name in {t.name for t in a.tags}}
        _prf_checks(tags, topic.name, prf(expected, predicted), TAG_F1_TARGET)
        tags.lines += [f"{topic.name}: missed {i}" for i in sorted(expected - predicted)]
        tags.lines += [f"{topic.name}: wrongly given to {i}" for i in sorted(predicted - expected)]

    clean = Section("boilerplate (lines of our set)")
    kept = removed = body_total = junk_total = 0
    for case in cases:
        paragraphs = [" ".join(p.split()) for p in tagged[case.id].text.split("\n")] if case.id in tagged else []
        text = " ".join(paragraphs)
        for line in case.body_lines:
            body_total += 1
            if line in text:
                kept += 1
            else:
                clean.lines.append(f"{case.id}: body line lost: {line[:70]!r}")
        for line in case.boilerplate_lines:
            junk_total += 1
            line = " ".join(line.split())
            # a short line ("-", "Tweet") is kept only if it stands alone; a longer one anywhere
            if line not in paragraphs and (len(line) < 12 or line not in text):
                removed += 1
            else:
                clean.lines.append(f"{case.id}: boilerplate kept: {line!r}")
    clean.checks += [
        Check(f"boilerplate removed ({removed}/{junk_total})", removed / (junk_total or 1), BOILERPLATE_REMOVED_TARGET),
        Check(f"body kept ({kept}/{body_total})", kept / (body_total or 1), BODY_KEPT_TARGET),
    ]

    dedup = Section("duplicates and stories (the sink's store on a temporary SQLite)")
    expected_dups = {(c.id, c.duplicate_of) for c in cases if c.duplicate_of}
    found_dups = {(i, r.duplicate_of) for i, r in rows.items() if r.duplicate_of}
    _prf_checks(dedup, "duplicates", prf(expected_dups, found_dups), DUPLICATE_F1_TARGET)
    dedup.lines += [f"duplicate missed: {a} of {b}" for a, b in sorted(expected_dups - found_dups)]
    dedup.lines += [f"wrong duplicate: {a} of {b}" for a, b in sorted(found_dups - expected_dups)]
    expected_pairs = same_cluster_pairs({c.id: c.story for c in cases if c.id in rows})
    found_pairs = same_cluster_pairs({i: r.story_id for i, r in rows.items()})
    # Our set's story labels mark rewrites and copies of one report: each must share a story
    # (recall). Its different-event pairs on one subject, all undated, are a harder test than a
    # real stream; the story precision target is on the same-event set (evaluation/stories.py).
    story_score = prf(expected_pairs, found_pairs)
    dedup.checks += [
        Check("story pairs precision", story_score.precision),
        Check("story pairs recall", story_score.recall, STORY_RECALL_TARGET),
    ]
    dedup.lines += [f"story pair missed: {' + '.join(sorted(p))}" for p in sorted(expected_pairs - found_pairs, key=sorted)]
    dedup.lines += [f"wrong story pair: {' + '.join(sorted(p))}" for p in sorted(found_pairs - expected_pairs, key=sorted)]
    return [tags, clean, dedup]


# The issue-2 checks on ../shared/seeds, plus the story grouping (000 and 001 one story; 002,
# 003 and 004 each alone). Each takes the stored rows by file prefix.
SEED_CHECKS: list[tuple[str, Callable[[dict[str, StoredArticle]], bool]]] = [
    ("five articles stored", lambda a: sorted(a) == ["000", "001", "002", "003", "004"]),
    ("taiwan on all five", lambda a: all("taiwan" in r.tags for r in a.values())),
    ("balloon on 000, 001, 003 only", lambda a: {k for k, r in a.items() if "balloon" in r.tags} == {"000", "001", "003"}),
    ("hotline on 002 only", lambda a: {k for k, r in a.items() if "hotline" in r.tags} == {"002"}),
    ("title of 000 is its first line",
     lambda a: a["000"].title == "Biden will push China to resume military ties with US, official says"),
    ("title of 003 is its first line",
     lambda a: a["003"].title == "US, China top military officials speak for first time in over a year"),
    ("title of 004 is its first line",
     lambda a: a["004"].title == "China, US set for meeting of top military officials amid Taiwan tensions"),
    ("000 published 2023-11-13", lambda a: (a["000"].published_at or "").startswith("2023-11-13")),
    ("001 published 2023-11-17", lambda a: (a["001"].published_at or "").startswith("2023-11-17")),
    ("002 keeps 'not for lack of trying'", lambda a: "not for lack of trying" in a["002"].text),
    ("002 has no 'You May Also Like', 'Cal Raleigh', 'Share this @internewscast.com'",
     lambda a: not any(j in a["002"].text for j in ("You May Also Like", "Cal Raleigh", "Share this @internewscast.com"))),
    ("003 has no 'Dua Lipa'", lambda a: "Dua Lipa" not in a["003"].text),
    ("004 has no 'You might also like'", lambda a: "You might also like" not in a["004"].text),
    ("000 and 001 share a story", lambda a: a["000"].story_id == a["001"].story_id),
    ("002, 003, 004 each a story of its own",
     lambda a: len({a[k].story_id for k in ("000", "002", "003", "004")}) == 4),
    ("no seed is a duplicate", lambda a: all(r.duplicate_of is None for r in a.values())),
]


def evaluate_seeds(seeds: Path, taxonomy: Taxonomy) -> Section:
    from services.poller.ingest import ingest_paths

    section = Section(f"seeds ({seeds})")
    articles = [a for a in ingest_paths([seeds], time.time()) if isinstance(a, Article)]
    with tempfile.TemporaryDirectory() as tmp:
        _, rows, errors = pipeline(articles, taxonomy, Path(tmp) / "seeds.db")
    section.lines += [f"cleaning failed: {e}" for e in errors]
    by_prefix = {Path(r.url).name[:3]: r for r in rows.values()}
    for name, check in SEED_CHECKS:
        try:
            ok = bool(check(by_prefix))
        except KeyError as exc:
            ok, name = False, f"{name} (missing {exc})"
        section.checks.append(Check(name, ok, True))
    return section


def evaluate_extraction(folder: Path, progress: Callable[[int, int], None] | None = None) -> Section:
    """The ScrapingHub benchmark through `clean_article`, scored with the benchmark's metric."""
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    pages, failed = [], []
    for n, (key, item) in enumerate(sorted(truth.items()), 1):
        markup = gzip.decompress((folder / "html" / f"{key}.html.gz").read_bytes()).decode("utf-8", errors="replace")
        try:
            text = clean_article(Article(id=key, url=item.get("url") or key, source="benchmark",
                                         content=markup, content_type="text/html")).text or ""
        except ValueError:
            text, _ = "", failed.append(key)
        pages.append(page_scores(item.get("articleBody", ""), text))
        if progress:
            progress(n, len(truth))
    precision, recall, f1 = benchmark_scores(pages)
    section = Section(f"HTML extraction, ScrapingHub benchmark ({len(pages)} pages) through clean_article")
    section.checks += [
        Check("precision", precision), Check("recall", recall),
        Check(f"F1 (trafilatura in the benchmark: {TRAFILATURA_F1})", f1, EXTRACTION_F1_TARGET),
    ]
    section.lines += [f"no text extracted: {k}" for k in failed]
    return section


def render(sections: list[Section], details: bool) -> str:
    out = []
    for section in sections:
        out.append(f"== {section.title}: {'ok' if section.ok else 'BELOW TARGET'}")
        for c in section.checks:
            value = ("yes" if c.value else "NO") if isinstance(c.value, bool) else f"{c.value:.3f}"
            target = "" if c.target is None or isinstance(c.target, bool) else f"  (target >= {c.target:.3f})"
            mark = "  " if c.ok else "✗ "
            out.append(f"  {mark}{c.name:<60} {value}{target}")
        if details or not section.ok:
            out += [f"     - {line}" for line in section.lines]
    return "\n".join(out)
