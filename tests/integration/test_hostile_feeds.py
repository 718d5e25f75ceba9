"""Hostile feeds over the real HTTP server, polled by the real Poller into the real broker.

Each poll runs in a process of its own (tests/integration/hostile_poll.py), which reports its
peak memory and its parser processes' peak: those are asserted with generous bounds, set
below what the same inputs cost before the guards (services/poller/safexml.py says what was
measured). Times are printed (`pytest -s`), never asserted; pytest's timeout bounds them.
Every case must end as a counted outcome with its reason.
"""
from __future__ import annotations

import json
import subprocess
import sys
import zlib

import pytest

from services.cleaner.clean import clean_article
from shared.schema import encode
from tests.conftest import REPO, settings_env
from tests.feedserver import FeedServer, Reply
from tests.integration.pollertools import feed_state, poller_settings, raw_articles

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
MB = 1024 * 1024
GIB = 1024 * MB
# Peaks allowed: about three times what a plain feed costs here (~95 MB for the poller process,
# ~30 MB for a parser process), far below the 0.4-2 GB these feeds took before their guards.
POLLER_PEAK_MB = 300
PARSER_PEAK_MB = 250
STORY = "The harbour council met on Tuesday and agreed the budget for the new pier."


def rss(items: str, *, prolog: str = "<?xml version='1.0'?>") -> bytes:
    return (f"{prolog}<rss version='2.0'><channel><title>Hostile desk</title>{items}</channel></rss>").encode()


def item(title: str, body: str = STORY, guid: str = "h-1", link: str = "https://news.example.org/h-1") -> str:
    return f"<item><guid>{guid}</guid><title>{title}</title><link>{link}</link><description>{body}</description></item>"


@pytest.fixture
def server():
    s = FeedServer()
    yield s
    s.close()


def hostile_poll(settings, *urls: str, label: str, **overrides) -> dict:
    settings = poller_settings(settings, **overrides)
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.hostile_poll", *urls],
        env=settings_env(settings), cwd=REPO, capture_output=True, text=True, timeout=200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\nhostile feed {label}: {report['seconds']:.2f} s, poller peak {report['poller_peak_mb']:.0f} MB, "
          f"parser peak {report['parser_peak_mb']:.0f} MB")
    report["log"] = done.stderr
    return report


def count(report: dict, name: str, **labels) -> float:
    return report["metrics"].get(name + json.dumps(labels, sort_keys=True), 0.0)


def fetches(report: dict, outcome: str) -> float:
    return count(report, "newsflow_poller_fetches_total", outcome=outcome)


def bounded(report: dict) -> None:
    assert report["poller_peak_mb"] < POLLER_PEAK_MB, report
    assert report["parser_peak_mb"] < PARSER_PEAK_MB, report


def test_a_plain_feed_for_comparison(settings, server):
    server.routes["/plain"] = lambda h: Reply(200, rss(item("Council agrees budget")))
    report = hostile_poll(settings, server.url("/plain"), label="plain (baseline)")
    assert fetches(report, "200") == 1
    assert [a.title for a in raw_articles(poller_settings(settings))] == ["Council agrees budget"]
    bounded(report)


# -- entities -----------------------------------------------------------------------------------

def laughs(levels: int = 9) -> str:
    """Billion laughs, on one line (feedparser strips declarations only when each starts a line)."""
    decls = ['<!ENTITY lol "lollollollollollollollollollollollollollollollollol">']
    decls += [f'<!ENTITY lol{i} "' + f"&lol{i - 1 if i > 1 else ''};" * 10 + '">' for i in range(1, levels + 1)]
    return "<!DOCTYPE rss [" + "".join(decls) + "]>"


@pytest.mark.parametrize("padding_mb", [0, 5], ids=["bare", "padded-5MB"])
def test_billion_laughs_is_not_expanded(settings, server, padding_mb):
    """Padding raises expat's own limit (100x the input): 5 MB of it let the bomb reach 1 GB."""
    padding = "<!--" + " " * (padding_mb * MB) + "-->" if padding_mb else ""
    body = rss(item("Laughs &lol9; here"), prolog="<?xml version='1.0'?>" + laughs() + padding)
    server.routes["/laughs"] = lambda h: Reply(200, body)
    report = hostile_poll(settings, server.url("/laughs"), label=f"billion laughs ({padding_mb} MB padding)")
    bounded(report)
    assert fetches(report, "200") == 1
    assert count(report, "newsflow_poller_malformed_feeds_total", reason="SAXParseException") == 1
    [article] = raw_articles(poller_settings(settings))
    assert "lollol" not in article.title + article.content and "&lol9;" in article.title


