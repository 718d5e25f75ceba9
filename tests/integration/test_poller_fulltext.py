"""Acceptance 4: full text from a local article page; links to metadata and private addresses refused
and counted (the guard refuses before any connection is attempted)."""
from __future__ import annotations

import pytest

from services.poller.feeds import Feed
from tests.feedserver import FeedServer, Reply
from tests.integration.pollertools import metric, poll_once, poller_settings, raw_articles
from tests.integration.test_poller_http import rss

pytestmark = pytest.mark.integration

PARAGRAPHS = [
    "The harbour council of Port Elin voted on Tuesday to rebuild the northern breakwater, "
    "which storms have battered three winters in a row.",
    "Engineers told the council that the new wall would be two metres higher and built from "
    "interlocking concrete blocks rather than the granite used in the nineteenth century.",
    "Fishing crews welcomed the decision but asked that work pause during the herring season, "
    "when the harbour is busiest and the cranes would block the landing quay.",
    "The council expects the first blocks to be cast in March and the work to last two years.",
]
PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Breakwater to be rebuilt</title></head><body>"
    "<nav><a href='/'>Home</a> | <a href='/local'>Local</a> | <a href='/sport'>Sport</a></nav>"
    "<article><h1>Breakwater to be rebuilt after storms</h1>"
    + "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    + "</article><footer>Share this story · Subscribe · © Port Elin Gazette</footer></body></html>"
).encode()


def test_full_text_from_a_local_page_and_private_links_refused(settings):
    settings = poller_settings(settings, fulltext_min_chars=400)
    server = FeedServer()
    try:
        server.routes["/article/breakwater"] = lambda h: Reply(200, PAGE, {"Content-Type": "text/html; charset=utf-8"})
        entries = [
            {"guid": "a1", "title": "Breakwater to be rebuilt", "link": server.url("/article/breakwater"),
             "body": "The council voted to rebuild the breakwater."},
            {"guid": "a2", "title": "Metadata", "link": "http://169.254.169.254/latest/meta-data/", "body": "short"},
            {"guid": "a3", "title": "Intranet", "link": "http://10.0.0.1/internal", "body": "short"},
        ]
        server.routes["/feed"] = lambda h: Reply(200, rss(entries))
        poller = poll_once(settings, [Feed("gazette", server.url("/feed"))])
    finally:
        server.close()
    registry = poller.metrics.registry
    assert metric(registry, "newsflow_poller_fulltext_total", outcome="ok") == 1
    assert metric(registry, "newsflow_poller_fulltext_total", outcome="refused") == 2
    articles = {a.title: a for a in raw_articles(settings)}
    full = articles["Breakwater to be rebuilt"]
    assert full.content_type == "text/html"
    for paragraph in PARAGRAPHS:
        assert paragraph in full.content
    assert "Subscribe" not in full.content and "Sport" not in full.content
    assert articles["Metadata"].content == "short" and articles["Intranet"].content == "short"
    assert len(articles) == 3  # refused pages still publish the entry, with its summary
