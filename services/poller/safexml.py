"""feedparser without entity expansion or unbounded nesting: what a hostile feed can make of it.

feedparser parses a feed with expat (through xml.sax, "strict"); when expat fails, it parses it
again with its own regex-based parser ("loose"). Measured here with feedparser 6.0 and expat 2.5:

- Entities. feedparser removes the DTD's entity declarations only where each starts a line and
  nothing before the root element looks like a tag; otherwise expat expands them until its own
  limit (100 times the input once past 8 MB): a 5 MB body with a billion-laughs DTD grew the
  parser to 1 GB. The loose parser expands the declarations feedparser calls safe (any text
  without "&") with no limit at all: 600 KB of `&a;` with a 2,000-character `a` became a 400 MB
  summary (1.2 GB of memory, 10 s).
- Nesting. 1.5 million nested elements (10 MB) took 22 s and 609 MB strict, 38 s and 445 MB loose.
  External entities were never read (xml.sax leaves them alone); the tests check that still holds.

`install()` (run when services.poller.parse is imported, so in every parser process) gives
feedparser, through xml.sax, the expat parser below. It refuses parameter, external and nested
entities, and any declarations whose references would expand to more than MAX_EXPANSION
characters in all (counted before parsing); a refused declaration is a parse error to
feedparser, which then uses its loose parser, held to the same budget. Abbreviations such as
`<!ENTITY rdf "http://www.w3.org/1999/02/22-rdf-syntax-ns#">` still work. Both parsers stop at
MAX_DEPTH open elements with FeedTooDeep.
"""
from __future__ import annotations

import io
import re
import xml.sax
from collections import Counter
from xml.sax.expatreader import ExpatParser

import feedparser.api

MAX_DEPTH = 1000  # open elements; real feeds nest a few dozen deep, XHTML content included
MAX_EXPANSION = 1_000_000  # characters that all the entity references of one document may expand to
# HTML's void elements, which the loose parser sees opened and never closed
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                  "track", "wbr", "basefont", "frame", "isindex", "keygen"})
REFERENCE = re.compile(rb"&([^\s&;<>\"'#]{1,100});")


class FeedTooDeep(Exception):
    """More than MAX_DEPTH elements open at once: the feed is refused, not parsed."""

    def __init__(self):
        super().__init__(f"elements nested deeper than {MAX_DEPTH}")


def expansion(document: bytes, entities: dict[str, str]) -> int:
    """Characters the references to `entities` in `document` expand to (none nest: see below)."""
    if not entities:
        return 0
    counts = Counter(m[1] for m in REFERENCE.finditer(document))
    return sum(len(entities.get(name.decode("utf-8", "replace"), "")) * n for name, n in counts.items())


class GuardedExpatParser(ExpatParser):
    def parse(self, source) -> None:
        # The whole document first (feedparser hands over a BytesIO of it): the references
        # are counted once the DTD's declarations are known, before any is expanded.
        stream = source.getByteStream()
        self._document = stream.read() if stream is not None else b""
        source.setByteStream(io.BytesIO(self._document))
        super().parse(source)

    def reset(self) -> None:
        super().reset()
        self._depth = 0
        self._entities: dict[str, str] = {}
        self._parser.EntityDeclHandler = self._entity_declared
        self._doctype_ended = self._parser.EndDoctypeDeclHandler
        self._parser.EndDoctypeDeclHandler = self._doctype_end

    def _refuse(self, why: str) -> None:
        # A SAXParseException, as expat's own errors are: feedparser falls back to its loose parser.
        raise xml.sax.SAXParseException(why, None, self)

    def _entity_declared(self, name, is_parameter_entity, value, base, system_id, public_id, notation) -> None:
        if is_parameter_entity or value is None or "&" in value:
            self._refuse(f"entity {name!r} refused: only internal entities that hold no reference")
        self._entities[name] = value

    def _doctype_end(self) -> None:
        size = expansion(getattr(self, "_document", b""), self._entities)
        if size > MAX_EXPANSION:
            self._refuse(f"entities refused: their references would expand to {size:,} characters")
        if self._doctype_ended:
            self._doctype_ended()

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise FeedTooDeep()  # not a SAXException: feedparser lets it through, parse_feed reports it

    def start_element(self, name, attrs) -> None:
        self._enter()
        super().start_element(name, attrs)

    def end_element(self, name) -> None:
        self._depth -= 1
        super().end_element(name)

    def start_element_ns(self, name, attrs) -> None:
        self._enter()
        super().start_element_ns(name, attrs)

    def end_element_ns(self, name) -> None:
        self._depth -= 1
        super().end_element_ns(name)


def create_parser(*args, **kwargs) -> GuardedExpatParser:
    """The SAX driver interface: xml.sax.make_parser(["services.poller.safexml"]) calls this."""
    return GuardedExpatParser(*args, **kwargs)


class GuardedLooseFeedParser(feedparser.api.LooseFeedParser):
    def __init__(self, baseuri=None, baselang=None, encoding=None, entities=None):
        super().__init__(baseuri, baselang, encoding, entities)
        self._depth = 0

    def feed(self, data: str) -> None:
        # feedparser's "safe" entities hold no reference, so they do not nest; only their number counts.
        if expansion(data.encode("utf-8", "replace"), self.entities) > MAX_EXPANSION:
            self.entities = {}
        super().feed(data)

    def unknown_starttag(self, tag, attrs):
        if tag.lower() not in VOID:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise FeedTooDeep()
        return super().unknown_starttag(tag, attrs)

    def unknown_endtag(self, tag):
        if tag.lower() not in VOID:
            self._depth = max(0, self._depth - 1)
        return super().unknown_endtag(tag)


def install() -> None:
    feedparser.api.PREFERRED_XML_PARSERS = [__name__]
    feedparser.api.LooseFeedParser = GuardedLooseFeedParser
