"""The sink's in-memory story candidates (services/sink/key_index.py), and how several sinks keep theirs current."""
from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from services.sink import key_index
from services.sink.dedup import keys_of
from services.sink.key_index import BAND_CANDIDATES, KEY_POSTINGS, STORY_CANDIDATES, KeyIndex
from services.sink.stories import WINDOW_DAYS
from services.sink.store import open_store
from tests.unit.test_dedup import HARBOUR, HARBOUR_REWRITE, ORCHARD, art


@pytest.fixture
def store(store_url):
    s = open_store(store_url)
    yield s
    s.close()


def _terms(keys) -> dict[str, float]:
    """A word vector whose keys are `keys`, in order."""
    return {key: round(0.5 / (rank + 1), 5) for rank, key in enumerate(keys)}


def test_candidates_rank_by_keys_shared_then_newest_then_id():
    index = KeyIndex()
    index.add([("a", 4, _terms(["x", "y"]), ()), ("b", 3, _terms(["x", "y"]), ()),
               ("c", 5, _terms(["x", "y", "z"]), ()), ("d", 9, _terms(["x"]), ()), ("e", 4, _terms(["y", "z"]), ())])
    # c shares 3 keys; a and e (day 4) and b (day 3) share 2; d only one
    assert index.candidates(["x", "y", "z"], 5) == ["c", "a", "e", "b"]
    assert index.candidates(["q", "x"], 5) == []  # one shared key is not enough


def test_candidates_stay_within_the_window_and_read_each_keys_newest_postings():
    index = KeyIndex()
    index.add([("old", 100, _terms(["x", "y"]), ()), ("far", 100 + 2 * WINDOW_DAYS + 1, _terms(["x", "y"]), ())])
    assert index.candidates(["x", "y"], 100 + WINDOW_DAYS) == ["old"]
    assert index.candidates(["x", "y"], 100 + WINDOW_DAYS + 1) == ["far"]
    crowded = KeyIndex()
    crowded.add([(f"n{i:03}", i, _terms(["common", f"own{i}"]), ()) for i in range(KEY_POSTINGS + 10)])
    crowded.add([("early", 0, _terms(["common", "rare"]), ())])
    # "early" shares two keys, but "common" has KEY_POSTINGS newer postings: it is not reached
    assert crowded.candidates(["common", "rare"], 50) == []
    assert crowded.candidates(["common", "own109"], 109) == ["n109"]


def test_a_days_postings_are_in_order_of_id_whatever_order_they_arrive_in():
    index = KeyIndex()
    ids = [f"m{i:03}" for i in range(KEY_POSTINGS + 1)]
    for article_id in reversed(ids):  # one at a time, the highest id first, all on one day
        index.add([(article_id, 7, _terms(["common", "rare" if article_id == ids[0] else article_id]), ())])
    # the KEY_POSTINGS newest postings of "common" are those of the highest ids: ids[0] is not reached
    assert index.candidates(["common", "rare"], 7) == []
    assert index.candidates(["common", ids[1]], 7) == [ids[1]]


def test_the_order_articles_are_added_in_does_not_matter():
    rng = random.Random(3)
    rows = [(f"id{i}", rng.randrange(20), _terms(rng.sample("abcdefgh", 4)), ()) for i in range(300)]
    one_by_one, at_once, shuffled, in_two_loads = KeyIndex(), KeyIndex(), KeyIndex(), KeyIndex()
    for row in rows:
        one_by_one.add([row])
    at_once.load(iter(rows))  # the bulk path, read one row at a time: each key sorted once at the end
    shuffled.add(rng.sample(rows, len(rows)))
    in_two_loads.load(row for row in rows if row[1] >= 10)  # the second load's postings go before
    in_two_loads.load(row for row in rows if row[1] < 10)  # the first's: merged with them
    for keys in ("ab", "cd", "efgh"):
        found = one_by_one.candidates(list(keys), 10)
        assert len(found) == STORY_CANDIDATES
        assert found == at_once.candidates(list(keys), 10) == shuffled.candidates(list(keys), 10)
        assert found == in_two_loads.candidates(list(keys), 10)
    def postings(index):  # every key's postings as ids, in order (numbers follow the order added)
        return {key: [index._ids[n] for n in numbers] for key, numbers in index._postings.items()}

    assert postings(one_by_one) == postings(at_once) == postings(shuffled) == postings(in_two_loads)


