"""The poller's per-feed decisions, without network, broker or database."""
from __future__ import annotations

from services.poller.decide import AfterFetch, after_fetch, classify, mark_too_large, too_large
from shared.schema import Article


def _entry(id_: str, body: str = "text", size: int = 0) -> Article:
    content = body + "x" * size
    return Article(id=id_, url=f"https://example.org/{id_}", source="feed", content=content,
                   content_hash=f"h-{content[:40]}-{len(content)}")


def test_a_304_a_repeated_body_and_a_new_body():
    assert after_fetch(True, None, "abc") is AfterFetch.NOT_MODIFIED
    assert after_fetch(False, "abc", "abc") is AfterFetch.SAME_BODY
    assert after_fetch(False, "abd", "abc") is AfterFetch.PARSE
    assert after_fetch(False, "abc", None) is AfterFetch.PARSE  # first poll


def test_new_updated_and_unchanged_entries():
    known = {"a": _entry("a").content_hash, "b": _entry("b").content_hash}
    entries = classify([_entry("a"), _entry("b", "changed"), _entry("c")], known)
    assert [a.id for a in entries.fresh] == ["b", "c"]
    assert entries.status == {"b": "updated", "c": "new"}
    assert entries.unchanged == ["a"]
    marked, unchanged = entries.seen
    assert [i for i, _ in marked] == ["b", "c"] and unchanged == ["a"]


def test_an_id_listed_twice_counts_once_with_its_last_listing():
    entries = classify([_entry("a", "first"), _entry("a", "second")], {})
    assert [a.content for a in entries.fresh] == ["second"]


def test_a_too_large_entry_is_marked_seen_but_not_published():
    entries = classify([_entry("small"), _entry("big", size=5000)], {})
    over = mark_too_large(entries, 2000)
    assert [a.id for a in over] == ["big"] and entries.status["big"] == "too_large"
    assert [a.id for a in entries.publishable] == ["small"]
    assert [i for i, _ in entries.seen[0]] == ["small", "big"]  # counted once, again only if it changes
    assert too_large(_entry("big", size=5000), 2000) and not too_large(_entry("small"), 2000)


def test_nothing_new_publishes_nothing():
    known = {"a": _entry("a").content_hash}
    entries = classify([_entry("a")], known)
    assert entries.publishable == [] and entries.unchanged == ["a"]