def test_quadratic_entities_are_not_expanded(settings, server):
    """One 2,000-character entity referenced 60,000 times (a 180 KB feed): feedparser's loose
    parser expanded it without limit (200,000 references made a 400 MB summary, 1.2 GB of memory)."""
    doctype = '<!DOCTYPE rss [\n<!ENTITY a "' + "A" * 2000 + '">\n]>\n'
    body = rss(item("Quadratic & co", "&a;" * 60_000), prolog="<?xml version='1.0'?>\n" + doctype)
    server.routes["/quadratic"] = lambda h: Reply(200, body)
    report = hostile_poll(settings, server.url("/quadratic"), label="quadratic entity blowup")
    bounded(report)
    assert count(report, "newsflow_poller_malformed_feeds_total", reason="SAXParseException") == 1
    [article] = raw_articles(poller_settings(settings))
    assert "AAAA" not in article.content


def test_external_entities_read_no_file_and_fetch_no_url(settings, server, tmp_path):
    canary = tmp_path / "secret.txt"
    canary.write_text("CANARY-7f3a-do-not-publish\n")
    http = server.url("/xxe")
    variants = {
        "file": f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{canary}">]>',
        "file-multiline": f'<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "file://{canary}">\n]>',
        "http": f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{http}">]>',
        "parameter": f'<!DOCTYPE rss [<!ENTITY % xpe SYSTEM "file://{canary}"> %xpe;]>',
        "dtd": f'<!DOCTYPE rss SYSTEM "{http}">',
    }
    server.routes["/xxe"] = lambda h: Reply(200, b"CANARY-7f3a-over-http")
    urls = []
    for name, doctype in variants.items():
        server.routes[f"/{name}"] = lambda h, d=doctype, n=name: Reply(
            200, rss(item(f"Entity {n} &xxe; end", f"Body &xxe; of {n}", guid=n), prolog="<?xml version='1.0'?>" + d))
        urls.append(server.url(f"/{name}"))
    report = hostile_poll(settings, *urls, label="external entities (5 feeds)")
    bounded(report)
    assert server.hits("/xxe") == 0
    published = raw_articles(poller_settings(settings))
    assert len(published) == len(variants)
    for article in published:
        assert "CANARY" not in encode(article).decode()
    assert "CANARY" not in json.dumps(report["feeds"]) and "CANARY" not in report["log"]


# -- size and time ------------------------------------------------------------------------------

def zeros(total: int, chunk: int = MB):
    def chunks():
        sent = 0
        while sent < total:
            yield b"<!-- " + b"0" * (chunk - 9) + b" -->"
            sent += chunk
    return chunks


