"""HTML to text: trafilatura for whole pages (with the page's metadata), a light pass for feed snippets."""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import lxml.html
import trafilatura

BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "tr", "table", "section", "article", "header", "footer", "figure", "figcaption", "pre", "hr",
}
# A whole page (trafilatura finds its article) rather than a feed snippet, wherever the sign is:
# a page may open with a long inline style block, a PHP warning, or have no <html> at all.
WHOLE_PAGE = re.compile(r"<(?:html|body|head)\b|<!doctype\s+html", re.IGNORECASE)
# No "<" inside a tag: `<[^>]*>` backtracks quadratically over a long run of "<" with no ">".
TAG = re.compile(r"<[^<>]*>")
# Characters XML forbids: lxml refuses to build text holding one ("All strings must be XML compatible").
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
CODE_START = re.compile(r"<(script|style|noscript|head)\b", re.IGNORECASE)
# Widgets inside feed snippets, recognised by their class or id: share and follow buttons,
# newsletter boxes, related-links panels, ads, photo credits.
WIDGET_CLASS = re.compile(
    r"(?:^|[\s_-])(?:share|sharing|social|follow|newsletter|subscribe|signup|related|recommended|"
    r"read-?more|more-stories|promo|advert|ad-slot|ads|sponsor|outbrain|taboola|credit|byline)(?:$|[\s_-])",
    re.IGNORECASE,
)


@dataclass
class PageText:
    text: str
    title: str | None = None
    date: str | None = None  # as the page gives it; the cleaner parses it
    authors: list[str] = field(default_factory=list)


def html_to_text(markup: str) -> PageText:
    markup = NOT_XML.sub("", markup)
    page = WHOLE_PAGE.search(markup)
    if page:
        # What comes before the page's first sign (a PHP warning printed ahead of it) is no
        # part of it. Tables kept: an article may be one, or hold one (results, a budget).
        doc = trafilatura.bare_extraction(markup[page.start():], with_metadata=True, include_comments=False,
                                          include_tables=True)
        if doc is not None and (doc.text or "").strip():
            authors = [a.strip() for a in re.split(r";|,| and ", doc.author or "") if a.strip()]
            return PageText(doc.text, doc.title or None, doc.date or None, authors)
    return PageText(snippet_to_text(markup))


def snippet_to_text(markup: str) -> str:
    """Text of an HTML fragment with block elements as line breaks; scripts, styles and widgets dropped."""
    if not markup.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (ValueError, AssertionError, lxml.etree.ParserError):  # lxml asserts on a lone "<html>"
        return stripped_text(markup)
    # libxml2 gives up on a document nested deeper than 255 elements and returns it empty:
    # unclosed tags in a sloppy page, or markup made to hurt. Its words are still words.
    if not root.text_content().strip() and TAG.sub("", markup).strip():
        return stripped_text(markup)
    return _lxml_text(root)


def stripped_text(markup: str) -> str:
    """The text of markup lxml cannot read: scripts and styles out, every tag a line break.
    Linear in the length of the markup, whatever it holds."""
    kept, pos = [], 0
    while start := CODE_START.search(markup, pos):
        kept.append(markup[pos:start.start()])
        end = re.compile(rf"</{start[1]}\s*>", re.IGNORECASE).search(markup, start.end())
        if end is None:
            pos = len(markup)
            break
        pos = end.end()
    kept.append(markup[pos:])
    return html.unescape(TAG.sub("\n", " ".join(kept)))


def _lxml_text(root) -> str:
    for bad in root.xpath(".//script|.//style|.//noscript|.//iframe|.//form|.//button"):
        bad.drop_tree()
    for element in list(root.iter()):
        if not isinstance(element.tag, str) or element is root or element.getparent() is None:
            continue
        marks = f"{element.get('class') or ''} {element.get('id') or ''}"
        if marks.strip() and WIDGET_CLASS.search(marks):
            element.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in BLOCK_TAGS:
            element.tail = "\n" + (element.tail or "")
            if element.tag.lower() != "br":
                element.text = "\n" + (element.text or "")
    return root.text_content()
