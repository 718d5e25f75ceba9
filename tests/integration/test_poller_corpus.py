"""Acceptance 1: every test feed of feedparser, rss-parser and Miniflux, served by a real HTTP
server on 127.0.0.1 and polled by the real Poller (fetch -> parse -> publish) into the real
broker; what is checked is what reached news.raw.

What the feedparser corpus can check about our articles, and what it cannot: its `Expect:`
lines are Python over feedparser's result. Conjuncts of the form `entries[i][key] == literal`
whose key is one our Article carries (title, title_detail.value, link, published/updated and
their _parsed forms, id/guid) are checked against the Article published for that entry.
The rest (feed-level fields, encodings, content details, namespaces...) speaks of fields our
Article does not have; for those files we check that the poller did not crash, that a
well-formed feed published exactly its entries, and that a malformed one was counted with its
reason. The counts of each are printed (`pytest -s`) and bounded below so the check cannot
silently check nothing.
"""
from __future__ import annotations

import ast
import calendar
import codecs
import io
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urljoin

import feedparser
import pytest
from feedparser.datetimes import _parse_date

from services.cleaner.clean import plain_title
from services.poller.feeds import Feed
from services.poller.parse import article_from_entry, entry_id
from services.poller.state import PollerState
from tests.conftest import TESTDATA
from tests.feedserver import FeedServer, Reply
from tests.integration.pollertools import metric, poll_once, poller_settings, raw_articles

pytestmark = pytest.mark.integration
FEEDS = TESTDATA / "feeds"
EXPECT = re.compile(r"Expect:\s*(.*?)\s*-->", re.DOTALL)
HEADER = re.compile(r"^\s*Header:\s*([^:\s]+):[ \t]*(.*?)\s*$", re.MULTILINE)
DECODINGS = ("utf-8", "utf-16", "utf-32", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")


def need(path: Path) -> Path:
    if not path.is_dir():
        pytest.skip(f"test data not found at {path}")
    return path


@dataclass
class Case:
    rel: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    expect: str | None = None


def feedparser_cases() -> list[Case]:
    root = need(FEEDS / "feedparser")
    cases = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "LICENSE"):
        body = path.read_bytes()
        text = _comment_text(body)
        headers = {name: value for name, value in HEADER.findall(text)}
        if not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "text/xml"
        match = EXPECT.search(text)
        cases.append(Case(str(path.relative_to(root)), body, headers, match and " ".join(match.group(1).split())))
    return cases


def _comment_text(body: bytes) -> str:
    """The file as text, in whichever encoding shows its `Expect:` comment (UTF-16/32 files too)."""
    for encoding in DECODINGS:
        text = body.decode(encoding, errors="ignore")
        if "Expect:" in text:
            return text
    return ""


def serve_and_poll(settings, cases: list[Case], prefix: str):
    """Serve every case, poll them all in one cycle; returns (poller, {rel: state row}, {rel: articles}, urls)."""
    settings = poller_settings(settings, partitions=1, fetch_timeout_s=20.0)  # one partition: feed order kept
    server = FeedServer()
    try:
        feeds, urls = [], {}
        for case in cases:
            path = f"/{prefix}/{case.rel}"
            server.routes[path] = lambda h, case=case: Reply(200, case.body, case.headers)
            urls[case.rel] = server.url(path)
            feeds.append(Feed(name=case.rel, url=urls[case.rel], fulltext=False))
        poller = poll_once(settings, feeds)
    finally:
        server.close()
    state = PollerState(settings.data_dir / "poller.db")
    rows = {case.rel: state.health(urls[case.rel]) or {} for case in cases}
    state.close()
    published = defaultdict(list)
    for article in raw_articles(settings):
        published[article.source].append(article)
    return poller, rows, published, urls


def reference(case: Case, url: str):
    """feedparser's own reading of the same bytes with the same headers, as the poller gives them."""
    headers = {k.lower(): v for k, v in case.headers.items()}
    headers.setdefault("content-location", url)
    return feedparser.parse(io.BytesIO(case.body), sanitize_html=True, response_headers=headers)


# -- Expect: conjuncts about entries -----------------------------------------------------------

CHECKABLE = {"title", "title_detail.value", "link", "published", "updated", "published_parsed",
             "updated_parsed", "id", "guid"}


def entry_claims(expect: str) -> list[tuple[int, str, object]]:
    """(entry index, key, expected value) for each `entries[i][key] == literal` conjunct."""
    try:
        tree = ast.parse(expect, mode="eval").body
    except SyntaxError:
        return []
    conjuncts, claims = _conjuncts(tree), []
    for node in conjuncts:
        if not (isinstance(node, ast.Compare) and all(isinstance(op, ast.Eq) for op in node.ops)):
            continue
        operands = [node.left, *node.comparators]
        refs = [_entry_ref(o) for o in operands]
        literals = [o for o, r in zip(operands, refs) if r is None]
        if len(literals) != 1:
            continue
        try:
            value = eval(compile(ast.Expression(literals[0]), "<expect>", "eval"), {"__builtins__": {}})  # noqa: S307 - test data
        except Exception:  # noqa: BLE001 - not a literal: not a claim we can check
            continue
        claims += [(r[0], r[1], value) for r in refs if r and r[1] in CHECKABLE]
    return claims