def gzip_bomb(decoded: int):
    def chunks():
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip stream
        block = b"\0" * MB
        for _ in range(decoded // MB):
            out = packer.compress(block)
            if out:
                yield out
        yield packer.flush()
    return chunks


@pytest.mark.parametrize("shape", ["declared", "undeclared", "gzip"])
def test_a_gigabyte_response_is_cut_at_the_cap(settings, server, shape):
    replies = {
        "declared": Reply(200, chunks=zeros(GIB), length=GIB),  # Content-Length: 1 GiB
        "undeclared": Reply(200, chunks=zeros(GIB)),  # no length, streamed until the client hangs up
        "gzip": Reply(200, chunks=gzip_bomb(GIB), headers={"Content-Encoding": "gzip"}),  # ~1 MB on the wire
    }
    server.routes["/giga"] = lambda h: replies[shape]
    report = hostile_poll(settings, server.url("/giga"), label=f"1 GiB response, {shape}")
    bounded(report)
    assert fetches(report, "too_large") == 1
    assert "cap" in feed_state(poller_settings(settings), server.url("/giga"))["last_error"]
    assert server.sent.get("/giga", 0) < 200 * MB  # the gigabyte was never sent


def test_a_response_that_never_ends_times_out(settings, server):
    """A chunk every 0.5 s keeps every read under the read timeout; the total timeout ends it."""
    def drip():
        for _ in range(600):
            yield b"<item><title>drip</title></item>"
    server.routes["/drip"] = lambda h: Reply(200, chunks=drip, chunk_delay_s=0.5)
    report = hostile_poll(settings, server.url("/drip"), label="slow drip, 3 s total timeout", fetch_timeout_s=3.0)
    bounded(report)
    assert fetches(report, "timeout") == 1
    assert "timed out" in feed_state(poller_settings(settings), server.url("/drip"))["last_error"]


def test_an_entry_too_large_for_the_broker_is_counted_and_the_others_published(settings, server):
    """A 9 MB entry (under the 10 MB body cap) made send() raise MessageSizeTooLargeError: the
    poller exited, and after every restart failed again on the same entry."""
    body = rss(item("Huge", "x" * (9 * MB), guid="huge") + item("Normal", guid="normal"))
    server.routes["/huge-entry"] = lambda h: Reply(200, body)
    report = hostile_poll(settings, server.url("/huge-entry"), label="9 MB entry")
    bounded(report)
    assert count(report, "newsflow_poller_entries_total", status="too_large") == 1
    assert count(report, "newsflow_poller_entries_total", status="new") == 1
    assert [a.title for a in raw_articles(poller_settings(settings))] == ["Normal"]


def test_a_parse_over_its_time_limit_is_stopped_and_the_next_feed_parsed(settings, server):
    flat = rss("<x>y</x>" * 1_100_000 + item("Slow to parse"))  # ~9 MB: over 10 s of feedparser
    server.routes["/slow-parse"] = lambda h: Reply(200, flat)
    server.routes["/after"] = lambda h: Reply(200, rss(item("Parsed after", guid="after")))
    report = hostile_poll(settings, server.url("/slow-parse"), server.url("/after"), label="slow parse, 1 s limit",
                          parse_timeout_s=1.0, parse_workers=1)
    bounded(report)
    assert fetches(report, "parse_error") == 1 and fetches(report, "200") == 1
    assert "longer than 1 s" in feed_state(poller_settings(settings), server.url("/slow-parse"))["last_error"]
    assert [a.title for a in raw_articles(poller_settings(settings))] == ["Parsed after"]


def test_a_parser_process_cannot_grow_past_its_memory_cap(settings, server):
    body = rss(item("Big", "word " * (1_800_000)))  # 9 MB of text: ~150 MB to parse
    server.routes["/big"] = lambda h: Reply(200, body)
    report = hostile_poll(settings, server.url("/big"), label="9 MB feed, parser capped at 100 MB",
                          parse_memory_mb=100, parse_workers=1)
    assert fetches(report, "parse_error") == 1
    error = feed_state(poller_settings(settings), server.url("/big"))["last_error"]
    assert "MemoryError" in error or "parser process died" in error, error
    assert report["parser_peak_mb"] < 100


# -- nesting ------------------------------------------------------------------------------------

@pytest.mark.parametrize("malformed", [False, True], ids=["well-formed", "malformed"])
def test_deeply_nested_elements_are_refused(settings, server, malformed):
    """1.3 million nested elements (9 MB; 1.5 million took 22 s and 609 MB strict, 38 s and 445 MB loose)."""
    title = "Deep & unescaped" if malformed else "Deep"
    body = rss("<x>" * 1_300_000 + "</x>" * 1_300_000 + item(title))
    server.routes["/deep"] = lambda h: Reply(200, body)
    report = hostile_poll(settings, server.url("/deep"), label=f"1.3 M nested elements, {'malformed' if malformed else 'well-formed'}")
    bounded(report)
    assert fetches(report, "parse_error") == 1
    assert "nested deeper than 1000" in feed_state(poller_settings(settings), server.url("/deep"))["last_error"]


def test_deeply_nested_html_content_is_published_and_cleaned(settings, server):
    """Escaped HTML nested 20,000 deep is content, not feed structure: published, and the cleaner
    (past libxml2's depth limit, which used to leave it no text) finds the words."""
    deep = "&lt;div&gt;" * 20_000 + f"&lt;p&gt;{STORY}&lt;/p&gt;" + "&lt;/div&gt;" * 20_000
    server.routes["/deep-html"] = lambda h: Reply(200, rss(item("Deep content", deep)))
    report = hostile_poll(settings, server.url("/deep-html"), label="HTML content nested 20,000 deep")
    bounded(report)
    [article] = raw_articles(poller_settings(settings))
    assert article.content_type == "text/html" and article.content.count("<div>") == 20_000
    assert clean_article(article).text == STORY


def test_a_deeply_nested_full_text_page_keeps_the_summary(settings, server):
    page = "<html><head><title>Deep</title></head><body>" + "<div>" * 100_000 + f"<p>{STORY * 10}</p></body></html>"
    server.routes["/page"] = lambda h: Reply(200, page.encode(), {"Content-Type": "text/html"})
    server.routes["/short"] = lambda h: Reply(200, rss(item("Short entry", "A short summary.", link=server.url("/page"))))
    report = hostile_poll(settings, server.url("/short"), label="full-text page nested 100,000 deep",
                          fulltext_min_chars=400)
    bounded(report)
    assert server.hits("/page") == 1
    assert count(report, "newsflow_poller_fulltext_total", outcome="extract_failed") == 1
    [article] = raw_articles(poller_settings(settings))
    assert article.content == "A short summary."
