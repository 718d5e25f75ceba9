"""`newsflow articles` with search and filters, on real SQLite and PostgreSQL."""
from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner

from services.cli import cli
from services.sink.store import open_store
from tests.unit.test_store import art


@pytest.fixture
def db(store_url):
    store = open_store(store_url)
    store.upsert([
        art(1, title="Balloon over the strait", text="Seen from the coast.", source="strait-desk"),
        art(2, title="Hotline talks", text="The balloon came up.", source="world-brief", tags=("hotline",)),
        art(3, title="Harbour festival", text="'; DROP TABLE articles; -- was painted on a wall.",
            source="harbour-gazette", tags=()),
    ])
    store.close()
    return store_url


def run(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def test_query_and_filters_as_json(db):
    out = run("articles", "--db", db, "--query", "balloon", "--json")
    assert out.exit_code == 0, out.output
    rows = [orjson.loads(line) for line in out.output.splitlines()]
    assert [r["id"] for r in rows] == ["id1", "id2"]
    assert rows[1]["tags"] == ["hotline"] and rows[1]["source"] == "world-brief"

    out = run("articles", "--db", db, "-q", "balloon", "--source", "world-brief")
    assert out.output.splitlines() == ["2024-01-02  hotline                   Hotline talks  [world-brief]", "1 article(s)"]

    out = run("articles", "--db", db, "--since", "2024-01-02", "--until", "2024-01-02", "--json")
    assert [orjson.loads(line)["id"] for line in out.output.splitlines()] == ["id2"]
    out = run("articles", "--db", db, "--until", "2024-01-02T00:00:00+00:00", "--limit", "5")
    assert out.output.splitlines()[-1] == "1 article(s)"


def test_sql_in_a_query_is_searched_as_text(db):
    out = run("articles", "--db", db, "--query", "'; DROP TABLE articles; --", "--json")
    assert out.exit_code == 0, out.output
    assert [orjson.loads(line)["id"] for line in out.output.splitlines()] == ["id3"]
    assert run("articles", "--db", db).output.splitlines()[-1] == "3 article(s)"


@pytest.mark.parametrize("args, message", [
    (["--query", "  -everything "], "nothing to search for"),
    (["--since", "last tuesday"], "cannot read 'last tuesday' as a time"),
    (["--until", "2024-02-30"], "cannot read '2024-02-30' as a time"),
    (["--limit", "-1"], "-1 is not in the range x>=0"),
])
def test_bad_input_is_a_clear_error_not_a_traceback(db, args, message):
    out = run("articles", "--db", db, *args)
    assert out.exit_code == 2
    assert message in out.output
    assert "Traceback" not in out.output


@pytest.mark.parametrize("args", [
    ["--source", "strait-desk' OR '1'='1"],
    ["--source", "x'); DROP TABLE articles; --"],
    ["--source", "%"],
    ["--tag", "hotline' OR 1=1 --"],
    ["--tag", "%"],
    ["--tag", 'hotline"; DELETE FROM article_tags; --'],
    ["--query", "balloon') OR 1=1; DROP TABLE articles; --"],
    ["--query", "title:hotline"],  # an FTS5 column filter, were it read as one
    ["--query", "NEAR(balloon strait)"],  # FTS5's NEAR, were it read as one
])
def test_sql_and_search_syntax_in_any_value_are_plain_text(db, args):
    """Every value is a bound parameter (and a query only words): nothing matches these, nothing changes."""
    out = run("articles", "--db", db, *args, "--json")
    assert out.exit_code == 0, out.output
    assert out.output == ""
    store = open_store(db)
    try:
        assert store.count() == 3 and store.tag_counts() == {"hotline": 1, "taiwan": 1}
    finally:
        store.close()


def test_sql_in_a_time_is_a_usage_error(db):
    out = run("articles", "--db", db, "--since", "2024-01-01' OR 1=1 --")
    assert out.exit_code == 2 and "cannot read" in out.output and "Traceback" not in out.output
