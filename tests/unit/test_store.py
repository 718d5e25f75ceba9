"""The Store on real SQLite and real PostgreSQL (127.0.0.1:5432, database test): one suite, both backends."""
from __future__ import annotations

from datetime import datetime, timezone

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
    assert store.get_article("id1").title == "second"


def test_update_replaces_tags(store):
    store.upsert([art(1, tags=("taiwan", "balloon"))])
    store.upsert([art(1, tags=("hotline",))])
    row = store.get_article("id1")
    assert row.tags == ("hotline",)
    assert row.tag_details[0]["evidence"] == [{"phrase": "hotline", "where": "body", "pos": 0}]
    assert store.tag_counts() == {"hotline": 1}


def test_tag_filter_and_newest_first(store):
    store.upsert([art(1, tags=("taiwan",)), art(3, tags=("balloon",)), art(2, tags=("taiwan",)), art(4, published=None, tags=())])
    assert [r.id for r in store.list_articles()] == ["id3", "id2", "id1", "id4"]
    assert [r.id for r in store.list_articles(tag="taiwan")] == ["id2", "id1"]
    assert [r.id for r in store.list_articles(limit=2)] == ["id3", "id2"]


def test_fields_round_trip(store):
    store.upsert([art(1, authors=["A B", "C D"], dateline="TAIPEI", language="en")])
    row = store.get_article("id1")
    assert row.authors == ("A B", "C D")
    assert (row.dateline, row.language, row.story_id, row.duplicate_of) == ("TAIPEI", "en", "id1", None)  # a story of its own
    assert row.published_at == "2024-01-01T00:00:00+00:00"
    assert store.get_article("missing") is None


def test_sql_looking_text_is_stored_verbatim(store):
    nasty = "'; DROP TABLE articles; -- “quoted” 台湾 ?"
    store.upsert([art(1, title=nasty, text=nasty)])
    row = store.get_article("id1")
    assert row.title == nasty and row.text == nasty
    assert store.count() == 1


def test_nul_characters_do_not_fail_the_batch(store):
    result = store.upsert([art(1, title="Null\x00title", text="body \x00 text"), art(2)])
    assert result.inserted == 2
    assert store.get_article("id1").title == "Nulltitle"


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


HARBOUR = "The harbour council approved the sea wall budget after a long debate on Monday night."
DROUGHT = "Drought leaves the reservoirs at their lowest level in a decade, the regulator said."


def test_stories_keep_their_first_article(store):
    store.upsert([art(1, text=HARBOUR), art(2, text=HARBOUR)])
    store.upsert([art(3, text=HARBOUR), art(4, text=DROUGHT)])
    story = {i: store.get_article(f"id{i}").story_id for i in (1, 2, 3, 4)}
    assert story[1] == story[2] == story[3] != story[4]
    rows = dict(store._query("SELECT story_id, first_article_id FROM stories"))
    assert rows == {story[1]: "id1", story[4]: "id4"}


def test_replaying_a_batch_leaves_every_row_count_unchanged(store):
    batch = [art(i, tags=("taiwan", "balloon"), text=HARBOUR if i % 2 else DROUGHT) for i in range(1, 8)]
    store.upsert(batch)
    before = _row_counts(store)
    store.upsert(batch)
    store.upsert(list(reversed(batch)))
    assert _row_counts(store) == before == {"articles": 7, "article_tags": 14, "stories": 2}


