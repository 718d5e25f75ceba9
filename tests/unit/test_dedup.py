"""Duplicates and stories: the pure logic, and the index in the store on SQLite and PostgreSQL."""
from __future__ import annotations

import dataclasses

import pytest

from services.sink import dedup, stories
from services.sink.store import open_store
from shared.schema import Article

HARBOUR = (
    "The port authority of Kelmarsh reopened the northern harbour on Tuesday after engineers "
    "finished repairs to the sea wall that the October storm had breached. Fishing crews, who had "
    "moored their boats at Dunmore for five weeks, began returning before dawn. Harbour master Ilse "
    "Varga said the repairs cost 4.2 million euros and came in under budget. The authority plans a "
    "second phase next spring to raise the wall by half a metre, which local councillors approved "
    "last month despite objections from the Kelmarsh heritage society."
)
HARBOUR_REWRITE = (
    "Boats are back in Kelmarsh. After five weeks tied up at Dunmore, trawler crews sailed home to "
    "the northern harbour, which reopened when the breach in its sea wall, torn open by October's "
    "storm, was finally mended. According to harbour master Ilse Varga, the bill came to 4.2 million "
    "euros, less than planned. Councillors have already backed a plan to make the wall half a metre "
    "higher next spring, over the protests of the heritage society."
)
ORCHARD = (
    "Apple growers in the Tarrow valley expect their smallest harvest in a decade after a late frost "
    "in April killed most of the blossom. The growers' cooperative said yields could fall by 60 per "
    "cent, and several family orchards are asking the regional government for emergency loans. "
    "Cider makers in the valley are buying fruit from abroad for the first time."
)


def art(i, text, title=None, published="2024-03-05T08:00:00+00:00") -> Article:
    return Article(id=f"a{i}", url=f"https://example.org/{i}", source="demo", content=text, text=text,
                   title=title, published_at=published, language="en")


def test_signatures_are_stable_and_tolerate_formatting():
    a = dedup.signature("Harbour reopens", HARBOUR, "en", 100)
    b = dedup.signature("Another headline", HARBOUR.upper().replace(" ", "  "), "en", 100)
    assert a.text_hash == b.text_hash and a.minhash == b.minhash
    assert len(a.minhash) == dedup.NUM_PERM and len(a.bands) == dedup.BANDS
    assert all(0 <= v < 2**32 for v in a.minhash) and all(0 <= k < 2**63 for k in a.bands)


def test_near_copy_is_near_and_rewrite_is_only_the_same_story():
    original = dedup.signature(None, HARBOUR, "en", 0)
    copy = dedup.signature(None, HARBOUR.replace("Tuesday", "Tuesday morning") + " (Reporting by the wire desk)", "en", 0)
    rewrite = dedup.signature(None, HARBOUR_REWRITE, "en", 0)
    other = dedup.signature(None, ORCHARD, "en", 0)
    assert dedup.near_similarity(original.minhash, copy.minhash) >= dedup.NEAR_THRESHOLD
    assert dedup.near_similarity(original.minhash, rewrite.minhash) < 0.1
    assert dedup.story_similarity(original.terms, rewrite.terms) >= stories.PAIR_THRESHOLD
    assert dedup.story_similarity(original.terms, other.terms) < stories.LINK_THRESHOLD


def test_decide_prefers_exact_then_near():
    sig = dedup.signature(None, HARBOUR, "en", 0)
    same = dedup.Known("old", "root", sig.minhash)
    assert dedup.decide(sig, [same], []) == dedup.Decision("root", "exact", 1.0, "old")
    assert dedup.decide(sig, [], [same]).kind == "near"
    assert dedup.decide(sig, [], []) == dedup.Decision(None, "new", 0.0, None)


def test_on_a_tie_the_oldest_candidate_wins():
    sig = dedup.signature(None, HARBOUR, "en", 0)
    older = dedup.Known("older", "older", sig.minhash)
    newer = dedup.Known("newer", "newer", sig.minhash)
    assert dedup.decide(sig, [], [older, newer]).duplicate_of == "older"


@pytest.fixture
def store(store_url):
    s = open_store(store_url)
    yield s
    s.close()


def _assignments(store) -> dict[str, tuple]:
    return {r.id: (r.duplicate_of, r.story_id) for r in store.list_articles()}