def test_bands_give_their_oldest_articles_before_and_after_a_merge(monkeypatch):
    monkeypatch.setattr(key_index, "MERGE_AT", 10)
    index = KeyIndex()
    for i in range(BAND_CANDIDATES + 20):  # merged every 10 bands added
        index.add([(f"n{i:03}", 0, {}, (7, 1000 + i, -5 if i % 2 else 2**62))])
    assert index._band_keys.size and index._new_band_count  # some merged, some not yet
    found = index.sharing_bands([7, 1003, -5, 99, 7])
    assert found[7] == [f"n{i:03}" for i in range(BAND_CANDIDATES)]  # the oldest, in the order added
    assert found[1003] == ["n003"] and found[-5][:2] == ["n001", "n003"] and 99 not in found
    index.add([("late", 0, {}, (1003,))])  # not merged yet: found after the merged ones
    assert index.sharing_bands([1003])[1003] == ["n003", "late"]


def test_bands_alike_in_their_held_bits_give_each_others_articles(monkeypatch):
    monkeypatch.setattr(key_index, "MERGE_AT", 2)
    index = KeyIndex()
    index.add([("x", 0, {}, (5,)), ("y", 0, {}, (5 + 2**32,)), ("z", 0, {}, (6 + 2**40,))])
    assert index._band_keys.size and index._new_band_count  # x and y merged, z not yet
    assert index.sharing_bands([5 + 2**32, 6]) == {5 + 2**32: ["x", "y"], 6: ["z"]}  # keyed as asked


def test_colliding_bands_change_no_decision(monkeypatch, tmp_path):
    """With 2 bits held every band meets a quarter of all others: each article gets every stored
    article of such a band as a near-duplicate candidate, and its MinHash still decides."""
    reports = [art(1, HARBOUR, "Harbour reopens"), art(2, ORCHARD), art(3, HARBOUR, "Back in business"),
               art(4, "KELMARSH (Wire) - " + HARBOUR.replace("five weeks", "six weeks")),
               art(5, HARBOUR_REWRITE), art(6, ORCHARD.replace("a decade", "ten years") + " Prices rose."),
               art(7, ORCHARD[:120]), art(8, HARBOUR_REWRITE[::-1])]

    def decided(bits: int) -> dict:
        monkeypatch.setattr(key_index, "BAND_BITS", bits)
        store = open_store(f"sqlite:///{tmp_path}/bits{bits}.db")
        try:
            for i in range(0, len(reports), 3):
                store.upsert(reports[i:i + 3])
            assert bits > 2 or len(store.dedup.keys.sharing_bands([1, 2, 3, 4])) == 4  # all collide
            return {r.id: (r.duplicate_of, r.story_id) for r in store.list_articles()}
        finally:
            store.close()

    assert decided(2) == decided(32)
    assert decided(32)["a4"][0] == "a1" and decided(32)["a7"][0] is None  # a near copy; a fragment is not


def test_keys_are_the_heaviest_terms_in_their_stored_order():
    assert keys_of({"kelmarsh": 0.5, "harbour": 0.4, "varga": 0.1}) == ("kelmarsh", "harbour", "varga")


def test_a_sink_sees_what_another_sink_stored_since(store_url):
    first, second = open_store(store_url), open_store(store_url)
    try:
        first.upsert([art(2, ORCHARD)])
        second.upsert([art(3, ORCHARD + " Prices rose.")])  # second loads the index: the orchard is known
        first.upsert([art(1, HARBOUR, "Harbour reopens")])
        # first's harbour report was stored after second loaded its index: second catches up
        second.upsert([art(5, HARBOUR_REWRITE, "Trawlers return to Kelmarsh")])
        stories = {r.id: r.story_id for r in second.list_articles()}
        assert stories["a5"] == stories["a1"] == "a1"
        assert len(second.dedup.keys) == len(first.dedup.keys) + 1 == 4  # first has not seen a5 yet
    finally:
        first.close()
        second.close()


