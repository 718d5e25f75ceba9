"""JSON Feed polled end to end (a real HTTP server, the real broker): identity, dates,
conditional GET; entries skipped for want of text are counted by reason, shown by `feeds list`;
a link-only entry gets its title and text from its page when full text is on."""
from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from services.cli import cli
from services.poller.feeds import Feed
from tests.feedserver import FeedServer, Reply
from tests.integration.pollertools import feed_state, metric, poll_once, poller_settings, raw_articles, raw_count
from tests.integration.test_poller_fulltext import PAGE, PARAGRAPHS

pytestmark = pytest.mark.integration
SKIPPED = "newsflow_poller_entries_skipped_total"


def body(items: list[dict]) -> bytes:
    return orjson.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Port Elin desk", "items": items})


ITEMS = [
    {"id": "https://gazette.example.org/a/1", "url": "https://gazette.example.org/a/1", "title": "Breakwater vote",
     "content_html": "<p>The council voted to rebuild the breakwater.</p>", "date_published": "2026-11-30T08:00:00Z"},
    {"id": "2", "url": "https://gazette.example.org/a/2", "title": "Herring season",
     "content_text": "Crews asked for a pause in the works.", "date_modified": "2026-11-30T09:30:00+01:00"},
    {"id": "3", "attachments": [{"url": "https://gazette.example.org/podcast.mp3", "mime_type": "audio/mpeg"}]},
    {"id": "4"},
    {"id": "5", "url": "https://gazette.example.org/a/5"},
]


@pytest.fixture
def server():
    s = FeedServer()
    yield s
    s.close()


def test_json_feed_polled_with_conditional_get_and_skips_counted(settings, server):
    settings = poller_settings(settings)

    def route(headers):
        if headers.get("if-none-match") == '"j1"':
            return Reply(304)
        return Reply(200, body(ITEMS), {"ETag": '"j1"', "Content-Type": "application/feed+json"})

    server.routes["/feed.json"] = route
    feed = Feed("gazette", server.url("/feed.json"))
    first = poll_once(settings, [feed])
    articles = {a.title: a for a in raw_articles(settings)}
    assert sorted(articles) == ["Breakwater vote", "Herring season"]
    assert articles["Breakwater vote"].published_at == "2026-11-30T08:00:00+00:00"
    assert articles["Herring season"].published_at == "2026-11-30T08:30:00+00:00"
    assert articles["Herring season"].content_type == "text/plain"
    registry = first.metrics.registry
    assert [metric(registry, SKIPPED, reason=r) for r in ("enclosure_only", "empty", "link_only")] == [1, 1, 1]
    assert metric(registry, "newsflow_poller_entries_total", status="new") == 2
    again = CollectorRegistry()
    poll_once(settings, [feed], again)
    assert metric(again, "newsflow_poller_fetches_total", outcome="304") == 1 and raw_count(settings) == 2

    feeds_file = settings.data_dir.parent / "feeds.yaml"
    feeds_file.write_text(f"- name: gazette\n  url: {feed.url}\n")
    env = {"NEWSFLOW_DATA_DIR": str(settings.data_dir)}
    listed = CliRunner().invoke(cli, ["feeds", "list", "--feeds", str(feeds_file)], env=env)
    assert "last poll skipped: empty 1, enclosure_only 1, link_only 1" in listed.output, listed.output
    as_json = CliRunner().invoke(cli, ["feeds", "list", "--feeds", str(feeds_file), "--json"], env=env)
    assert orjson.loads(as_json.output.splitlines()[0])["skipped"] == {"empty": 1, "enclosure_only": 1, "link_only": 1}
    assert feed_state(settings, feed.url)["error_count"] == 0


def test_a_link_only_entry_gets_title_and_text_from_its_page(settings, server):
    settings = poller_settings(settings, fulltext_min_chars=400)
    server.routes["/article/breakwater"] = lambda h: Reply(200, PAGE, {"Content-Type": "text/html; charset=utf-8"})
    server.routes["/gone"] = lambda h: Reply(404, b"gone")
    server.routes["/feed.json"] = lambda h: Reply(200, body([
        {"id": "a", "url": server.url("/article/breakwater")},
        {"id": "b", "url": server.url("/gone")},
    ]))
    poller = poll_once(settings, [Feed("gazette", server.url("/feed.json"))])
    (article,) = raw_articles(settings)
    assert article.title == "Breakwater to be rebuilt" and article.content_type == "text/html"
    assert all(p in article.content for p in PARAGRAPHS)
    registry = poller.metrics.registry
    assert metric(registry, SKIPPED, reason="link_only_no_text") == 1  # the page that was not there
    assert metric(registry, SKIPPED, reason="link_only") == 0
