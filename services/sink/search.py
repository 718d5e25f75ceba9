"""What `newsflow articles --query` means, independent of the database (--since and --until
are read by shared/times.py).

A search is words and "quoted phrases", all required, and -excluded words or phrases. The
user's text is never SQL nor a full-text query language: it is cut into words here and handed
to the database as a bound parameter, quoted so that no word is read as an operator.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

WORD = re.compile(r"[^\W_]+")
# -"a phrase" (an unclosed quote runs to the end), or a chunk without spaces.
CHUNK = re.compile(r'(-?)"([^"]*)"?|(-?)(\S+)')

Phrase = tuple[str, ...]


@dataclass(frozen=True)
class SearchQuery:
    include: tuple[Phrase, ...]
    exclude: tuple[Phrase, ...] = ()


def parse_query(text: str) -> SearchQuery:
    """Words and phrases of a search; a chunk like `U.S.` or `don't` is a phrase of its words."""
    include: list[Phrase] = []
    exclude: list[Phrase] = []
    for m in CHUNK.finditer(text):
        negated, body = (m[1], m[2]) if m[2] is not None else (m[3], m[4])
        words = tuple(w.lower() for w in WORD.findall(body))
        if words:
            (exclude if negated else include).append(words)
    if not include:
        raise ValueError(f"nothing to search for in {text!r}: give at least one word that is not excluded")
    return SearchQuery(tuple(include), tuple(exclude))


def _quoted(phrase: Phrase) -> str:
    return '"' + " ".join(phrase) + '"'  # words hold letters and digits only: nothing to escape


def fts5_match(query: SearchQuery) -> str:
    """The SQLite FTS5 MATCH expression: every phrase quoted, so AND/OR/NEAR stay words."""
    expr = "(" + " AND ".join(_quoted(p) for p in query.include) + ")"
    for phrase in query.exclude:
        expr += " NOT " + _quoted(phrase)
    return expr


def websearch_text(query: SearchQuery) -> str:
    """Text for PostgreSQL's websearch_to_tsquery, every phrase quoted so `or` stays a word."""
    return " ".join([_quoted(p) for p in query.include] + ["-" + _quoted(p) for p in query.exclude])