def _conjuncts(node) -> list:
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return [c for value in node.values for c in _conjuncts(value)]
    return [node]


def _entry_ref(node) -> tuple[int, str] | None:
    """`entries[i]['k']`, `entries[i].k` or `entries[i]['k']['value']` -> (i, 'k' or 'k.value')."""
    path = []
    while True:
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            path.append(node.slice.value)
            node = node.value
        elif isinstance(node, ast.Attribute):
            path.append(node.attr)
            node = node.value
        else:
            break
    if not (isinstance(node, ast.Name) and node.id == "entries" and path and isinstance(path[-1], int)):
        return None
    keys = [str(k) for k in reversed(path[:-1])]
    return (path[-1], ".".join(keys)) if keys else None


def check_claim(feed: Feed, key: str, expected, entry, article) -> str | None:
    """None when our article agrees with the expectation, else what differs; 'n/a: …' when it cannot apply."""
    if key in ("title", "title_detail.value"):
        got, want = article.title or "", str(expected).strip()
    elif key == "link":
        got, want = article.url, expected
    elif key in ("id", "guid"):
        got, want = article.id, entry_id(feed.url, {"id": expected}, None, "", None)
    else:
        if key.startswith("updated") and entry.get("published_parsed"):
            return "n/a: the article keeps the published date, not the updated one"
        struct = expected if key.endswith("_parsed") else _parse_date(expected)
        want = datetime.utcfromtimestamp(calendar.timegm(struct)).isoformat()[:19] if struct else None
        got = (article.published_at or "")[:19] or None
    return None if got == want else f"{key}: got {got!r}, expected {want!r}"


def test_every_feedparser_test_feed(settings):
    cases = feedparser_cases()
    assert len(cases) > 300
    poller, rows, published, urls = serve_and_poll(settings, cases, "fp")
    problems, tally = [], Counter()
    for case in cases:
        row, ours = rows[case.rel], published.get(case.rel, [])
        feed = Feed(case.rel, urls[case.rel])
        ref = reference(case, urls[case.rel])
        if row.get("last_outcome") not in ("200", "parse_error"):
            problems.append(f"{case.rel}: outcome {row.get('last_outcome')!r}: {row.get('last_error')}")
            continue
        if case.rel.endswith(".json"):  # JSON Feed: feedparser 6 reads none of it; ours (its Expect: 2 entries)
            tally["JSON Feed entries published"] += len(ours)
            if len(ours) != 2 or row["last_outcome"] != "200":
                problems.append(f"{case.rel}: published {len(ours)} of the 2 JSON Feed items")
            continue
        if ref.bozo:  # broken: counted with its reason
            tally["malformed"] += 1
            if not (row["last_outcome"] == "parse_error" and row["last_error"]) and not row.get("last_bozo"):
                problems.append(f"{case.rel}: feedparser says bozo, the poller recorded no reason")
        if row["last_outcome"] == "parse_error":
            tally["parse_error"] += 1
            if ref.entries:
                problems.append(f"{case.rel}: parse error {row['last_error']!r} but feedparser recovers entries")
            continue
        by_id = {}
        for entry in ref.entries:
            article = article_from_entry(feed, entry, 0)
            if not isinstance(article, str) and article.content:  # skipped, or link-only with full text off
                by_id[article.id] = entry
        if sorted(a.id for a in ours) != sorted(by_id):
            problems.append(f"{case.rel}: published {len(ours)} articles, feedparser has {len(by_id)} entries")
            continue
        tally["entries published"] += len(ours)
        mine = {a.id: a for a in ours}
        for index, key, expected in entry_claims(case.expect or ""):
            if index >= len(ref.entries):
                continue
            entry = ref.entries[index]
            article = article_from_entry(feed, entry, 0)
            if isinstance(article, str) or not article.content:  # nothing to publish: not an article
                tally[f"n/a ({key}): entry without title or content"] += 1
                continue
            verdict = check_claim(feed, key, expected, entry, mine[article.id])
            if verdict is None:
                tally[f"checked {key.split('.')[0]}"] += 1
            elif verdict.startswith("n/a"):
                tally[verdict] += 1
            else:
                problems.append(f"{case.rel}: {verdict} ({case.expect})")
    print(f"\nfeedparser corpus: {len(cases)} feeds; " + "; ".join(f"{k}: {v}" for k, v in sorted(tally.items())))
    assert not problems, "\n".join(problems)
    checked = sum(v for k, v in tally.items() if k.startswith("checked"))
    assert checked >= 30 and tally["checked title"] >= 20
    bozo_counted = sum(s.value for s in poller.metrics.bozo.collect()[0].samples if s.name.endswith("_total"))
    assert bozo_counted == sum(1 for r in rows.values() if r.get("last_bozo"))
    assert metric(poller.metrics.registry, "newsflow_poller_fetches_total", outcome="parse_error") == tally["parse_error"]


