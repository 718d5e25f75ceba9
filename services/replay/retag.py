"""`newsflow retag`: the stored articles under a new taxonomy.

--dry-run tags each stored article with the new taxonomy (the tagger's own pure
`tag_article`) and prints who would gain or lose which tag. Otherwise the new file becomes
the live taxonomy file, which the running tagger reloads (NEWSFLOW_TAXONOMY_RELOAD_S), and
the window's articles are published again, from the database (the broker keeps only
NEWSFLOW_KAFKA_RETENTION_HOURS of history, Tansu nothing across restarts), to news.clean: the live tagger tags and routes them (news.tagged,
news.topic.<tag>, its metrics) and the live sink stores them, as for any new article.

How retag knows the tagger has switched, wherever it runs: it publishes one article first
and waits until the sink has stored it again under the new version (a canary), publishing
it again until then. Any article a not-yet-reloaded worker still tags under the old version
is published again, until every article of the window is stored under the new one.
"""
from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from services.replay.context import Pipeline
from services.replay.groups import describe_group
from services.replay.progress import Progress
from services.sink.results import StoredArticle
from shared.pipeline.topology import CLEAN, downstream_of
from services.sink.store import Store
from services.tagger.tag import tag_article
from services.tagger.taxonomy import Taxonomy, TaxonomyError, load_taxonomy
from shared.kafka import ensure_topics, make_producer
from shared.pipeline.publish import CheckedPublisher
from shared.schema import encode

log = logging.getLogger(__name__)
POLL_S = 0.5


class RetagError(RuntimeError):
    pass


@dataclass
class Change:
    id: str
    title: str | None
    url: str
    gained: list[str]
    lost: list[str]


@dataclass
class Diff:
    checked: int = 0
    changes: list[Change] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)  # every article of the window

    def per_tag(self) -> dict[str, tuple[int, int]]:
        gained = Counter(t for c in self.changes for t in c.gained)
        lost = Counter(t for c in self.changes for t in c.lost)
        return {t: (gained[t], lost[t]) for t in sorted(set(gained) | set(lost))}


def change_of(row: StoredArticle, taxonomy: Taxonomy) -> Change | None:
    new = {t.name for t in tag_article(row.as_article(), taxonomy).tags}
    old = set(row.tags)
    if new == old:
        return None
    return Change(row.id, row.title, row.url, sorted(new - old), sorted(old - new))


def diff(store: Store, taxonomy: Taxonomy, since: float | None) -> Diff:
    """Page through the window (only ids are kept: a window may be large)."""
    result = Diff()
    for row in store.iter_articles(stored_since=since):
        result.checked += 1
        result.ids.append(row.id)
        change = change_of(row, taxonomy)
        if change:
            result.changes.append(change)
    return result


def render_diff(result: Diff, limit: int | None = None) -> str:
    lines = []
    changes = sorted(result.changes, key=lambda c: (c.title or "", c.id))
    for c in changes[:limit]:
        marks = " ".join([f"+{t}" for t in c.gained] + [f"-{t}" for t in c.lost])
        lines.append(f"  {marks:<24} {c.id}  {c.title or '(no title)'}  {c.url}")
    if limit is not None and len(changes) > limit:
        lines.append(f"  ... and {len(changes) - limit} more (--dry-run lists them all)")
    per_tag = ", ".join(f"{t} +{g} -{l}" for t, (g, l) in result.per_tag().items()) or "no change"
    lines.append(f"per tag: {per_tag}")
    lines.append(f"{len(result.changes)} of {result.checked} article(s) would change")
    return "\n".join(lines)


def load_new(path: Path) -> Taxonomy:
    try:
        return load_taxonomy(path)
    except TaxonomyError as exc:
        raise RetagError(f"the new taxonomy does not load: {exc}") from None


def live_taxonomy(pipeline: Pipeline) -> Taxonomy | None:
    try:
        return load_taxonomy(pipeline.settings.taxonomy_file)
    except TaxonomyError:
        return None  # a broken live file: the new one replaces it


