"""`newsflow stories` and `newsflow articles --story`, on real SQLite and PostgreSQL."""
from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner

from services.cli import cli
from services.sink.store import open_store
from tests.unit.test_dedup import HARBOUR, HARBOUR_REWRITE, ORCHARD, art


@pytest.fixture
def db(store_url):
    store = open_store(store_url)
    store.upsert([art(1, HARBOUR, "Harbour reopens", published="2024-03-05T08:00:00+00:00")])
    store.upsert([
        art(2, HARBOUR_REWRITE, "Trawlers return", published="2024-03-07T10:00:00+00:00"),
        art(3, ORCHARD, "Frost hits growers", published="2024-03-06T09:00:00+00:00"),
        art(4, HARBOUR, "Kelmarsh harbour back in business", published="2024-03-08T07:00:00+00:00"),
    ])
    store.close()
    return store_url


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_stories_newest_first_with_their_articles(db):
    out = run("stories", "--db", db)
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == "a1  3 article(s), 1 outlet(s), 2024-03-05 – 2024-03-08"
    assert lines[1] == "    outlets: demo"
    assert [line.split(maxsplit=2)[2] for line in lines[2:5]] == [
        "Harbour reopens", "Trawlers return", "Kelmarsh harbour back in business  (copy of a1)"]
    assert lines[5].startswith("a3  1 article(s)") and lines[-1] == "2 stories"


def test_stories_filters_and_json(db):
    rows = [orjson.loads(line) for line in run("stories", "--db", db, "--min-size", "2", "--json").output.splitlines()]
    assert [(r["story_id"], r["size"]) for r in rows] == [("a1", 3)]
    assert [a["id"] for a in rows[0]["articles"]] == ["a1", "a2", "a4"] and rows[0]["outlets"] == ["demo"]
    assert run("stories", "--db", db, "--since", "2024-03-07T12:00:00+00:00").output.splitlines()[-1] == "1 story"
    assert run("stories", "--db", db, "--tag", "nothing-tagged").output.splitlines() == ["0 stories"]
    bad = CliRunner().invoke(cli, ["stories", "--db", db, "--since", "next week"])
    assert bad.exit_code == 2 and "next week" in bad.output


def test_articles_of_one_story(db):
    out = run("articles", "--db", db, "--story", "a1", "--json")
    assert sorted(orjson.loads(line)["id"] for line in out.output.splitlines()) == ["a1", "a2", "a4"]
    assert run("articles", "--db", db, "--story", "no-such-story").output.splitlines() == ["0 article(s)"]


def test_regroup_after_a_rule_change_dry_run_first(db, monkeypatch):
    from services.sink import stories

    same = run("stories", "--db", db, "--regroup", "--dry-run")
    assert "4 articles: 0 change story" in same.output  # the sink's stories are the rule's
    monkeypatch.setattr(stories, "PAIR_THRESHOLD", 0.99)  # a stricter rule: each article alone
    dry = run("stories", "--db", db, "--regroup", "--dry-run")
    assert "4 articles: 2 change story; stories 2 -> 4, of two articles or more 1 -> 0" in dry.output, dry.output
    assert "a2  a1 -> a2  Trawlers return" in dry.output and dry.output.splitlines()[-1] == "dry run: nothing changed"
    assert run("articles", "--db", db, "--story", "a1").output.splitlines()[-1] == "3 article(s)"
    wrote = run("stories", "--db", db, "--regroup")
    assert wrote.output.splitlines()[-1] == "stored"
    assert run("articles", "--db", db, "--story", "a2", "--json").output.count('"id":"a2"') == 1
    assert "0 change story" in run("stories", "--db", db, "--regroup", "--dry-run").output
    bad = CliRunner().invoke(cli, ["stories", "--db", db, "--dry-run"])
    assert bad.exit_code == 2 and "--dry-run goes with --regroup" in bad.output
