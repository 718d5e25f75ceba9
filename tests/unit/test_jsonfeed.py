"""JSON Feed 1.0 and 1.1 through parse_feed: our own documents, and gofeed's and feedparser's
test files from ../shared (skipped when it is absent)."""
from __future__ import annotations

import json

import orjson
import pytest

from services.poller.feeds import Feed
from services.poller.parse import FeedParseError, parse_feed
from shared.schema import decode, encode
from tests.conftest import TESTDATA

FEED = Feed(name="desk", url="https://news.example.org/feed.json")
GOFEED = TESTDATA / "feeds" / "gofeed-json"
FEEDPARSER_EXAMPLE = TESTDATA / "feeds" / "feedparser" / "tests" / "json" / "example.json"


def jsonfeed(items: list[dict], version: str = "https://jsonfeed.org/version/1.1", **top) -> bytes:
    return orjson.dumps({"version": version, "title": "Harbour desk", "items": items, **top})


def test_items_become_articles_with_identity_dates_and_authors():
    body = jsonfeed([
        {"id": "https://news.example.org/a/1", "url": "/a/1", "title": "Harbour reopens",
         "content_html": "<p>The northern harbour reopened on Tuesday.</p>", "content_text": "short",
         "date_published": "2026-11-30T07:20:50.52+01:00", "authors": [{"name": "Ilse Varga"}]},
        {"id": 42, "url": "https://news.example.org/a/2", "content_text": "Trawlers came home.",
         "date_modified": "2026-11-30T09:00:00Z"},
    ], authors=[{"name": "Desk"}])
    parsed = parse_feed(FEED, body, 1.0)
    first, second = parsed.entries
    assert (first.url, first.title, first.content_type) == ("https://news.example.org/a/1", "Harbour reopens", "text/html")
    assert first.content == "<p>The northern harbour reopened on Tuesday.</p>"
    assert first.published_at == "2026-11-30T06:20:50+00:00" and first.authors == ["Ilse Varga"]
    assert (second.content, second.content_type, second.title) == ("Trawlers came home.", "text/plain", None)
    assert second.published_at == "2026-11-30T09:00:00+00:00" and second.authors == ["Desk"]  # the feed's
    assert parse_feed(FEED, body, 2.0).entries[0].id == first.id  # the same item, the same id
    assert first.id != second.id and decode(encode(first)) == first
    assert parsed.skipped == {}


def test_version_1_with_a_single_author_and_a_byte_order_mark():
    body = b"\xef\xbb\xbf" + jsonfeed([{"id": "1", "url": "https://news.example.org/x", "title": "T",
                                        "summary": "A summary.", "author": {"name": "Ana"}}],
                                      version="https://jsonfeed.org/version/1")
    (article,) = parse_feed(FEED, body, 1.0).entries
    assert article.authors == ["Ana"] and article.content == "A summary."


def test_empty_items_are_zero_entries_and_skips_are_counted():
    assert parse_feed(FEED, jsonfeed([]), 1.0).entries == []
    parsed = parse_feed(FEED, jsonfeed([
        {"id": "a", "attachments": [{"url": "https://cdn.example.org/a.mp3", "mime_type": "audio/mpeg"}]},
        {"id": "b"},
        {"id": "c", "url": "https://news.example.org/c"},
    ]), 1.0)
    assert parsed.skipped == {"enclosure_only": 1, "empty": 1}
    (link_only,) = parsed.entries
    assert link_only.content == "" and link_only.title is None and link_only.url == "https://news.example.org/c"


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"version": "https://jsonfeed.org/version/2", "items": []}', "not a JSON Feed"),
    (b'{"title": "no version"}', "not a JSON Feed"),
    (b'{"version": "https://jsonfeed.org/version/1.1"}', 'without an "items" list'),
    (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "not valid JSON"),
])
def test_json_that_is_not_a_json_feed_is_a_parse_error_with_a_reason(body, reason):
    with pytest.raises(FeedParseError, match=reason):
        parse_feed(FEED, body, 1.0)


@pytest.mark.parametrize("name", ["version_json_10", "version_json_11", "version_json_11_deprecated_author"])
def test_gofeed_documents_give_what_gofeed_expects(name):
    if not GOFEED.is_dir():
        pytest.skip(f"gofeed's JSON Feed tests are not here: {GOFEED}")
    expected = json.loads((GOFEED / f"{name}_expected.json").read_text())
    parsed = parse_feed(FEED, (GOFEED / f"{name}.json").read_bytes(), 1.0)
    assert len(parsed.entries) == len(expected["items"])
    for article, item in zip(parsed.entries, expected["items"]):
        assert (article.url, article.title) == (item["url"], item["title"])
        assert article.content == item["content_html"] and article.content_type == "text/html"
        assert article.published_at == "2019-10-12T07:20:50+00:00" == item["date_published"][:19] + "+00:00"
        authors = item.get("authors") or [item["author"]]
        assert article.authors == [a["name"] for a in authors]


def test_gofeed_invalid_document_is_refused():
    if not GOFEED.is_dir():
        pytest.skip(f"gofeed's JSON Feed tests are not here: {GOFEED}")
    with pytest.raises(FeedParseError, match="JSON"):
        parse_feed(FEED, (GOFEED / "invalid.json").read_bytes(), 1.0)


def test_feedparser_example():
    if not FEEDPARSER_EXAMPLE.is_file():
        pytest.skip(f"feedparser's JSON example is not here: {FEEDPARSER_EXAMPLE}")
    parsed = parse_feed(FEED, FEEDPARSER_EXAMPLE.read_bytes(), 1.0)
    assert [a.url for a in parsed.entries] == ["https://example.org/second-item", "https://example.org/initial-post"]
    assert parsed.entries[0].title == "post 2" and parsed.entries[0].content == "This is a second item."
    assert parsed.entries[1].authors == ["you"] and "Hello, world!" in parsed.entries[1].content
