"""The web address a `<link>` element carries as text, per item or entry, read from the XML.

feedparser keeps a `<link>`'s `href` attribute when it has one and drops the element's text, so
`<link href="urn:x:1">https://news.example.org/a</link>` became the article's URL "urn:x:1".
This reads the texts (with the same guarded expat parser feedparser gets, safexml.py) so that
parse.py can prefer an http(s) address wherever one of the two is.
"""
from __future__ import annotations

import io
import xml.sax
import xml.sax.xmlreader

ENTRY_ELEMENTS = {"item", "entry"}


def is_web_address(url: str | None) -> bool:
    return bool(url) and url.strip().lower().startswith(("http://", "https://"))


class _Links(xml.sax.handler.ContentHandler):
    def __init__(self):
        super().__init__()
        self.per_entry: list[str | None] = []
        self.in_entry = self.in_link = False
        self.text: list[str] = []

    def startElementNS(self, name, qname, attrs):
        self._start(name[1])

    def endElementNS(self, name, qname):
        self._end(name[1])

    def startElement(self, name, attrs):
        self._start(name.rsplit(":", 1)[-1])

    def endElement(self, name):
        self._end(name.rsplit(":", 1)[-1])

    def _start(self, local: str) -> None:
        if local in ENTRY_ELEMENTS:
            self.in_entry = True
            self.per_entry.append(None)
        elif local == "link" and self.in_entry:
            self.in_link, self.text = True, []

    def _end(self, local: str) -> None:
        if local in ENTRY_ELEMENTS:
            self.in_entry = False
        elif local == "link" and self.in_link:
            self.in_link = False
            text = "".join(self.text).strip()
            if is_web_address(text) and self.per_entry[-1] is None:
                self.per_entry[-1] = text

    def characters(self, content):
        if self.in_link:
            self.text.append(content)


def link_texts(body: bytes) -> list[str | None] | None:
    """Per item/entry in document order, the first http(s) address written as a `<link>`'s text;
    None when the body is not well-formed XML (then nothing is corrected)."""
    handler = _Links()
    parser = xml.sax.make_parser(["services.poller.safexml"])
    parser.setFeature(xml.sax.handler.feature_namespaces, True)
    parser.setContentHandler(handler)
    source = xml.sax.xmlreader.InputSource()
    source.setByteStream(io.BytesIO(body))
    try:
        parser.parse(source)
    except Exception:  # noqa: BLE001 - malformed or refused XML: feedparser's own reading stands
        return None
    return handler.per_entry