def test_a_failed_transaction_leaves_no_candidate_behind(store):
    store.upsert([art(1, HARBOUR, "Harbour reopens")])
    before = len(store.dedup.keys)
    broken = dataclasses.replace(art(2, HARBOUR_REWRITE), url=None)  # NOT NULL: the transaction fails
    with pytest.raises(Exception, match="(?i)not.null"):
        store.upsert([broken])
    assert len(store.dedup.keys) == 0  # forgotten: read again from the database at the next batch
    store.upsert([art(3, ORCHARD)])
    assert len(store.dedup.keys) == before + 1


def test_a_regroup_makes_running_sinks_read_the_vectors_again(store_url):
    sink, tool = open_store(store_url), open_store(store_url)
    try:
        sink.upsert([art(1, HARBOUR, "Harbour reopens"), art(2, ORCHARD)])
        loaded = sink.dedup.keys
        tool.regroup_stories(write=True)  # rewrites every stored vector
        sink.upsert([art(5, HARBOUR_REWRITE, "Trawlers return to Kelmarsh")])
        assert sink.dedup.keys is not loaded and sink.dedup.keys.generation == loaded.generation + 1
        assert len(sink.dedup.keys) == 3
        assert {r.id: r.story_id for r in sink.list_articles()}["a5"] == "a1"
    finally:
        sink.close()
        tool.close()


def test_strongest_edges_are_each_articles_best_by_similarity_then_other_id(store):
    ids = ["a", "b", "c", "d", "e"]
    cur = store.conn.cursor()
    cur.execute(store.dialect.sql("INSERT INTO articles (id, url, source, fetched_at, stored_at) VALUES "
                                  + ", ".join(["(?, ?, 's', 0, 0)"] * len(ids))),
                [v for i in ids for v in (i, f"https://example.org/{i}")])
    sims = {("a", "b"): 0.2, ("a", "c"): 0.5, ("a", "d"): 0.2, ("a", "e"): 0.1, ("b", "c"): 0.3}
    store.dialect.insert_rows(cur, "story_edges", ("article_id", "other_id", "sim"),
                              [row for (x, y), sim in sims.items() for row in ((x, y, sim), (y, x, sim))])
    found = store.dialect.strongest_edges(cur, ["a", "b", "a", "zz"], 3)
    store.conn.rollback()
    # a: c first, then the tie b/d by id; e is fourth. b: c, then a. Each article once, unknown ones none.
    assert found == [("a", "c", 0.5), ("a", "b", 0.2), ("a", "d", 0.2), ("b", "c", 0.3), ("b", "a", 0.2)]


def test_migration_7_keeps_the_edges_stored_before_it(store_url, monkeypatch):
    from services.sink import sql_store

    monkeypatch.setattr(sql_store, "MIGRATIONS", [m for m in sql_store.MIGRATIONS if m[0] < 7])
    old = open_store(store_url)
    old.upsert([art(1, HARBOUR, "Harbour reopens"), art(2, HARBOUR_REWRITE, "Harbour open again")])
    edges = sorted(old.dedup.dialect.strongest_edges(old.conn.cursor(), ["a1", "a2"], 60))
    old.close()
    assert len(edges) == 2
    monkeypatch.undo()
    new = open_store(store_url)
    assert sorted(new.dialect.strongest_edges(new.conn.cursor(), ["a1", "a2"], 60)) == edges
    new.upsert([art(3, HARBOUR_REWRITE + " Boats return.", "Harbour reopens to boats")])
    assert len(new.dialect.strongest_edges(new.conn.cursor(), ["a3"], 60)) == 2
    new.close()


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_inserting_in_place_gives_what_np_insert_gives(monkeypatch, chunk):
    monkeypatch.setattr(key_index, "MOVE_CHUNK", chunk)  # chunk edges everywhere
    rng = np.random.default_rng(chunk)
    for _ in range(100):
        old = np.sort(rng.integers(0, 40, int(rng.integers(0, 200))))
        new = np.sort(rng.integers(0, 40, int(rng.integers(0, 30))))  # ties with old keys and each other
        at = np.searchsorted(old, new, "right")
        expected = np.insert(old, at, new), np.insert(np.arange(len(old)), at, -1 - np.arange(len(new)))
        keys, numbers = old.copy(), np.arange(len(old))
        key_index._insert_in_place((keys, numbers), at, (new, -1 - np.arange(len(new))))
        assert keys.tolist() == expected[0].tolist() and numbers.tolist() == expected[1].tolist()
