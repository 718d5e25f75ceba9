"""HTML to text: trafilatura for whole pages, a light pass for feed snippets."""
from __future__ import annotations

import html
import re

import lxml.html
import trafilatura

BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "tr", "table", "section", "article", "header", "footer", "figure", "figcaption", "pre", "hr",
}
WHOLE_PAGE = re.compile(r"<(?:html|body)\b", re.IGNORECASE)


def html_to_text(markup: str) -> str:
    if WHOLE_PAGE.search(markup[:5000]):
        extracted = trafilatura.extract(markup, include_comments=False, include_tables=False)
        if extracted and extracted.strip():
            return extracted
    return snippet_to_text(markup)


def snippet_to_text(markup: str) -> str:
    """Text of an HTML fragment with block elements as line breaks; scripts and styles dropped."""
    if not markup.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (ValueError, lxml.etree.ParserError):
        return html.unescape(re.sub(r"<[^>]+>", " ", markup))
    for bad in root.xpath(".//script|.//style|.//noscript"):
        bad.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in BLOCK_TAGS:
            element.tail = "\n" + (element.tail or "")
            if element.tag.lower() != "br":
                element.text = "\n" + (element.text or "")
    return root.text_content()
