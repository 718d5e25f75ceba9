"""What `newsflow articles --query/--since/--until` mean, independent of the database.

A search is words and "quoted phrases", all required, and -excluded words or phrases. The
user's text is never SQL nor a full-text query language: it is cut into words here and handed
to the database as a bound parameter, quoted so that no word is read as an operator.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

WORD = re.compile(r"[^\W_]+")
# -"a phrase" (an unclosed quote runs to the end), or a chunk without spaces.
CHUNK = re.compile(r'(-?)"([^"]*)"?|(-?)(\S+)')
UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)$")

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


def parse_when(text: str, now: float, *, end: bool = False) -> float:
    """Epoch seconds from `2024-05-01`, `2024-05-01T12:00[+02:00]` (no zone: UTC) or `36h` ago.

    Units of a relative time: s, m or min, h, d, w. A bare date is the start of that day (UTC),
    or with end=True the start of the next one, so `--until 2024-05-01` includes the whole day.
    """
    value = text.strip()
    relative = RELATIVE.match(value.lower())
    if relative:
        return now - float(relative[1]) * UNITS[relative[2]]
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        return (start + timedelta(days=1) if end else start).timestamp()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"cannot read {text!r} as a time: use 2024-05-01, 2024-05-01T12:00 (UTC unless a zone "
            "like +02:00 is given) or a span back from now like 90m, 36h, 7d, 2w"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def iso_to_epoch(value: str | None) -> float | None:
    """Epoch seconds of an ISO 8601 publication time (no zone: UTC); None if unreadable."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)  # Python 3.11 reads "Z" and most of ISO 8601
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
