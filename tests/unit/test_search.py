"""The search and time words of `newsflow articles`, without a database."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from services.sink.search import SearchQuery, fts5_match, parse_query, websearch_text
from shared.times import iso_to_epoch, parse_when

NOW = datetime(2024, 5, 10, 12, 0, tzinfo=timezone.utc).timestamp()


def test_words_phrases_and_exclusions():
    q = parse_query('Taiwan "Strait drills" -balloon -"hot line" U.S.')
    assert q == SearchQuery(
        include=(("taiwan",), ("strait", "drills"), ("u", "s")),
        exclude=(("balloon",), ("hot", "line")),
    )
    assert fts5_match(q) == '("taiwan" AND "strait drills" AND "u s") NOT "balloon" NOT "hot line"'
    assert websearch_text(q) == '"taiwan" "strait drills" "u s" -"balloon" -"hot line"'


def test_operators_and_quotes_become_words():
    q = parse_query('a OR b NEAR(c) "unclosed phrase')
    assert q.include == (("a",), ("or",), ("b",), ("near", "c"), ("unclosed", "phrase"))
    assert '"or"' in fts5_match(q) and " OR " not in fts5_match(q)


@pytest.mark.parametrize("text", ["", "   ", "-only", '-"only this"', "'; --", "***"])
def test_nothing_to_search_for(text):
    with pytest.raises(ValueError, match="nothing to search for"):
        parse_query(text)


def test_unicode_words():
    assert parse_query("台湾 Ünïcode").include == (("台湾",), ("ünïcode",))


@pytest.mark.parametrize(
    "text, end, expected",
    [
        ("2024-05-01", False, datetime(2024, 5, 1, tzinfo=timezone.utc)),
        ("2024-05-01", True, datetime(2024, 5, 2, tzinfo=timezone.utc)),
        ("2024-05-01T08:30", False, datetime(2024, 5, 1, 8, 30, tzinfo=timezone.utc)),
        ("2024-05-01T08:30+02:00", False, datetime(2024, 5, 1, 6, 30, tzinfo=timezone.utc)),
        ("2024-05-01T08:30:00Z", True, datetime(2024, 5, 1, 8, 30, tzinfo=timezone.utc)),
    ],
)
def test_absolute_times(text, end, expected):
    assert parse_when(text, NOW, end=end) == expected.timestamp()


@pytest.mark.parametrize("text, seconds", [("90m", 5400), ("90min", 5400), ("36h", 129600), ("7d", 604800),
                                           ("2w", 1209600), ("30s", 30), ("1.5h", 5400), (" 2D ", 172800)])
def test_relative_times(text, seconds):
    assert parse_when(text, NOW) == NOW - seconds


@pytest.mark.parametrize("text", ["yesterday", "5 parsecs", "2024-13-01", "-3h", ""])
def test_unreadable_times_say_what_is_accepted(text):
    with pytest.raises(ValueError, match="cannot read .* as a time: use 2024-05-01"):
        parse_when(text, NOW)


def test_publication_times_to_epoch():
    assert iso_to_epoch("2023-11-13T01:34:00+00:00") == datetime(2023, 11, 13, 1, 34, tzinfo=timezone.utc).timestamp()
    assert iso_to_epoch("2023-11-13T09:34:00+08:00") == iso_to_epoch("2023-11-13T01:34:00Z")
    assert iso_to_epoch("2023-11-13") == datetime(2023, 11, 13, tzinfo=timezone.utc).timestamp()
    assert iso_to_epoch("13 Nov 2023") is None
    assert iso_to_epoch(None) is None