def _row_counts(store) -> dict[str, int]:
    return {t: store._query(f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("articles", "article_tags", "stories")}


def _searchable(store):
    store.upsert([
        art(1, title="Balloon over the strait", text="A high-altitude object was seen on Monday."),
        art(2, title="Hotline talks resume", text="Officials said the balloons were discussed at length."),
        art(3, title="Harbour festival", text="Fireworks and music; no politics at all.", source="harbour"),
        art(4, title="Drought report", text="Reservoirs are low, officials say.", published=None),
    ])


def _ids(rows) -> list[str]:
    return [r.id for r in rows]


def test_search_matches_words_in_title_and_text_with_stemming(store):
    _searchable(store)
    # "balloon" finds the plural in a body too; the title hit ranks first
    assert _ids(store.list_articles(query="balloon")) == ["id1", "id2"]
    assert _ids(store.list_articles(query="Balloons")) == ["id1", "id2"]
    assert _ids(store.list_articles(query="festival music")) == ["id3"]  # every word required
    assert _ids(store.list_articles(query="festival drought")) == []


def test_search_phrases_and_exclusions(store):
    _searchable(store)
    assert _ids(store.list_articles(query='"hotline talks"')) == ["id2"]
    assert _ids(store.list_articles(query='"talks hotline"')) == []
    assert _ids(store.list_articles(query="balloon -hotline")) == ["id1"]
    assert _ids(store.list_articles(query='balloon -"high altitude"')) == ["id2"]


NASTY = 'Robert\'); DROP TABLE articles; -- said "1"="1" OR NEAR(x y) NOT * council) AND ( 100%'


@pytest.mark.parametrize("text", [
    "'; DROP TABLE articles; --",
    'council" OR "1"="1',
    "council OR NEAR(x y) NOT *",
    "council) AND (",
    "council' 100%",
    "Robert'); DROP",
])
def test_search_text_is_only_text(store, text):
    _searchable(store)
    store.upsert([art(5, title="Letters", text=NASTY)])
    assert _ids(store.list_articles(query=text)) == ["id5"]  # its words are in that article only
    assert store.count() == 5
    assert store.get_article("id5").text == NASTY


def test_search_with_nothing_to_search_is_a_clear_error(store):
    _searchable(store)
    for text in ("", "  ", "-balloon", "'; --"):
        with pytest.raises(ValueError, match="nothing to search for"):
            store.list_articles(query=text)


def test_search_follows_updates(store):
    _searchable(store)
    store.upsert([art(3, title="Harbour regatta", text="Sails everywhere.")])
    assert _ids(store.list_articles(query="festival")) == []
    assert _ids(store.list_articles(query="regatta")) == ["id3"]
    assert store.count() == 4


def test_search_survives_replays_and_follows_title_only_changes(store):
    _searchable(store)
    for _ in range(2):  # the same title and text again: no re-indexing, still found once
        store.upsert([art(3, title="Harbour regatta", text="Sails everywhere.")])
    assert _ids(store.list_articles(query="regatta")) == ["id3"]
    store.upsert([art(3, title="Harbour gala", text="Sails everywhere.")])
    assert _ids(store.list_articles(query="regatta")) == []
    assert _ids(store.list_articles(query="gala sails")) == ["id3"]


def test_filters_by_source_and_time_combine_with_search_and_tags(store):
    _searchable(store)
    jan = lambda d: datetime(2024, 1, d, tzinfo=timezone.utc).timestamp()  # noqa: E731
    assert _ids(store.list_articles(source="harbour")) == ["id3"]
    assert _ids(store.list_articles(since=jan(2), until=jan(3))) == ["id2"]
    assert _ids(store.list_articles(since=jan(2))) == ["id3", "id2", "id4"]  # id4: undated, stored now
    assert _ids(store.list_articles(until=jan(2))) == ["id1"]
    assert _ids(store.list_articles(query="balloon", since=jan(2))) == ["id2"]
    assert _ids(store.list_articles(query="balloon", tag="taiwan", limit=1)) == ["id1"]
    assert _ids(store.list_articles(query="balloon", source="harbour")) == []


def test_a_database_from_before_migration_3_gets_search_and_times(store_url):
    """Rows stored under migration 1 only become searchable and filterable after the upgrade."""
    _database_from_migration_1(store_url)
    new = open_store(store_url)
    try:
        assert _ids(new.list_articles(query="typhoon")) == ["id1"]
        midnight = datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()  # 08:00+08:00 is midnight UTC
        assert _ids(new.list_articles(since=midnight)) == ["id1"]
        assert _ids(new.list_articles(since=midnight + 1)) == []
        new.upsert([art(2)])
        assert new.count() == 2
    finally:
        new.close()


def _database_from_migration_1(store_url: str) -> None:
    """A database as the first build left it (SQLite counted migrations in user_version), one article in."""
    from services.sink.migrations import MIGRATIONS, statements_for

    insert = (
        "INSERT INTO articles (id, url, source, title, text, published_at, stored_at) "
        "VALUES ('id1', 'https://example.org/1', 'demo', 'Typhoon warning', 'Ships stay in port.', "
        "'2024-01-01T08:00:00+08:00', 1700000000)"
    )
    if store_url.startswith("sqlite:///"):
        import sqlite3

        conn = sqlite3.connect(store_url.removeprefix("sqlite:///"))
        for statement in statements_for(MIGRATIONS[0][1], "sqlite") + [insert, "PRAGMA user_version = 1"]:
            conn.execute(statement)
        conn.commit()
        conn.close()
        return
    import psycopg

    with psycopg.connect(store_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())")
        for statement in statements_for(MIGRATIONS[0][1], "postgresql") + [insert]:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations (version) VALUES (1)")
