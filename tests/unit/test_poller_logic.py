"""Feeds files, fetching over a real local HTTP server, feed parsing, file ingest, poller state."""
from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from services.poller.feeds import FeedsFileError, Feed, load_feeds
from services.poller.fetch import read_file
from services.poller.ingest import IngestError, ingest_paths
from services.poller.parse import FeedParseError, canonical_url, parse_feed, parse_within
from services.poller.state import PollerState
from shared.config import SAMPLES
from tests.conftest import SEEDS, TESTDATA

RSS_PARSER = TESTDATA / "feeds" / "rss-parser" / "test"
OPML = TESTDATA / "feeds" / "opml"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"test data not found at {path}")
    return path


# -- feeds files ---------------------------------------------------------------------------

def test_sample_feeds_load_resolve_and_parse():
    feeds = load_feeds(SAMPLES / "feeds.yaml")
    assert len(feeds) == 3 and all(f.url.startswith("file://") for f in feeds)
    for feed in feeds:
        parsed = parse_feed(feed, read_file(Path(feed.url.removeprefix("file://")), 10**6), time.time())
        assert parsed.entries and parsed.bozo is None
        for entry in parsed.entries:
            assert entry.title and entry.url.startswith("https://") and entry.published_at


def test_yaml_feed_errors_name_the_file_and_entry(tmp_path):
    bad = tmp_path / "feeds.yaml"
    bad.write_text("- url: https://example.org/a.xml\n- name: no-url\n")
    with pytest.raises(FeedsFileError, match=r"feeds.yaml: feed #2: missing url"):
        load_feeds(bad)
    bad.write_text("- {url: https://example.org/a.xml, colour: red}\n")
    with pytest.raises(FeedsFileError, match="unknown key"):
        load_feeds(bad)
    for entry, message in [("{url: x.xml, name: off}", "quote it"), ("{url: x.xml, interval: soon}", "interval must be"),
                           ("{url: x.xml, enabled: 'no'}", "enabled must be true or false")]:
        bad.write_text(f"- {entry}\n")
        with pytest.raises(FeedsFileError, match=message):
            load_feeds(bad)


def test_yaml_options_and_bare_urls(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  - https://example.org/a.xml\n  - {url: local.xml, name: L, interval: 60, enabled: false,"
                    " headers: {X-Token: t}}\n")
    a, b = load_feeds(path)
    assert (a.url, a.name, a.enabled) == ("https://example.org/a.xml", "example.org", True)
    assert (b.url, b.name, b.interval_s, b.enabled, b.headers) == (
        (tmp_path / "local.xml").as_uri(), "L", 60.0, False, {"X-Token": "t"}
    )


@pytest.mark.parametrize("name", ["Subs.opml", "SubsNoTitleAttributes.opml"])
def test_opml_with_nested_folders(name):
    feeds = load_feeds(need(OPML / name))
    assert len(feeds) > 5
    assert all(f.url.startswith("http") and f.name for f in feeds)
    assert len({f.url for f in feeds}) == len(feeds)


# -- parsing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["guardian", "heraldsun", "reddit"])
def test_real_feeds_match_rss_parser_expectations(name):
    source = need(RSS_PARSER / "input" / f"{name}.rss")
    expected = orjson.loads((RSS_PARSER / "output" / f"{name}.json").read_bytes())["feed"]["items"]
    parsed = parse_feed(Feed(name, source.as_uri()), source.read_bytes(), time.time())
    assert len(parsed.entries) == len(expected)
    for got, want in zip(parsed.entries, expected):
        assert got.title == want["title"].strip()
        assert got.url == want["link"]
        if want.get("isoDate"):
            assert got.published_at[:19] == want["isoDate"][:19]
    assert len({e.id for e in parsed.entries}) == len(parsed.entries)


def test_html_page_and_empty_body_are_not_feeds():
    feed = Feed("x", "https://example.org/feed")
    with pytest.raises(FeedParseError, match="HTML page"):
        parse_feed(feed, b"<!DOCTYPE html><html><body><p>Moved</p></body></html>", 0)
    with pytest.raises(FeedParseError, match="empty"):
        parse_feed(feed, b"  ", 0)


def test_a_feed_that_crashes_feedparser_is_a_parse_error():
    body = b"<rss version='2.0'><channel><item><title>A &#xD83D; b</title></item></channel></rss>"
    with pytest.raises(FeedParseError, match="feedparser failed: UnicodeEncodeError"):
        parse_feed(Feed("x", "https://example.org/feed"), body, 0)


def test_malformed_feed_still_yields_recoverable_entries():
    body = (b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>"
            b"<item><title>One &amp; only</title><link>https://example.org/1</link></item>"
            b"<item><title>Two</title><link>https://example.org/2</link>&bogus;</item></channel>")
    parsed = parse_feed(Feed("x", "https://example.org/feed"), body, 0)
    assert parsed.bozo
    assert [e.title for e in parsed.entries][:1] == ["One & only"]


