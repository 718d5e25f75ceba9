"""Retag's pure parts on a real store (SQLite and PostgreSQL): paging the window, the
stored row as a clean article again, and the tag diff with the tagger's own function."""
from __future__ import annotations

import time

import pytest

from services.replay.retag import change_of, diff, render_diff
from services.sink.store import open_store
from services.tagger.taxonomy import load_taxonomy
from shared.schema import Article, Tag

TAXONOMY = """version: "{version}"
topics:
  taiwan: {{threshold: 1, phrases: [Taiwan]}}
{extra}"""


@pytest.fixture
def store(store_url):
    s = open_store(store_url)
    yield s
    s.close()


def _taxonomy(tmp_path, version: str, extra: str = ""):
    path = tmp_path / f"{version}.yaml"
    path.write_text(TAXONOMY.format(version=version, extra=extra))
    return load_taxonomy(path)


def _article(i: int, text: str, tags=("taiwan",)) -> Article:
    return Article(
        id=f"a{i:03d}", url=f"https://example.org/{i}", source="demo", content="<p>raw</p>", text=text,
        title=f"Report {i}", authors=["A. Writer"], dateline="TAIPEI", language="en", story_id=f"s{i}",
        tags=[Tag(t, 1.0) for t in tags], taxonomy_version="1", fetched_at=1700000000.0 + i,
    )


def test_the_window_is_paged_by_id_and_filtered_by_storage_time(store):
    store.upsert([_article(i, "Taiwan news") for i in range(7)])
    cut = time.time()
    time.sleep(0.01)
    store.upsert([_article(i, "Taiwan news") for i in range(7, 10)])
    assert [r.id for r in store.iter_articles(batch_size=3)] == [f"a{i:03d}" for i in range(10)]
    assert [r.id for r in store.iter_articles(stored_since=cut, batch_size=2)] == ["a007", "a008", "a009"]
    versions = store.stored_versions(["a001", "a009", "gone"])
    assert set(versions) == {"a001", "a009"}
    assert versions["a001"][0] == "1" and versions["a009"][1] > versions["a001"][1]


def test_a_stored_row_becomes_the_clean_article_again(store):
    original = _article(1, "Taiwan and the strait.")
    store.upsert([original])
    row = store.get_article("a001")
    again = row.as_article()
    for name in ("id", "url", "source", "title", "text", "authors", "dateline", "language", "fetched_at"):
        assert getattr(again, name) == getattr(original, name), name
    # the sink's own decisions travel along, so the upsert keeps them
    assert (again.story_id, again.duplicate_of) == (row.story_id, row.duplicate_of)
    assert again.content == original.text  # the raw content is not stored: the clean text stands in


def test_the_diff_lists_who_gains_and_who_loses_which_tag(store, tmp_path):
    store.upsert([
        _article(1, "Nancy Pelosi visited Taiwan."),
        _article(2, "Taiwan only."),
        _article(3, "Nancy Pelosi spoke.", tags=("taiwan",)),  # stored with a tag it no longer earns
    ])
    new = _taxonomy(tmp_path, "2", "  pelosi: {threshold: 1, phrases: [Nancy Pelosi]}\n")
    result = diff(store, new, None)
    assert result.checked == 3 and result.ids == ["a001", "a002", "a003"]
    changes = {c.id: (c.gained, c.lost) for c in result.changes}
    assert changes == {"a001": (["pelosi"], []), "a003": (["pelosi"], ["taiwan"])}
    assert result.per_tag() == {"pelosi": (2, 0), "taiwan": (0, 1)}
    text = render_diff(result)
    assert "+pelosi -taiwan" in text
    assert "per tag: pelosi +2 -0, taiwan +0 -1" in text
    assert "2 of 3 article(s) would change" in text
    short = render_diff(result, limit=1)
    assert "... and 1 more (--dry-run lists them all)" in short and short.count("  +pelosi") == 1
    assert change_of(store.get_article("a002"), new) is None