def test_store_assigns_duplicates_and_stories(store):
    result = store.upsert([art(1, HARBOUR, "Harbour reopens"), art(2, ORCHARD)])
    assert (result.stories_new, result.stories_joined, result.stories_formed) == (2, 0, 0)
    exact = art(3, HARBOUR, "Kelmarsh harbour back in business")
    near = art(4, "KELMARSH (Wire) - " + HARBOUR.replace("five weeks", "six weeks") + "\nPhoto: wire desk.")
    rewrite = art(5, HARBOUR_REWRITE, published="2024-03-07T10:00:00+00:00")
    result = store.upsert([exact, near, rewrite])
    assert (result.exact_duplicates, result.near_duplicates, result.stories_joined) == (1, 1, 1)
    assert result.stories_formed == 1  # the harbour story now holds four reports; it held one
    assert _assignments(store) == {
        "a1": (None, "a1"), "a2": (None, "a2"), "a3": ("a1", "a1"), "a4": ("a1", "a1"), "a5": (None, "a1"),
    }
    assert store.upsert([art(6, HARBOUR_REWRITE + " More boats came home.")]).stories_formed == 0  # grew, not formed
    listed = {row[0] for row in store._query("SELECT story_id FROM stories")}
    assert listed == {story for _, story in _assignments(store).values()}  # no story row left behind


def test_within_one_batch_the_first_is_the_original(store):
    store.upsert([art(1, HARBOUR), art(2, HARBOUR), art(3, HARBOUR_REWRITE)])
    assert _assignments(store) == {"a1": (None, "a1"), "a2": ("a1", "a1"), "a3": (None, "a1")}


def test_a_stored_article_keeps_its_assignment_when_replayed(store_url):
    first = open_store(store_url)
    first.upsert([art(1, HARBOUR)])
    first.upsert([art(2, HARBOUR)])
    first.close()
    # a restart, then the whole history replayed in another order: nothing moves
    again = open_store(store_url)
    result = again.upsert([art(2, HARBOUR), art(1, HARBOUR), art(3, HARBOUR)])
    assert (result.inserted, result.updated, result.exact_duplicates) == (1, 2, 1)
    assert _assignments(again) == {"a1": (None, "a1"), "a2": ("a1", "a1"), "a3": ("a1", "a1")}
    again.close()


def test_stories_only_join_within_the_window(store):
    store.upsert([art(1, HARBOUR, published="2024-03-01T00:00:00+00:00")])
    later = stories.WINDOW_DAYS + 5
    store.upsert([art(2, HARBOUR_REWRITE, published=f"2024-04-{later - 24:02d}T00:00:00+00:00")])
    assert _assignments(store)["a2"] == (None, "a2")


def test_duplicate_of_a_duplicate_points_to_the_original(store):
    store.upsert([art(1, HARBOUR)])
    store.upsert([art(2, HARBOUR.replace("Tuesday", "Wednesday"))])
    store.upsert([art(3, HARBOUR.replace("Tuesday", "Wednesday").replace("4.2", "4.3"))])
    assert _assignments(store)["a3"] == ("a1", "a1")


def test_text_changes_of_a_stored_article_do_not_move_it(store):
    store.upsert([art(1, HARBOUR), art(2, ORCHARD)])
    store.upsert([dataclasses.replace(art(2, ORCHARD), text=HARBOUR)])
    assert _assignments(store)["a2"] == (None, "a2")


def test_two_sink_workers_at_once_agree_on_one_original(store_url):
    """Two stores (two sink workers) store copies of one text at the same moment: the decision is
    serialised (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL), so exactly one is the original."""
    import threading

    open_store(store_url).close()  # migrate once
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        store = open_store(store_url)
        try:
            barrier.wait()
            for i in range(5):
                store.upsert([art(100 * n + i, HARBOUR + f" Edition {i}.")])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    store = open_store(store_url)
    rows = _assignments(store)
    store.close()
    originals = [i for i, (dup, _) in rows.items() if dup is None]
    assert len(rows) == 20 and len(originals) == 1
    assert all(dup == originals[0] for i, (dup, _) in rows.items() if i != originals[0])
    assert {story for _, story in rows.values()} == {min(rows)}  # one story, named by its earliest article