def test_ids_guid_then_canonical_link_then_title_and_date():
    def rss(item: bytes) -> bytes:
        return b"<rss version='2.0'><channel><title>t</title><item>" + item + b"</item></channel></rss>"

    feed = Feed("x", "https://example.org/feed")
    by_guid = parse_feed(feed, rss(b"<guid>g-1</guid><title>A</title><link>https://example.org/a</link>"), 0)
    same_guid = parse_feed(feed, rss(b"<guid>g-1</guid><title>A2</title><link>https://example.org/b</link>"), 0)
    assert by_guid.entries[0].id == same_guid.entries[0].id
    assert by_guid.entries[0].content_hash != same_guid.entries[0].content_hash
    link1 = parse_feed(feed, rss(b"<title>A</title><link>HTTPS://Example.org/a?utm_source=x#top</link>"), 0)
    link2 = parse_feed(feed, rss(b"<title>B</title><link>https://example.org/a</link>"), 0)
    assert link1.entries[0].id == link2.entries[0].id
    assert canonical_url("HTTPS://Example.ORG/p?a=1&utm_medium=rss#f") == "https://example.org/p?a=1"


def test_invalid_urls_in_a_feed_or_its_headers_do_not_stop_the_parse():
    """Found by the property tests: urllib raises ValueError on `http://[::1` (an unclosed IPv6 host)."""
    body = (b"<rss version='2.0'><channel><title>t</title>"
            b"<item><title>A</title><link>http://[::1/a</link></item></channel></rss>")
    parsed = parse_feed(Feed("x", "https://example.org/feed"), body, 0, {"content-location": "http://[bad"})
    assert [e.title for e in parsed.entries] == ["A"]
    assert canonical_url(" http://[::1/a ") == "http://[::1/a"


def test_entities_are_expanded_only_within_a_budget_and_nesting_is_bounded():
    """services/poller/safexml.py; the hostile feeds themselves are in tests/integration/test_hostile_feeds.py."""
    feed = Feed("x", "https://example.org/feed")

    def rss(doctype: str, title: str, body: str = "b") -> bytes:
        return (f"<?xml version='1.0'?>{doctype}<rss version='2.0'><channel><title>t</title>"
                f"<item><guid>g</guid><title>{title}</title><description>{body}</description></item></channel></rss>").encode()

    # an abbreviation, as RDF feeds declare them, still expands (on one line too)
    abbreviation = '<!DOCTYPE rss [<!ENTITY ex "https://example.org/vocabulary#">]>'
    xml = {"content-type": "application/rss+xml"}
    parsed = parse_feed(feed, rss(abbreviation, "&ex;term"), 0, xml)
    assert parsed.entries[0].title == "https://example.org/vocabulary#term" and not parsed.bozo
    # nested entities are refused: the loose parser leaves the reference as text
    nested = '<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    parsed = parse_feed(feed, rss(nested, "x &b; y"), 0, xml)
    assert parsed.bozo_kind == "SAXParseException" and parsed.entries[0].title == "x &b; y"
    # so is a plain entity whose references would expand past the budget (1,000,000 characters)
    wide = '<!DOCTYPE rss [<!ENTITY w "' + "w" * 1000 + '">]>'
    parsed = parse_feed(feed, rss(wide, "wide", "&w;" * 1001), 0, xml)
    assert parsed.bozo_kind == "SAXParseException" and "wwww" not in parsed.entries[0].content
    assert "w" * 1000 in parse_feed(feed, rss(wide, "wide", "&w;" * 999), 0, xml).entries[0].content
    with pytest.raises(FeedParseError, match="nested deeper than 1000"):
        parse_feed(feed, rss("", "deep").replace(b"<channel>", b"<channel>" + b"<x>" * 1001 + b"</x>" * 1001), 0, xml)


def test_a_parse_is_stopped_after_its_time_limit():
    feed = Feed("x", "https://example.org/feed")
    def rss(filler: bytes) -> bytes:
        return b"<rss version='2.0'><channel><title>t</title>" + filler + b"<item><title>A</title></item></channel></rss>"

    with pytest.raises(FeedParseError, match=r"longer than 0.2 s \(NEWSFLOW_PARSE_TIMEOUT_S\)"):
        parse_within(0.2, feed, rss(b"<x>y</x>" * 300_000), 0)
    assert [e.title for e in parse_within(5, feed, rss(b""), 0).entries] == ["A"]
    time.sleep(0.3)  # no alarm left behind to go off later


# -- file ingest -----------------------------------------------------------------------------

def test_an_article_over_the_size_cap_is_an_ingest_error(tmp_path):
    (tmp_path / "small.txt").write_text("A small story\n\nIt is short.")
    (tmp_path / "huge.txt").write_text("A huge story\n\n" + "word " * 300_000)
    items = list(ingest_paths([tmp_path], 0, max_article_bytes=400_000))
    assert [type(i).__name__ for i in items] == ["IngestError", "Article"]
    assert "over the cap of 400,000 (NEWSFLOW_MAX_ARTICLE_BYTES)" in str(items[0]) and "huge.txt" in str(items[0])


