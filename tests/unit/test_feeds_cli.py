"""`newsflow feeds import` and `newsflow feeds list`, through the real command line (click's runner)."""
from __future__ import annotations

import time

import orjson
import pytest
from click.testing import CliRunner

from services.cli import cli
from services.poller.feeds import load_feeds
from services.poller.state import PollerState
from tests.conftest import TESTDATA

OPML = TESTDATA / "feeds" / "opml"


def need_opml():
    if not OPML.is_dir():
        pytest.skip(f"test data not found at {OPML}")


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env or {}, catch_exceptions=False)


def test_import_both_opml_exports_without_duplicates(tmp_path):
    need_opml()
    target = tmp_path / "feeds.yaml"
    first = run("feeds", "import", str(OPML / "Subs.opml"), "--feeds", str(target))
    assert first.exit_code == 0, first.output
    feeds = load_feeds(target)
    assert len(feeds) == 207 and "added 207 feed(s)" in first.output
    by_url = {f.url: f for f in feeds}
    assert by_url["http://jvns.ca/atom.xml"].name == "Julia Evans" and by_url["http://jvns.ca/atom.xml"].folder is None
    assert {f.folder for f in feeds} >= {"Programming", "Macintosh", "Weblogs", "Writers"}
    # The same subscriptions exported without title attributes: names come from `text`, nothing is added.
    again = run("feeds", "import", str(OPML / "SubsNoTitleAttributes.opml"), "--feeds", str(target))
    assert again.exit_code == 0 and "added 0 feed(s)" in again.output and "207 already there" in again.output
    assert load_feeds(target) == feeds


def test_opml_without_titles_takes_names_from_text(tmp_path):
    need_opml()
    target = tmp_path / "feeds.yaml"
    assert run("feeds", "import", str(OPML / "SubsNoTitleAttributes.opml"), "--feeds", str(target)).exit_code == 0
    feeds = load_feeds(target)
    assert len(feeds) == 207 and all(f.name and not f.name.startswith("http") for f in feeds)
    assert any(f.folder == "Writers" for f in feeds)


def test_nested_folders_and_an_existing_file_keeps_its_comments(tmp_path):
    opml = tmp_path / "mine.opml"
    opml.write_text(
        "<?xml version='1.0'?><opml version='2.0'><head><title>mine</title></head><body>"
        "<outline text='News'><outline text='Local'>"
        "<outline text='Harbour' xmlUrl='https://harbour.example.org/rss'/></outline>"
        "<outline text='Wire' xmlUrl='HTTPS://Wire.Example.org/feed?utm_source=opml#top'/></outline>"
        "<outline xmlUrl='https://untitled.example.org/atom'/>"
        "</body></opml>"
    )
    target = tmp_path / "feeds.yaml"
    target.write_text("# my feeds, hand-written\nfeeds:\n    - url: https://wire.example.org/feed  # the wire\n"
                      "      interval: 300\n")
    done = run("feeds", "import", str(opml), "--feeds", str(target))
    assert done.exit_code == 0, done.output
    assert "added 2 feed(s)" in done.output and "1 already there" in done.output
    text = target.read_text()
    assert text.startswith("# my feeds, hand-written\n") and "# the wire" in text
    feeds = load_feeds(target)
    assert [(f.name, f.folder) for f in feeds] == [
        ("wire.example.org", None), ("Harbour", "News/Local"), ("untitled.example.org", None)
    ]
    assert feeds[0].interval_s == 300


@pytest.mark.parametrize("content, message", [
    (None, "cannot read it"),
    ("<opml><body><outline text='x'", "not valid OPML"),
    ("feeds:\n  - url: https://example.org/feed\n", "not an OPML file"),
    ("<?xml version='1.0'?><opml version='2.0'><body><outline text='empty folder'/></body></opml>", "no feed in it"),
])
def test_import_errors_are_clear_and_change_nothing(tmp_path, content, message):
    source = tmp_path / "in.opml"
    if content is not None:
        source.write_text(content)
    target = tmp_path / "feeds.yaml"
    target.write_text("feeds:\n  - https://example.org/a\n")
    done = CliRunner().invoke(cli, ["feeds", "import", str(source), "--feeds", str(target)])
    assert done.exit_code == 1 and message in done.output and "Traceback" not in done.output
    assert target.read_text() == "feeds:\n  - https://example.org/a\n"


