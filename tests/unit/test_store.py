"""The Store on real SQLite and real PostgreSQL (127.0.0.1:5432, database test): one suite, both backends."""
from __future__ import annotations

import pytest

from services.sink.store import open_store
from shared.schema import Article, Tag


@pytest.fixture
def store(store_url):
    s = open_store(store_url)
    yield s
    s.close()


def art(i: int, *, tags=("taiwan",), published="2024-01-0{}T00:00:00+00:00", **kw) -> Article:
    fields = dict(
        id=f"id{i}", url=f"https://example.org/{i}", source="demo", content="raw", text=f"text {i}",
        title=f"Title {i}", published_at=published.format(i) if published else None,
        tags=[Tag(t, 1.5, [{"phrase": t, "where": "body", "pos": 0}]) for t in tags],
    )
    fields.update(kw)
    return Article(**fields)


def test_upsert_inserts_then_updates_without_new_rows(store):
    batch = [art(1), art(2), art(3)]
    first = store.upsert(batch)
    assert (first.inserted, first.updated) == (3, 0)
    assert store.count() == 3
    again = store.upsert(batch)
    assert (again.inserted, again.updated) == (0, 3)
    assert store.count() == 3


def test_counts_are_exact_for_a_fresh_batch_with_a_repeated_id(store):
    result = store.upsert([art(1, title="first"), art(2), art(1, title="second")])
    assert (result.inserted, result.updated) == (2, 0)
    assert store.get_article("id1")["title"] == "second"


def test_update_replaces_tags(store):
    store.upsert([art(1, tags=("taiwan", "balloon"))])
    store.upsert([art(1, tags=("hotline",))])
    row = store.get_article("id1")
    assert row["tags"] == ["hotline"]
    assert row["tag_details"][0]["evidence"] == [{"phrase": "hotline", "where": "body", "pos": 0}]
    assert store.tag_counts() == {"hotline": 1}


def test_tag_filter_and_newest_first(store):
    store.upsert([art(1, tags=("taiwan",)), art(3, tags=("balloon",)), art(2, tags=("taiwan",)), art(4, published=None, tags=())])
    assert [r["id"] for r in store.list_articles()] == ["id3", "id2", "id1", "id4"]
    assert [r["id"] for r in store.list_articles(tag="taiwan")] == ["id2", "id1"]
    assert [r["id"] for r in store.list_articles(limit=2)] == ["id3", "id2"]


def test_fields_round_trip(store):
    store.upsert([art(1, authors=["A B", "C D"], dateline="TAIPEI", language="en")])
    row = store.get_article("id1")
    assert row["authors"] == ["A B", "C D"]
    assert (row["dateline"], row["language"], row["story_id"], row["duplicate_of"]) == ("TAIPEI", "en", "id1", None)  # a story of its own
    assert row["published_at"] == "2024-01-01T00:00:00+00:00"
    assert store.get_article("missing") is None


def test_sql_looking_text_is_stored_verbatim(store):
    nasty = "'; DROP TABLE articles; -- “quoted” 台湾 ?"
    store.upsert([art(1, title=nasty, text=nasty)])
    row = store.get_article("id1")
    assert row["title"] == nasty and row["text"] == nasty
    assert store.count() == 1


def test_migrations_are_idempotent(store_url):
    first = open_store(store_url)
    first.upsert([art(1)])
    first.close()
    second = open_store(store_url)
    assert second.count() == 1
    second.close()


def test_unknown_database_url_is_a_clear_error():
    with pytest.raises(ValueError, match="unsupported database URL"):
        open_store("mysql://localhost/x")
