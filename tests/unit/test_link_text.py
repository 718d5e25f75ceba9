"""A `<link>` with an address in an attribute and another in its text keeps the http(s) one."""
from __future__ import annotations

from services.poller.feeds import Feed
from services.poller.parse import parse_feed

FEED = Feed("desk", "https://news.example.org/feed")


def urls(doc: str) -> list[str]:
    return [a.url for a in parse_feed(FEED, doc.encode(), 0.0).entries]


def test_the_web_address_wins_whichever_place_it_is_in():
    rss = ('<rss version="2.0"><channel>'
           '<item><title>a</title><link href="urn:desk:1">https://news.example.org/a</link></item>'
           '<item><title>b</title><link href="https://news.example.org/b">javascript:void(0)</link></item>'
           '<item><title>c</title><link>https://news.example.org/c</link></item>'
           '</channel></rss>')
    assert urls(rss) == ["https://news.example.org/a", "https://news.example.org/b", "https://news.example.org/c"]
    atom = ('<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>d</title>'
            '<link href="tag:desk,2026:d">https://news.example.org/d</link></entry></feed>')
    assert urls(atom) == ["https://news.example.org/d"]


def test_the_id_follows_the_web_address():
    with_text = ('<rss version="2.0"><channel><item><title>a</title>'
                 '<link href="urn:desk:1">https://news.example.org/a</link></item></channel></rss>')
    plain = '<rss version="2.0"><channel><item><title>a</title><link>https://news.example.org/a</link></item></channel></rss>'
    assert parse_feed(FEED, with_text.encode(), 0.0).entries[0].id == parse_feed(FEED, plain.encode(), 0.0).entries[0].id


def test_malformed_xml_keeps_what_feedparser_read():
    broken = ('<rss version="2.0"><channel><item><title>a</title><link href="urn:desk:1">https://news.example.org/a'
              '</link></item><item><title>b & c</title></item></channel></rss>')
    assert urls(broken)[0] == "urn:desk:1"