def test_every_rss_parser_feed_matches_its_expected_output(settings):
    root = need(FEEDS / "rss-parser" / "test")
    cases = [Case(p.name, p.read_bytes(), {"Content-Type": "application/xml"}) for p in sorted((root / "input").iterdir())]
    poller, rows, published, urls = serve_and_poll(settings, cases, "rp")
    checked = Counter()
    for case in cases:
        row = rows[case.rel]
        expected_file = root / "output" / (Path(case.rel).stem + ".json")
        if case.rel == "unrecognized.rss":  # an HTML "Document Moved" page
            assert row["last_outcome"] == "parse_error" and "HTML page" in row["last_error"]
            continue
        assert row["last_outcome"] == "200", f"{case.rel}: {row}"
        if not expected_file.exists():
            continue
        items = json.loads(_text(expected_file.read_bytes()))["feed"]["items"]
        # an item with neither title nor content (incomplete-fields.atom: `{}`) is not an article
        items = [i for i in items if (i.get("title") or "").strip() or i.get("content")]
        ours = published[case.rel]
        assert len(ours) == len(items), case.rel
        for got, want in zip(ours, items):
            # rss-parser gives a title's markup as written, feedparser as sanitised HTML ("&" -> "&amp;"):
            # compared as the text they mean, as the cleaner reads titles.
            assert _same_text(plain_title(got.title) or "", plain_title(want.get("title")) or ""), case.rel
            checked["title"] += 1
            if want.get("link"):
                # a relative link (gulp-atom) is resolved against the feed's URL; rss-parser leaves it relative
                assert got.url == urljoin(urls[case.rel], want["link"]), case.rel
                checked["link"] += 1
            if want.get("isoDate"):
                assert got.published_at[:19] == want["isoDate"][:19], case.rel
                checked["isoDate"] += 1
    print(f"\nrss-parser: {len(cases)} feeds; checked {dict(checked)}")
    assert checked["title"] > 100 and checked["link"] > 100 and checked["isoDate"] > 50


def _same_text(ours: str, theirs: str) -> bool:
    """Equal, except where rss-parser wrote U+FFFD: it read uolNoticias's ISO-8859-1 as UTF-8,
    one replacement character per byte it could not decode (we decode it right)."""
    if "\ufffd" not in theirs:
        return ours == theirs
    return len(ours) == len(theirs) and all(t == "\ufffd" or o == t for o, t in zip(ours, theirs))


def _text(raw: bytes) -> str:
    # encoding.json is stored in ISO-8859-1 like the feed it describes; json, not orjson: lone surrogates.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("iso-8859-1")


def miniflux_titles(body: bytes) -> list[str]:
    """Item titles by Miniflux's rule, read with ElementTree: a body that is valid UTF-8 is UTF-8
    whatever it declares; otherwise the declared charset (windows-1252 when none is)."""
    declared = re.search(rb"<\?xml[^>]*encoding=[\"']([\w.:-]+)", body[:200])
    try:
        charset = codecs.lookup(declared.group(1).decode()).name if declared else "windows-1252"
    except LookupError:  # encoding="invalid"
        charset = "windows-1252"
    for encoding in ("utf-8", charset, "windows-1252"):  # windows-1252: as browsers read the undeclared
        try:
            text = body.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    root = ET.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", text))
    local = lambda tag: tag.rsplit("}", 1)[-1]  # noqa: E731
    return [" ".join((child.text or "").split())
            for node in root.iter() if local(node.tag) in ("item", "entry")
            for child in node if local(child.tag) == "title"]


def test_miniflux_charset_cases_decode_titles_right(settings):
    root = need(FEEDS / "miniflux")
    paths = sorted(root.rglob("*.xml"))
    cases = [Case(str(p.relative_to(root)), p.read_bytes(), {"Content-Type": "application/xml"}) for p in paths]
    poller, rows, published, urls = serve_and_poll(settings, cases, "mf")
    checked, without_items = 0, []
    for case in cases:
        row = rows[case.rel]
        assert row.get("last_outcome") in ("200", "parse_error"), f"{case.rel}: {row}"
        want = miniflux_titles(case.body)
        if not want:
            without_items.append(case.rel)
            continue
        want = [t for t in want if t]  # an item with an empty title has no title to check
        got = [t for t in (" ".join((a.title or "").split()) for a in published[case.rel]) if t]
        assert got == want, case.rel
        assert not any("\ufffd" in t or "Ã" in t for t in got), case.rel
        checked += len(got)
    print(f"\nminiflux: {len(cases)} files, {checked} titles checked; no items (channel only or not a feed): {without_items}")
    assert checked > 100
