"""Acceptance of the pipeline issue, end to end through the real local broker (Kafka, and Tansu in the fallback run)."""
from __future__ import annotations

import os

import orjson
import pytest

from tests.conftest import newsflow

pytestmark = [pytest.mark.integration, pytest.mark.fallback]


def _articles(db: str, env) -> dict[str, dict]:
    out = newsflow("articles", "--db", db, "--json", env=env)
    assert out.returncode == 0, out.stderr
    rows = [orjson.loads(line) for line in out.stdout.splitlines()]
    return {os.path.basename(r["url"])[:3]: r for r in rows}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """`newsflow run --once --ingest seeds` on its embedded default (it starts its own broker)."""
    from tests.conftest import SEEDS

    if not SEEDS.is_dir():
        pytest.skip(f"seed articles not found at {SEEDS}")
    work = tmp_path_factory.mktemp("seeds")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env["NEWSFLOW_DATA_DIR"] = str(work / "data")
    db = f"sqlite:///{work / 't.db'}"
    first = newsflow("run", "--once", "--ingest", str(SEEDS), "--db", db, env=env, cwd=work)
    assert first.returncode == 0, first.stderr[-3000:]
    return work, env, db, first


def test_once_prints_a_summary(seeded):
    _, _, _, first = seeded
    assert "articles stored: 5" in first.stdout
    assert "dead-lettered this run: 0" in first.stdout


def test_seed_articles_are_stored_clean_and_tagged(seeded):
    _, env, db, _ = seeded
    arts = _articles(db, env)
    assert sorted(arts) == ["000", "001", "002", "003", "004"]
    for row in arts.values():
        assert row["url"].startswith("file:///")
        for key in ("id", "source", "title", "text", "published_at", "tags", "duplicate_of", "story_id"):
            assert key in row
    assert all("taiwan" in r["tags"] for r in arts.values())
    assert {k for k, r in arts.items() if "balloon" in r["tags"]} == {"000", "001", "003"}
    assert {k for k, r in arts.items() if "hotline" in r["tags"]} == {"002"}
    assert arts["000"]["title"] == "Biden will push China to resume military ties with US, official says"
    assert arts["003"]["title"] == "US, China top military officials speak for first time in over a year"
    assert arts["004"]["title"] == "China, US set for meeting of top military officials amid Taiwan tensions"
    assert arts["000"]["published_at"].startswith("2023-11-13")
    assert arts["001"]["published_at"].startswith("2023-11-17")
    assert "not for lack of trying" in arts["002"]["text"]
    for junk in ("You May Also Like", "Cal Raleigh", "Share this @internewscast.com"):
        assert junk not in arts["002"]["text"]
    assert "Dua Lipa" not in arts["003"]["text"]
    assert "You might also like" not in arts["004"]["text"]


def test_seed_stories_and_no_duplicates(seeded):
    """001 rewrites 000: one story. 002, 003 and 004 are related events, each a story of its own."""
    _, env, db, _ = seeded
    arts = _articles(db, env)
    assert all(r["duplicate_of"] is None for r in arts.values())
    assert arts["000"]["story_id"] == arts["001"]["story_id"] in (arts["000"]["id"], arts["001"]["id"])
    stories = [arts[k]["story_id"] for k in ("000", "002", "003", "004")]
    assert len(set(stories)) == 4
    for k in ("002", "003", "004"):
        assert arts[k]["story_id"] == arts[k]["id"]


def test_a_syndicated_copy_is_a_duplicate_of_whichever_was_stored_first(seeds, tmp_path):
    """Seeds plus a copy of 000 under another name, headline and a credit line, through the broker."""
    folder = tmp_path / "in"
    folder.mkdir()
    for path in seeds.glob("*.txt"):
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    original = next(seeds.glob("000_*.txt")).read_text(encoding="utf-8").strip().split("\n", 1)[1]
    (folder / "005_copy.txt").write_text(
        "Sullivan: Biden wants military ties with China back\n" + original + "\n\n(Reporting by the wire desk)\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env["NEWSFLOW_DATA_DIR"] = str(tmp_path / "data")
    db = f"sqlite:///{tmp_path / 't.db'}"
    done = newsflow("run", "--once", "--ingest", str(folder), "--db", db, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    arts = _articles(db, env)
    pair = {arts["000"]["id"], arts["005"]["id"]}
    dups = [arts[k] for k in ("000", "005") if arts[k]["duplicate_of"]]
    assert len(dups) == 1 and dups[0]["duplicate_of"] in pair - {dups[0]["id"]}
    assert arts["000"]["story_id"] == arts["005"]["story_id"] == arts["001"]["story_id"]
    assert sum(1 for r in arts.values() if r["duplicate_of"]) == 1


def test_running_once_again_stores_each_article_once(seeded):
    from tests.conftest import SEEDS

    work, env, db, _ = seeded
    again = newsflow("run", "--once", "--ingest", str(SEEDS), "--db", db, env=env, cwd=work)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "articles stored: 5" in again.stdout
    assert len(_articles(db, env)) == 5


def test_tag_filter_lists_only_tagged_articles(seeded):
    _, env, db, _ = seeded
    out = newsflow("articles", "--db", db, "--tag", "hotline", env=env)
    assert out.returncode == 0, out.stderr
    assert "1 article(s)" in out.stdout
