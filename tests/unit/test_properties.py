"""Property-based tests (hypothesis): whatever the input, only the documented errors escape.

- feed parsing (`parse_feed`): arbitrary bytes and odd-but-structured RSS/Atom -> FeedParseError
- cleaning (`clean_article`): arbitrary text and HTML -> ValueError("no text left after cleaning")
- tagging (`tag_article`): arbitrary text -> never raises
- taxonomy loading (`load_taxonomy`): arbitrary YAML -> TaxonomyError
- message decoding (`shared.schema.decode`): arbitrary bytes and JSON -> BadMessage, and what it
  returns has the field types an Article declares (a stage downstream relies on them)

Derandomized and without an example database, so CI runs the same examples every time.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

import orjson
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.cleaner.clean import clean_article
from services.poller.feeds import Feed
from services.poller.parse import FeedParseError, parse_feed
from services.tagger.tag import tag_article
from services.tagger.taxonomy import TaxonomyError, load_taxonomy
from shared.config import Settings
from shared.schema import Article, BadMessage, Tag, decode, encode

CI = settings(
    max_examples=150, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEED = Feed(name="prop", url="https://feeds.example.org/prop.xml")
TAXONOMY = load_taxonomy(Settings().taxonomy_file)

# -- feed parsing ------------------------------------------------------------------------------

text = st.text(st.characters(codec="utf-8"), max_size=80)
markup_bits = st.sampled_from([
    "<b>", "</b>", "<p>", "</p>", "<![CDATA[", "]]>", "&amp;", "&nbsp;", "&#xD83D;", "&#0;", "&undefined;",
    "<!--", "-->", "<", ">", "&", "\x00", "\ufeff", "<script>alert(1)</script>", "javascript:", "<?xml?>",
])
fragment = st.lists(st.one_of(text, markup_bits), max_size=8).map("".join)
dates = st.one_of(
    text,
    st.sampled_from(["Mon, 16 Nov 2026 07:30:00 GMT", "2026-11-16T07:30:00Z", "99999-01-01", "Feb 30 2026",
                     "Mon, 16 Nov 2026 25:61:61 +9999", "0000-00-00T00:00:00", "-1", "1e400"]),
)
links = st.one_of(
    text,
    st.sampled_from(["http://[::1", "https://example.org:99999/x", "//no-scheme", "javascript:alert(1)",
                     "https://ex.org/?utm_source=a&utm_medium=b", "HTTPS://EX.ORG/A#frag", "mailto:x@y", ""]),
)


RSS_ITEM = {
    "title": "<title>{title}</title>", "link": "<link>{link}</link>", "guid": "<guid>{guid}</guid>",
    "date": "<pubDate>{date}</pubDate>", "body": "<description>{body}</description>",
    "author": "<author>{author}</author>",
}
ATOM_ENTRY = {
    "title": "<title>{title}</title>", "link": '<link href="{href}"/>', "guid": "<id>{guid}</id>",
    "date": "<updated>{date}</updated>", "body": '<content type="html">{body}</content>',
    "author": "<author><name>{author}</name></author>",
}


@st.composite
def rss_documents(draw) -> bytes:
    """RSS and Atom built the right way round, with weird values where text goes; the
    values are sometimes left unescaped, which makes some documents malformed."""
    def value(strategy):
        raw = draw(strategy)
        return raw if draw(st.booleans()) else escape(raw)

    atom = draw(st.booleans())
    templates = ATOM_ENTRY if atom else RSS_ITEM
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        fields = {
            "title": value(fragment), "link": value(links), "guid": value(text), "date": value(dates),
            "body": value(fragment), "author": value(text),
        }
        fields["href"] = escape(fields["link"], {'"': "&quot;"})
        present = draw(st.sets(st.sampled_from(sorted(templates))))
        item = "".join(templates[name].format(**fields) for name in sorted(present))
        parts.append(f"<entry>{item}</entry>" if atom else f"<item>{item}</item>")
    ttl = draw(st.one_of(st.just(""), text.map(lambda t: f"<ttl>{escape(t)}</ttl>")))
    if atom:
        doc = f"<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>{value(text)}</title>{''.join(parts)}</feed>"
    else:
        doc = f"<rss version=\"2.0\"><channel><title>{value(text)}</title>{ttl}{''.join(parts)}</channel></rss>"
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "iso-8859-1", "windows-1252"]))
    prolog = draw(st.sampled_from([f"<?xml version=\"1.0\" encoding=\"{encoding}\"?>", "", "\ufeff"]))
    return (prolog + doc).encode(encoding if encoding.startswith("utf") else "utf-8", errors="replace")


def _parse_or_documented_error(body: bytes, headers: dict | None = None) -> None:
    try:
        parsed = parse_feed(FEED, body, 1_700_000_000.0, headers)
    except FeedParseError as exc:
        assert str(exc)
        return
    assert set(parsed.skipped) <= {"empty", "enclosure_only"} and all(n > 0 for n in parsed.skipped.values())
    for article in parsed.entries:
        assert isinstance(article, Article)
        assert article.id and article.url and article.source == FEED.name
        assert isinstance(article.content, str)
        assert article.content or article.title is None  # no content: a link-only entry, for the full text
        if article.content:  # a link-only entry is published only once its page filled it
            decode(encode(article))  # what the poller publishes, the next stage reads


@CI
@given(st.binary(max_size=2000))
def test_parse_feed_on_arbitrary_bytes(body):
    _parse_or_documented_error(body)


@CI
@given(rss_documents(), st.sampled_from([None, {"content-type": "text/xml; charset=utf-8"},
                                          {"content-type": "application/rss+xml; charset=bogus"},
                                          {"content-location": "http://[bad"}]))
def test_parse_feed_on_odd_but_structured_feeds(body, headers):
    _parse_or_documented_error(body, headers)


# -- cleaning ----------------------------------------------------------------------------------

html_bits = st.sampled_from([
    "<html>", "<body>", "</body>", "</html>", "<p>", "</p>", "<div class='share'>", "</div>", "<br>", "<script>",
    "</script>", "<style>", "<table><tr><td>", "<!DOCTYPE html>", "<?xml version='1.0'?>", "<![CDATA[x]]>",
    "<title>", "</title>", "<meta name='author' content='A'>", "&amp;", "&#0;", "&#x110000;", "<", ">",
])
page_text = st.text(st.characters(codec="utf-8"), max_size=200)
lines = st.lists(st.one_of(page_text, st.sampled_from([
    "Share this", "You may also like", "By Ann Lee and Bo Chan", "WASHINGTON: ", "Published : 13 Nov 2023, 01:34 AM",
    "date 2023-11-17", "Photograph: X/Getty Images", "Related", "Headline one -", "â€™ mojibake Ã©", "\u00ad\u200b",
])), max_size=12).map("\n".join)


def _clean_or_no_text(article: Article) -> None:
    try:
        cleaned = clean_article(article)
    except ValueError as exc:
        assert str(exc) == "no text left after cleaning"
        return
    assert cleaned.text and cleaned.text.strip()
    assert cleaned.language is None or isinstance(cleaned.language, str)
    decode(encode(cleaned))


@CI
@given(lines, st.one_of(st.none(), page_text), st.one_of(st.none(), dates))
def test_clean_article_on_arbitrary_text(body, title, published):
    _clean_or_no_text(Article(id="p", url="u", source="s", content=body, title=title, published_at=published))


@CI
@given(st.lists(st.one_of(html_bits, page_text, lines), max_size=15).map("".join), st.one_of(st.none(), page_text))
def test_clean_article_on_arbitrary_html(markup, title):
    _clean_or_no_text(Article(id="p", url="u", source="s", content=markup, content_type="text/html", title=title))


# -- tagging -----------------------------------------------------------------------------------

mentions = st.sampled_from([
    "Taiwan", "Taiwanese", "spy balloon", "weather balloon", "balloon", "hotline", "direct military communication",
    "Pentagon", "shot down", "ROC", "roc", "balloon payment", "\n\n", ". ", "…", "—",
])


@CI
@given(st.lists(st.one_of(page_text, mentions), max_size=30).map(" ".join), st.one_of(st.none(), page_text))
def test_tag_article_on_arbitrary_text(body, title):
    article = Article(id="p", url="u", source="s", content=body or "-", text=body, title=title)
    tagged = tag_article(article, TAXONOMY)
    assert tagged.taxonomy_version == TAXONOMY.version
    names = [t.name for t in tagged.tags]
    assert len(names) == len(set(names)) and set(names) <= {t.name for t in TAXONOMY.topics}
    thresholds = {t.name: t.threshold for t in TAXONOMY.topics}
    assert all(t.score >= thresholds[t.name] and t.evidence for t in tagged.tags)
    decode(encode(tagged))


# -- taxonomy loading --------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), text, st.sampled_from(
    ["(", "[a-", "*", "(?<!x", "a{99999999999}", "spy balloon", "", " ", "1.5", "nan", "inf", "-1"]))
yaml_values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=12,
)
term = st.one_of(scalars, st.dictionaries(
    st.sampled_from(["text", "pattern", "weight", "case_sensitive", "ambiguous", "other"]), scalars, max_size=4))
topic = st.dictionaries(
    st.sampled_from(["threshold", "title_weight", "phrases", "patterns", "context", "veto", "description", "x"]),
    st.one_of(scalars, st.lists(term, max_size=4), st.dictionaries(text, scalars, max_size=2)),
    max_size=7,
)
taxonomy_docs = st.fixed_dictionaries(
    {"topics": st.one_of(st.dictionaries(st.one_of(text, st.sampled_from(["taiwan", "a-b", "Bad Name"])), topic,
                                         max_size=3), yaml_values)},
    optional={"version": scalars},
)


def _load_or_taxonomy_error(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "taxonomy.yaml"
        path.write_bytes(raw)
        try:
            loaded = load_taxonomy(path)
        except TaxonomyError as exc:
            assert str(exc)
            return
    tag_article(Article(id="p", url="u", source="s", content="Taiwan spy balloon hotline", text=None), loaded)


@CI
@given(taxonomy_docs)
def test_load_taxonomy_on_odd_but_structured_yaml(doc):
    _load_or_taxonomy_error(yaml.safe_dump(doc, allow_unicode=True).encode())


@CI
@given(st.one_of(st.binary(max_size=400), yaml_values.map(lambda v: yaml.safe_dump(v).encode()),
                 st.text(max_size=400).map(str.encode)))
def test_load_taxonomy_on_arbitrary_files(raw):
    _load_or_taxonomy_error(raw)


# -- message decoding --------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False), text),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
    max_leaves=8,
)
FIELD_NAMES = ["id", "url", "source", "content", "content_type", "title", "published_at", "authors", "fetched_at",
               "content_hash", "text", "dateline", "language", "tags", "taxonomy_version", "duplicate_of",
               "story_id", "schema"]
GOOD = orjson.loads(encode(Article(id="a", url="u", source="s", content="c", tags=[Tag("t", 1.0, [])])))


@st.composite
def messages(draw) -> bytes:
    """Valid articles with some fields replaced by any JSON value, dropped, or added."""
    data = dict(GOOD)
    for name in draw(st.sets(st.sampled_from(FIELD_NAMES), max_size=4)):
        if draw(st.booleans()):
            data[name] = draw(json_values)
        else:
            data.pop(name, None)
    if draw(st.booleans()):
        data["tags"] = draw(st.lists(st.one_of(json_values, st.fixed_dictionaries(
            {"name": json_values, "score": json_values}, optional={"evidence": json_values})), max_size=2))
    return orjson.dumps(data)


def _decode_or_bad_message(raw: bytes) -> None:
    try:
        article = decode(raw)
    except BadMessage as exc:
        assert exc.kind and str(exc)
        return
    for name in ("id", "url", "source", "content", "content_type", "content_hash"):
        assert isinstance(getattr(article, name), str), name
    for name in ("title", "published_at", "text", "dateline", "language", "taxonomy_version", "duplicate_of",
                 "story_id"):
        assert getattr(article, name) is None or isinstance(getattr(article, name), str), name
    assert isinstance(article.fetched_at, (int, float)) and not isinstance(article.fetched_at, bool)
    assert isinstance(article.authors, list) and all(isinstance(a, str) for a in article.authors)
    for tag in article.tags:
        assert isinstance(tag.name, str) and isinstance(tag.score, (int, float)) and isinstance(tag.evidence, list)
    assert decode(encode(article)) == article


@CI
@given(st.binary(max_size=300))
def test_decode_on_arbitrary_bytes(raw):
    _decode_or_bad_message(raw)


@CI
@given(messages())
def test_decode_on_articles_with_wrong_fields(raw):
    _decode_or_bad_message(raw)


@CI
@given(json_values.map(orjson.dumps))
def test_decode_on_arbitrary_json(raw):
    _decode_or_bad_message(raw)