def test_seeds_ingest_with_stable_ids_titles_and_file_urls():
    need(SEEDS)
    first = list(ingest_paths([SEEDS], 0))
    again = list(ingest_paths([SEEDS], 1))
    assert len(first) == 5 and all(not isinstance(a, IngestError) for a in first)
    assert [a.id for a in first] == [a.id for a in again]
    assert all(a.url.startswith("file:///") and a.url.endswith(".txt") for a in first)
    titles = {Path(a.url).name[:3]: a.title for a in first}
    assert titles["000"] == "Biden will push China to resume military ties with US, official says"
    assert titles["003"].startswith("US, China top military officials")
    assert titles["004"].startswith("China, US set for meeting")
    assert titles["001"] is None


def test_jsonl_html_and_bad_files(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(
        b'{"url": "https://example.org/1", "title": "One", "text": "Body one."}\n'
        b"{broken\n"
        b'{"title": "Two", "content": "Body two.", "id": "given-id"}\n'
    )
    (tmp_path / "page.html").write_text("<html><head><title>Page &amp; title</title></head><body><p>Hi</p></body></html>")
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 reopens\n\nThe caf\xe9 reopened.".encode("latin-1"))
    (tmp_path / ".hidden.txt").write_text("never read")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    items = list(ingest_paths([tmp_path], 0))
    errors = [i for i in items if isinstance(i, IngestError)]
    articles = {a.title: a for a in items if not isinstance(a, IngestError)}
    assert sorted(str(e).split(": ", 1)[1][:8] for e in errors) == ["not JSON", "unsuppor"]
    assert "a.jsonl:2" in str(next(e for e in errors if e.line))
    assert articles["Two"].id == "given-id"
    assert articles["Page & title"].content_type == "text/html"
    assert articles["Café reopens"].content.strip() == "The café reopened."
    assert len(articles) == 4


# -- state -------------------------------------------------------------------------------------

def test_state_remembers_published_entries_across_reopen(tmp_path):
    state = PollerState(tmp_path / "p.db")
    assert state.known("f") == {}
    state.mark_seen("f", [("a", "h1")])
    state.record_error("f", "HTTP 500")
    state.record_error("f", "HTTP 500")
    state.close()
    state = PollerState(tmp_path / "p.db")
    assert state.known("f") == {"a": "h1"}  # the poller compares the entry's hash with this
    assert state.health("f")["error_count"] == 2
    state.record_success("f")
    assert state.health("f")["error_count"] == 0
    state.close()


def test_seen_ids_are_bounded_and_the_longest_unlisted_go_first(tmp_path):
    state = PollerState(tmp_path / "p.db")
    state.mark_seen("f", [("old", "h"), ("a", "h")], bound=3)
    time.sleep(0.01)
    state.mark_seen("f", [("b", "h")], bound=3)
    time.sleep(0.01)
    state.mark_seen("f", [("c", "h")], ["old"], bound=3)  # "old" is still listed by the feed: kept
    assert sorted(state.known("f")) == ["b", "c", "old"]
    state.mark_seen("g", [("x", "h")], bound=3)
    assert sorted(state.known("f")) == ["b", "c", "old"] and list(state.known("g")) == ["x"]
    state.close()


def test_an_og_title_with_an_apostrophe_is_kept_whole(tmp_path):
    (tmp_path / "page.html").write_text(
        "<html><head><meta property=\"og:title\" content=\"Aoife O'Brien wins the autumn series\">"
        "<title>Results</title></head><body><p>Aoife O'Brien won every race.</p></body></html>"
    )
    [item] = list(ingest_paths([tmp_path], 0))
    assert item.title == "Aoife O'Brien wins the autumn series"


def test_control_characters_leave_titles():
    body = (b'<rss version="2.0"><channel><title>t</title><item><title>Harbour\x07 reopens\x0b after the'
            b'\x1b storm</title><link>https://example.org/a</link></item></channel></rss>')
    [entry] = parse_feed(Feed("x", "https://example.org/feed"), body, 0).entries
    assert entry.title == "Harbour reopens after the storm"


@pytest.mark.parametrize("body", [
    b'<rss version="2.0"><channel><title>Quiet</title></channel></rss>',
    b'<rss version="2.0"/>',
    b'<feed xmlns="http://www.w3.org/2005/Atom"><title>Quiet</title></feed>',
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">'
    b'<channel rdf:about="https://example.org/"><title>Quiet</title></channel></rdf:RDF>',
])
def test_an_empty_but_valid_feed_is_zero_entries_not_an_error(body):
    parsed = parse_feed(Feed("x", "https://example.org/feed"), body, 0, {"content-type": "application/xml"})
    assert parsed.entries == [] and parsed.bozo is None
