"""Raw article -> clean text with metadata. Pure: no Kafka, no I/O."""
from __future__ import annotations

import dataclasses
import html
import re
import unicodedata

import ftfy

from services.cleaner.boilerplate import cut_tail, drop_widget_lines
from services.cleaner.dates import find_date, to_iso
from services.cleaner.html_text import html_to_text
from services.cleaner.language import detect_language
from shared.headline import OTHER_SPACES as _OTHER_SPACES, SPACES, split_title
from shared.schema import Article

# What SPACES.sub(" ", …) changes, leaving alone the single spaces it would replace by themselves.
SPACES_TO_FOLD = re.compile(rf"[ {_OTHER_SPACES}]{{2,}}|[{_OTHER_SPACES}]")
INVISIBLE = re.compile(r"[\u00ad\u200b-\u200d\u2060\ufeff]")  # soft hyphen, zero-width characters, BOM
# UTF-8 read as Latin-1/Windows-1252 ("â€™", "Ã©"): only then is ftfy (slow, ~2 ms an article) run.
MOJIBAKE = re.compile("(?:â€|Ã[\u0080-\u00bf]|Â[\u00a0-\u00bf])")
AUTHORS = re.compile(r"^(?:authors?|written by|reporting by)\s*:\s*(?P<names>.{3,150})$", re.IGNORECASE)
BYLINE = re.compile(r"^[Bb][Yy]:?\s+(?P<names>[A-Z][\w.'-]+(?:\s+[A-Z][\w.'-]+){0,3}(?:(?:,|\s+and)\s+[A-Z][\w.'-]+(?:\s+[A-Z][\w.'-]+){0,3})*)$")
# "WASHINGTON:", "LISLE, Ill. (WLS) —", "TAIPEI, Taiwan -"
DATELINE = re.compile(r"^(?P<place>[A-Z][A-Z.'’ -]{2,30}?)(?:,\s*[A-Z][\w. ]{1,25})?(?:\s*\([A-Z]{2,10}\))?\s*(?::|—|–|\s-)\s")
TAG = re.compile(r"<[^<>]+>")  # not `<[^>]+>`: quadratic over a long run of "<"


def normalise_text(text: str) -> str:
    """Unicode NFC, mojibake repaired, invisible characters out, one kind of line break."""
    if not text.isascii():  # ASCII has no mojibake, no invisible characters and is NFC
        if MOJIBAKE.search(text):
            text = ftfy.fix_text(text, uncurl_quotes=False, unescape_html=False)
        text = INVISIBLE.sub("", unicodedata.normalize("NFC", text))
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")


def normalise_lines(text: str) -> list[str]:
    # SPACES never matches a line break: one pass over the whole text is one per line.
    return [line.strip() for line in SPACES_TO_FOLD.sub(" ", normalise_text(text)).split("\n")]


def split_names(names: str) -> list[str]:
    parts = re.split(r",|\band\b|&", names)
    return [p.strip(" .") for p in parts if p.strip(" .")]


def find_authors(lines: list[str]) -> tuple[list[str], list[str]]:
    """Names from an "Authors: …" line (anywhere) or a "By …" line (near the top); the line goes."""
    for i, line in enumerate(lines):
        match = AUTHORS.match(line) or (i < 10 and BYLINE.match(line))
        if match:
            return split_names(match["names"]), lines[:i] + lines[i + 1:]
    return [], lines


def find_dateline(paragraphs: list[str]) -> str | None:
    match = DATELINE.match(paragraphs[0]) if paragraphs else None
    return match["place"].strip() if match else None


def plain_title(title: str | None) -> str | None:
    if not title:
        return None
    return SPACES.sub(" ", html.unescape(TAG.sub("", title))).strip() or None


def clean_article(article: Article) -> Article:
    """A copy of `article` with clean `text` and the metadata found in it, without its raw content.

    Raises ValueError when no text remains (the stage dead-letters the article).
    """
    body, page_date, page_authors = article.content, None, []
    title = plain_title(article.title)
    if article.content_type == "text/html":
        page = html_to_text(body)
        body, page_date, page_authors = page.text, page.date, page.authors
        title = title or plain_title(page.title)
    lines = normalise_lines(body)
    if title is None:
        title, rest = split_title("\n".join(lines))
        lines = rest.split("\n")
    elif lines and next((ln for ln in lines if ln), "") == title:
        lines = lines[lines.index(title) + 1:]
    published_at = article.published_at
    found_date, lines = find_date(lines)
    published_at = published_at or found_date or (to_iso(page_date) if page_date else None)
    authors, lines = find_authors(lines)
    authors = authors or page_authors
    lines = cut_tail(drop_widget_lines(lines))
    paragraphs = [ln for ln in lines if ln]
    if not paragraphs:
        raise ValueError("no text left after cleaning")
    text = "\n\n".join(paragraphs)
    return dataclasses.replace(
        article,
        content="",  # later stages read the text: the raw body would double every message downstream
        title=title,
        text=text,
        published_at=published_at,
        authors=article.authors or authors,
        dateline=find_dateline(paragraphs),
        language=detect_language(text),
    )


def transform(settings, **_context):
    """The cleaner's step (shared/pipeline/topology.py): a raw article to its clean topic."""
    topic = settings.clean_topic
    return lambda article: [(topic, clean_article(article))]
