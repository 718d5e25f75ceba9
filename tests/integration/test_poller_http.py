"""The poller against a real HTTP server on 127.0.0.1 and the real broker: the cases feeds in
the wild bring (validators, redirects, rate limits, errors, slow and huge bodies, encodings,
broken XML, HTML instead of a feed, missing and reused guids, long feeds)."""
from __future__ import annotations

import time
from xml.sax.saxutils import escape

import pytest
from prometheus_client import CollectorRegistry

from services.poller.feeds import Feed
from tests.feedserver import FeedServer, Reply
from tests.integration.pollertools import (
    feed_state, metric, poll_once, poller_settings, raw_articles, raw_count,
)

pytestmark = pytest.mark.integration
FETCHES = "newsflow_poller_fetches_total"


def rss(items: list[dict], *, ttl: int | None = None, encoding: str = "utf-8") -> bytes:
    """An RSS 2.0 document of our own; each item: guid, title, link, body (any may be absent)."""
    parts = [f"<?xml version='1.0' encoding='{encoding}'?>\n<rss version='2.0'><channel>"
             "<title>Test desk</title><link>https://news.example.org/</link>"]
    if ttl:
        parts.append(f"<ttl>{ttl}</ttl>")
    for item in items:
        parts.append("<item>")
        if "guid" in item:
            parts.append(f"<guid isPermaLink='false'>{escape(item['guid'])}</guid>")
        for tag, key in (("title", "title"), ("link", "link"), ("description", "body")):
            if key in item:
                parts.append(f"<{tag}>{escape(item[key])}</{tag}>")
        parts.append("<pubDate>Mon, 16 Nov 2026 07:30:00 GMT</pubDate></item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode(encoding)


def items(n: int, prefix: str = "story") -> list[dict]:
    return [{"guid": f"{prefix}-{i}", "title": f"Council report {i}", "link": f"https://news.example.org/{prefix}/{i}",
             "body": f"The harbour council met for the {i}th time and agreed on the budget."} for i in range(n)]


@pytest.fixture
def server():
    s = FeedServer()
    yield s
    s.close()


def feed(server: FeedServer, path: str, **options) -> Feed:
    return Feed(name=path.strip("/"), url=server.url(path), **options)


@pytest.mark.parametrize("validator", ["etag", "last_modified"])
def test_304_with_each_validator_publishes_nothing_again(settings, server, validator):
    settings = poller_settings(settings)
    body = rss(items(3))
    stamp = "Mon, 16 Nov 2026 07:30:00 GMT"

    def route(headers):
        if validator == "etag":
            fresh = headers.get("if-none-match") == '"v1"'
            return Reply(304) if fresh else Reply(200, body, {"ETag": '"v1"'})
        fresh = headers.get("if-modified-since") == stamp
        return Reply(304) if fresh else Reply(200, body, {"Last-Modified": stamp})

    server.routes["/cond"] = route
    f = feed(server, "/cond")
    first = poll_once(settings, [f])
    assert metric(first.metrics.registry, FETCHES, outcome="200") == 1
    registry = CollectorRegistry()
    poll_once(settings, [f], registry)
    assert metric(registry, FETCHES, outcome="304") == 1
    assert raw_count(settings) == 3
    sent = server.requests[-1][1]
    assert sent.get("if-none-match" if validator == "etag" else "if-modified-since") == ('"v1"' if validator == "etag" else stamp)
    state = feed_state(settings, f.url)
    assert state["etag" if validator == "etag" else "last_modified"] and state["error_count"] == 0


def test_server_ignoring_validators_is_not_parsed_twice(settings, server):
    settings = poller_settings(settings)
    server.routes["/stubborn"] = lambda h: Reply(200, rss(items(4)), {"ETag": '"same"'})
    f = feed(server, "/stubborn")
    poll_once(settings, [f])
    registry = CollectorRegistry()
    poll_once(settings, [f], registry)
    assert server.requests[-1][1].get("if-none-match") == '"same"'
    assert metric(registry, FETCHES, outcome="200") == 1
    assert metric(registry, "newsflow_poller_parses_skipped_total") == 1
    assert metric(registry, "newsflow_poller_entries_total", status="unchanged") == 0  # not even parsed
    assert raw_count(settings) == 4


@pytest.mark.parametrize("code", [301, 308])
def test_permanent_redirect_updates_the_stored_url(settings, server, code):
    settings = poller_settings(settings)
    server.routes["/old"] = lambda h: Reply(code, headers={"Location": "/new"})
    server.routes["/new"] = lambda h: Reply(200, rss(items(2)))
    f = feed(server, "/old")
    poll_once(settings, [f])
    assert feed_state(settings, f.url)["current_url"] == server.url("/new")
    poll_once(settings, [f])
    assert server.hits("/old") == 1 and server.hits("/new") == 2
    assert raw_count(settings) == 2


def test_temporary_redirect_keeps_the_url(settings, server):
    settings = poller_settings(settings)
    server.routes["/tmp"] = lambda h: Reply(302, headers={"Location": "/elsewhere"})
    server.routes["/elsewhere"] = lambda h: Reply(200, rss(items(1)))
    f = feed(server, "/tmp")
    poll_once(settings, [f])
    assert feed_state(settings, f.url)["current_url"] is None


def test_429_retry_after_sets_the_next_poll(settings, server):
    settings = poller_settings(settings, poll_interval_s=60.0)
    server.routes["/busy"] = lambda h: Reply(429, headers={"Retry-After": "3600"})
    f = feed(server, "/busy")
    before = time.time()
    poller = poll_once(settings, [f])
    state = feed_state(settings, f.url)
    assert state["next_poll_at"] >= before + 3600
    assert state["error_count"] == 1 and "429" in state["last_error"]
    assert metric(poller.metrics.registry, FETCHES, outcome="4xx") == 1


def test_500_backs_off_exponentially_then_recovers(settings, server):
    settings = poller_settings(settings, poll_interval_s=60.0, max_backoff_s=200.0)
    failing = {"on": True}
    server.routes["/flaky"] = lambda h: Reply(500) if failing["on"] else Reply(200, rss(items(2)))
    f = feed(server, "/flaky")
    delays = []
    for _ in range(4):
        before = time.time()
        poll_once(settings, [f])
        delays.append(feed_state(settings, f.url)["next_poll_at"] - before)
    # interval 60 s doubled per error, ±10 % jitter, capped at 200 s
    for delay, expected in zip(delays, [60, 120, 200, 200]):
        assert expected * 0.89 <= delay <= expected * 1.11 + 1, delays
    assert feed_state(settings, f.url)["error_count"] == 4
    failing["on"] = False
    poll_once(settings, [f])
    state = feed_state(settings, f.url)
    assert state["error_count"] == 0 and state["last_error"].startswith("HTTP 500")  # history kept
    assert raw_count(settings) == 2


def test_slow_server_times_out_and_the_other_feeds_go_on(settings, server):
    settings = poller_settings(settings, fetch_timeout_s=1.0)
    server.routes["/slow"] = lambda h: Reply(200, rss(items(1, "slow")), delay_s=3)
    server.routes["/fine"] = lambda h: Reply(200, rss(items(2, "fine")))
    poller = poll_once(settings, [feed(server, "/slow"), feed(server, "/fine")])
    assert metric(poller.metrics.registry, FETCHES, outcome="timeout") == 1
    assert "timed out" in feed_state(settings, server.url("/slow"))["last_error"]
    assert sorted(a.title for a in raw_articles(settings)) == ["Council report 0", "Council report 1"]


def test_body_over_the_cap_is_refused(settings, server):
    settings = poller_settings(settings, max_body_bytes=50_000)
    server.routes["/huge"] = lambda h: Reply(200, rss(items(400)))
    server.routes["/huge-gz"] = lambda h: Reply(200, rss(items(400)), gzip=True)  # small on the wire only
    poller = poll_once(settings, [feed(server, "/huge"), feed(server, "/huge-gz")])
    assert metric(poller.metrics.registry, FETCHES, outcome="too_large") == 2
    assert raw_count(settings) == 0


def test_gzip_feed(settings, server):
    settings = poller_settings(settings)
    server.routes["/gz"] = lambda h: Reply(200, rss(items(5)), gzip=True)
    poller = poll_once(settings, [feed(server, "/gz")])
    assert server.requests[-1][1]["accept-encoding"].startswith("gzip")
    assert len(raw_articles(settings)) == 5
    assert metric(poller.metrics.registry, "newsflow_poller_fetched_bytes_total") == len(rss(items(5)))


def test_wrong_charset_declaration_still_decodes_titles(settings, server):
    settings = poller_settings(settings)
    body = rss([{"guid": "c1", "title": "Café owners in Zürich say “no”", "body": "Straße"}])  # UTF-8 bytes
    server.routes["/mislabelled"] = lambda h: Reply(200, body, {"Content-Type": "application/rss+xml; charset=iso-8859-1"})
    latin = rss([{"guid": "c2", "title": "Café owners in Zürich"}], encoding="iso-8859-1")
    server.routes["/latin"] = lambda h: Reply(200, latin, {"Content-Type": "text/xml"})  # the prolog says it
    poll_once(settings, [feed(server, "/mislabelled"), feed(server, "/latin")])
    titles = sorted(a.title for a in raw_articles(settings))
    assert titles == ["Café owners in Zürich", "Café owners in Zürich say “no”"]


def test_malformed_xml_yields_the_recoverable_entries_and_is_counted(settings, server):
    settings = poller_settings(settings)
    body = rss(items(3)).replace(b"Council report 1", b"Council report 1 & <b>unclosed")
    server.routes["/broken"] = lambda h: Reply(200, body)
    poller = poll_once(settings, [feed(server, "/broken")])
    malformed = {s.labels["reason"]: s.value for s in poller.metrics.bozo.collect()[0].samples
                 if s.name.endswith("_total")}
    assert sum(malformed.values()) == 1, malformed
    state = feed_state(settings, server.url("/broken"))
    assert state["last_outcome"] == "200" and state["last_bozo"]
    titles = [a.title for a in raw_articles(settings)]
    assert "Council report 0" in titles and len(titles) >= 1


@pytest.mark.parametrize("body, reason", [
    (b"<!DOCTYPE html><html><head><title>Moved</title></head><body><p>This page moved.</p></body></html>", "HTML page"),
    (b"", "empty body"),
    (b"just some text, no markup at all", "not a feed"),
])
def test_html_page_or_empty_body_is_a_parse_error_with_a_reason(settings, server, body, reason):
    settings = poller_settings(settings)
    server.routes["/notfeed"] = lambda h: Reply(200, body, {"Content-Type": "text/html"})
    poller = poll_once(settings, [feed(server, "/notfeed")])
    assert metric(poller.metrics.registry, FETCHES, outcome="parse_error") == 1
    state = feed_state(settings, server.url("/notfeed"))
    assert reason in state["last_error"] and state["error_count"] == 1


def test_entries_without_guid_get_link_or_title_ids(settings, server):
    settings = poller_settings(settings)
    entries = [{"title": "Linked", "link": "HTTPS://News.Example.org/a?utm_source=rss&id=7#top", "body": "x"},
               {"title": "Unlinked", "body": "y"}]
    server.routes["/noguid"] = lambda h: Reply(200, rss(entries))
    f = feed(server, "/noguid")
    poll_once(settings, [f])
    # the same entries again, the link written differently: nothing new
    entries[0]["link"] = "https://news.example.org/a?id=7"
    server.routes["/noguid"] = lambda h: Reply(200, rss(entries) + b"\n")
    registry = CollectorRegistry()
    poll_once(settings, [f], registry)
    assert metric(registry, "newsflow_poller_entries_total", status="unchanged") == 1
    assert metric(registry, "newsflow_poller_entries_total", status="updated") == 1  # the link changed
    published = raw_articles(settings)
    assert len(published) == 3 and len({a.id for a in published}) == 2


def test_reused_guid_with_changed_content_is_republished_once(settings, server):
    settings = poller_settings(settings)
    first = items(3)
    server.routes["/rev"] = lambda h: Reply(200, rss(first))
    f = feed(server, "/rev")
    poll_once(settings, [f])
    changed = [dict(e) for e in first]
    changed[1]["body"] = "Correction: the council met on Wednesday."
    server.routes["/rev"] = lambda h: Reply(200, rss(changed))
    registry = CollectorRegistry()
    poll_once(settings, [f], registry)
    server.routes["/rev"] = lambda h: Reply(200, rss(changed) + b" ")  # new bytes, same entries
    poll_once(settings, [f])
    published = raw_articles(settings)
    assert len(published) == 4
    revisions = [a for a in published if a.title == "Council report 1"]
    assert len({r.id for r in revisions}) == 1
    assert [r.content for r in revisions] == [first[1]["body"], changed[1]["body"]]
    assert revisions[0].content_hash != revisions[1].content_hash
    assert metric(registry, "newsflow_poller_entries_total", status="updated") == 1
    assert metric(registry, "newsflow_poller_entries_total", status="unchanged") == 2


def test_a_feed_with_1000_entries(settings, server):
    settings = poller_settings(settings)
    server.routes["/long"] = lambda h: Reply(200, rss(items(1000)))
    poller = poll_once(settings, [feed(server, "/long")])
    published = raw_articles(settings)
    assert len(published) == 1000 and len({a.id for a in published}) == 1000
    assert metric(poller.metrics.registry, "newsflow_poller_entries_total", status="new") == 1000
    registry = CollectorRegistry()
    server.routes["/long"] = lambda h: Reply(200, rss(items(1000)) + b"\n")
    poll_once(settings, [feed(server, "/long")], registry)
    assert metric(registry, "newsflow_poller_entries_total", status="unchanged") == 1000
    assert raw_count(settings) == 1000


def test_ttl_and_max_age_raise_the_interval(settings, server):
    settings = poller_settings(settings, poll_interval_s=60.0)
    server.routes["/ttl"] = lambda h: Reply(200, rss(items(1), ttl=30))  # minutes
    server.routes["/maxage"] = lambda h: Reply(200, rss(items(1, "m")), {"Cache-Control": "public, max-age=900"})
    before = time.time()
    poll_once(settings, [feed(server, "/ttl"), feed(server, "/maxage")])
    assert feed_state(settings, server.url("/ttl"))["next_poll_at"] - before >= 1800 * 0.89
    assert feed_state(settings, server.url("/maxage"))["next_poll_at"] - before >= 900 * 0.89


def test_unreachable_unsupported_and_invalid_urls_never_stop_the_others(settings, server):
    settings = poller_settings(settings)
    server.routes["/fine"] = lambda h: Reply(200, rss(items(2)))
    feeds = [Feed("refused", "http://127.0.0.1:9/feed"), Feed("ftp", "ftp://127.0.0.1/feed"),
             Feed("invalid", "http://[::1/feed"), Feed("missing-file", "file:///nonexistent/feed.xml"),
             feed(server, "/fine")]
    poller = poll_once(settings, feeds)
    assert len(raw_articles(settings)) == 2
    assert metric(poller.metrics.registry, FETCHES, outcome="error") == 4
    for f in feeds[:4]:
        state = feed_state(settings, f.url)
        assert state["error_count"] == 1 and "internal error" not in state["last_error"], state


def test_a_dead_parser_process_fails_one_poll_and_is_replaced(settings, server):
    import asyncio
    import os
    import signal

    from services.poller.main import Poller

    settings = poller_settings(settings, parse_workers=1)
    body = {"v": rss(items(2))}
    server.routes["/p"] = lambda h: Reply(200, body["v"])
    f = feed(server, "/p")

    async def go():
        poller = Poller(settings, CollectorRegistry())
        try:
            async with poller.client() as client:
                assert await poller.poll_all(client, [f]) == 2
                for pid in list(poller.parse_pool._processes):
                    os.kill(pid, signal.SIGKILL)
                await asyncio.sleep(0.5)
                body["v"] = rss(items(3))
                assert await poller.poll_all(client, [f]) == 0
                assert "parser process died" in poller.state.health(f.url)["last_error"]
                assert await poller.poll_all(client, [f]) == 1  # a new parser process
        finally:
            poller.close()

    asyncio.run(go())
    assert raw_count(settings) == 3