def test_import_refuses_to_edit_the_bundled_demo_file():
    done = CliRunner().invoke(cli, ["feeds", "import", str(OPML / "Subs.opml")], env={"NEWSFLOW_FEEDS_FILE": None})
    assert done.exit_code == 1 and "bundled demo" in done.output


def test_list_shows_each_feeds_health(tmp_path):
    target = tmp_path / "feeds.yaml"
    target.write_text("feeds:\n  - {name: fine, url: https://a.example.org/feed}\n"
                      "  - {name: broken, url: https://b.example.org/feed}\n"
                      "  - {name: fresh, url: https://c.example.org/feed}\n"
                      "  - {name: 'off', url: https://d.example.org/feed, enabled: false}\n")
    data = tmp_path / "data"
    data.mkdir()
    state = PollerState(data / "poller.db")
    now = time.time()
    state.record_success("https://a.example.org/feed", at=now - 120, etag='"v9"', last_modified="Mon, 16 Nov 2026 07:30:00 GMT",
                         next_poll_at=now + 600, last_outcome="304")
    state.record_error("https://b.example.org/feed", "HTTP 503 from https://b.example.org/feed", next_poll_at=now + 1800)
    state.record_error("https://b.example.org/feed", "HTTP 503 from https://b.example.org/feed")
    state.update_feed("https://b.example.org/feed", current_url="https://b2.example.org/feed")
    state.close()
    env = {"NEWSFLOW_DATA_DIR": str(data)}
    table = run("feeds", "list", "--feeds", str(target), env=env)
    assert table.exit_code == 0, table.output
    lines = {line.split()[0]: line for line in table.output.splitlines() if line and not line.startswith(" ")}
    assert "ok" in lines["fine"] and "2m ago" in lines["fine"] and "in 10m" in lines["fine"]
    assert "etag, last-modified" in lines["fine"]
    assert "failing" in lines["broken"] and "HTTP 503" in lines["broken"] and " 2 " in lines["broken"]
    assert "moved to https://b2.example.org/feed" in table.output
    assert "never polled" in lines["fresh"] and "disabled" in lines["off"]
    assert "4 feed(s)" in table.output and "1 failing" in table.output
    rows = [orjson.loads(line) for line in run("feeds", "list", "--feeds", str(target), "--json", env=env).output.splitlines()]
    fine = next(r for r in rows if r["name"] == "fine")
    assert fine["etag"] == '"v9"' and fine["state"] == "ok" and fine["error_count"] == 0
    broken = next(r for r in rows if r["name"] == "broken")
    assert broken["error_count"] == 2 and broken["last_error"].startswith("HTTP 503")


def test_list_without_a_state_database_creates_none(tmp_path):
    target = tmp_path / "feeds.yaml"
    target.write_text("- https://a.example.org/feed\n")
    done = run("feeds", "list", "--feeds", str(target), env={"NEWSFLOW_DATA_DIR": str(tmp_path / "nothing")})
    assert done.exit_code == 0 and "never polled" in done.output
    assert not (tmp_path / "nothing").exists()
    missing = CliRunner().invoke(cli, ["feeds", "list", "--feeds", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1 and "cannot read the feeds file" in missing.output


@pytest.mark.parametrize("command", [["poller", "--once"], ["run", "--once"]])
def test_a_bad_feeds_file_stops_poller_and_run_at_once_with_the_reason(tmp_path, command):
    bad = tmp_path / "feeds.yaml"
    bad.write_text("- {url: https://example.org/a, interval: soon}\n")
    done = CliRunner().invoke(cli, [*command, "--feeds", str(bad)])
    assert done.exit_code == 1 and "interval must be a positive number" in done.output