def install(pipeline: Pipeline, new_file: Path, live: Taxonomy | None) -> bool:
    """Make `new_file` the live taxonomy file (atomically); keep the old one in the data dir.
    Returns False when it already is the live file."""
    target = Path(pipeline.settings.taxonomy_file)
    data = new_file.read_bytes()
    if target.exists() and target.read_bytes() == data:
        return False
    if target.exists():
        history = pipeline.settings.data_dir / "taxonomy-history"
        history.mkdir(parents=True, exist_ok=True)
        name = f"{live.version if live else 'broken'}-{int(time.time())}.yaml"
        (history / name).write_bytes(target.read_bytes())
    tmp = target.with_name(f".{target.name}.retag-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)  # the tagger never reads half a file
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RetagError(f"cannot install the new taxonomy as {target}: {exc}") from None
    return True


class Republisher:
    """Publishes stored articles to news.clean and tracks which came back under `version`."""

    def __init__(self, pipeline: Pipeline, store: Store, version: str):
        self.settings = pipeline.settings
        self.store, self.version = store, version
        self.publisher = CheckedPublisher(make_producer(self.settings))
        self.sent_at: dict[str, float] = {}  # id -> its stored_at when we (re)published it
        self.republished = 0

    def publish(self, rows: list[StoredArticle]) -> None:
        for row in rows:
            self.sent_at[row.id] = row.stored_at
            self.publisher.send(self.settings.clean_topic, row.id.encode(), encode(row.as_article()))
        self.publisher.confirm()

    def resend(self, ids: list[str]) -> None:
        self.publish([row for row in map(self.store.get_article, ids) if row is not None])
        self.republished += len(ids)

    def settle(self, ids: list[str]) -> tuple[list[str], list[str]]:
        """(done, stale): stored again under the new version / stored again under an old one."""
        now = self.store.stored_versions(ids)
        done, stale = [], []
        for i in ids:
            version, stored_at = now.get(i, (self.version, None))
            if stored_at is None or (stored_at != self.sent_at[i] and version == self.version):
                done.append(i)  # retagged (or deleted meanwhile)
            elif stored_at != self.sent_at[i]:
                stale.append(i)
        return done, stale

    def close(self) -> None:
        self.publisher.close()


def _require_running(pipeline: Pipeline) -> None:
    for stage in downstream_of(CLEAN):
        group = pipeline.settings.group(stage)
        if not describe_group(pipeline.settings, group).live:
            raise RetagError(
                f"retag goes through the running tagger and sink, and the {stage}'s group {group} has no live "
                f"member: start the pipeline (`newsflow run`) first, or use --dry-run to see the changes"
            )


def retag(
    pipeline: Pipeline, store: Store, new_file: Path, since: float | None, timeout_s: float,
    echo: Callable[[str], None],
) -> Diff:
    new = load_new(new_file)
    live = live_taxonomy(pipeline)
    if live and live.version == new.version and Path(pipeline.settings.taxonomy_file).read_bytes() != new_file.read_bytes():
        raise RetagError(
            f"{new_file} has the version of the live taxonomy ({new.version}) but other content: bump its "
            f"`version`, so that articles tagged under each can be told apart"
        )
    _require_running(pipeline)
    result = diff(store, new, since)
    echo(f"retag under taxonomy {new.version} (live: {live.version if live else 'none'}): "
         f"{result.checked} stored article(s) in the window")
    echo(render_diff(result, limit=20))
    if install(pipeline, new_file, live):
        echo(f"installed {new_file} as the live taxonomy {pipeline.settings.taxonomy_file}")
    ensure_topics(pipeline.settings, [pipeline.settings.tag_topic(t.name) for t in new.topics])
    if not result.ids:
        return result
    republisher = Republisher(pipeline, store, new.version)
    deadline = time.monotonic() + timeout_s
    try:
        canary = result.ids[0]
        echo(f"waiting for the tagger to run taxonomy {new.version} (article {canary} goes first)")
        republisher.publish([store.get_article(canary)])
        _wait(republisher, [canary], deadline)
        rest = set(result.ids[1:])
        echo(f"the tagger runs taxonomy {new.version}; publishing the other {len(rest)} article(s) again")
        batch: list[dict] = []
        for row in store.iter_articles(stored_since=since):  # a page at a time, from the database
            if row.id in rest:
                batch.append(row)
            if len(batch) >= 500:
                republisher.publish(batch)
                batch = []
        republisher.publish(batch)
        progress = Progress("retag", len(rest), "articles stored under " + new.version, rate_unit="articles")
        _wait(republisher, sorted(rest), deadline, progress)
        if rest:
            progress.finish()
    finally:
        republisher.close()
    if republisher.republished:
        echo(f"{republisher.republished} article(s) were published once more: a tagger worker had not reloaded yet")
    return result


def _wait(republisher: Republisher, ids: list[str], deadline: float, progress: Progress | None = None) -> None:
    """Until every id is stored again under the new version; stale ones are published again."""
    waiting = set(ids)
    next_resend = time.monotonic() + 2.0
    while waiting:
        done, stale = republisher.settle(sorted(waiting))
        waiting -= set(done)
        if progress is not None and done:
            progress.advance(len(done))
        if stale and time.monotonic() >= next_resend:
            republisher.resend(stale)  # a worker tagged these before it reloaded the file
            next_resend = time.monotonic() + 2.0
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise RetagError(
                f"{len(waiting)} article(s) not stored under taxonomy {republisher.version} in time: is the tagger "
                f"watching {republisher.settings.taxonomy_file} and the sink running? (newsflow dlq list shows "
                f"what they could not handle)"
            )
        time.sleep(POLL_S)
