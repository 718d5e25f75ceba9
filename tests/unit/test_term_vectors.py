"""The sink's in-memory word vectors (services/sink/term_vectors.py) against the pure similarity."""
from __future__ import annotations

import random

from services.sink import term_vectors
from services.sink.dedup import CAP_UNITS, TOP_TERMS, WEIGHT_SCALE, signature, story_similarity
from services.sink.term_vectors import TermVectors
from tests.unit.test_dedup import HARBOUR, HARBOUR_REWRITE, ORCHARD


def test_bulk_similarities_equal_the_pure_function_through_growth(monkeypatch):
    monkeypatch.setattr(term_vectors, "GROW_ROWS", 7)  # grow often: growing in place must keep every vector
    rng = random.Random(5)
    words = [f"w{i}" for i in range(300)]
    vectors = [{w: round(rng.random(), 5) for w in rng.sample(words, rng.randrange(0, 60))} for _ in range(400)]
    stored = TermVectors()
    for vector in vectors:
        stored.append(vector)
    assert len(stored) == 400
    for _ in range(50):
        new = {w: round(rng.random(), 5) for w in rng.sample(words + ["unseen1", "unseen2"], 40)}
        numbers = rng.sample(range(400), 30)
        assert stored.similarities(new, numbers) == [story_similarity(new, vectors[n]) for n in numbers]
    assert stored.similarities({"unseen1": 1.0}, [0, 1]) == [0.0, 0.0]
    assert stored.similarities(vectors[0], []) == []


def test_a_vector_longer_than_a_row_widens_every_row():
    short, long = {"a": 0.5, "b": 0.25}, {f"w{i}": 0.01 for i in range(TOP_TERMS + 15)} | {"a": 0.3}
    stored = TermVectors()
    stored.append(short)
    stored.append(long)  # not made by term_vector (at most TOP_TERMS words), but it may be stored
    new = {"a": 0.4, "w70": 0.9, "w3": 0.2}
    assert stored.similarities(new, [0, 1]) == [story_similarity(new, short), story_similarity(new, long)]
    first_row_only = dict(list(long.items())[:TOP_TERMS])  # without "a" and "w70"
    assert stored.similarities(new, [1])[0] > story_similarity(new, first_row_only)


def test_real_signatures_compare_as_the_pure_function_does():
    sigs = [signature(None, text, "en", 0) for text in (HARBOUR, HARBOUR_REWRITE, ORCHARD)]
    stored = TermVectors()
    for sig in sigs:
        stored.append(sig.terms)
    found = stored.similarities(sigs[0].terms, [0, 1, 2])
    assert found == [story_similarity(sigs[0].terms, s.terms) for s in sigs]
    assert found[0] > found[1] > found[2]


def test_the_similarity_is_exact_and_symmetric():
    a, b = {"x": 0.00001, "y": 0.2, "z": 0.5}, {"z": 0.3, "y": 0.1, "x": 0.5}
    # x: 1 x 50,000 units, y: 20,000 x 10,000, z: 0.15 capped at TERM_CAP; 0.090005 rounds up
    assert CAP_UNITS == 7 * WEIGHT_SCALE**2 // 100 and 1 * 50_000 + 20_000 * 10_000 + CAP_UNITS == 900_050_000
    assert story_similarity(a, b) == story_similarity(b, a) == 0.09001
    assert story_similarity(a, {}) == 0.0


def test_a_heavy_weight_is_exact_before_and_after_rows_widen():
    heavy, light = {"a": 0.9, "b": 0.43589}, {"a": 0.6, "c": 0.8}  # 90,000 units do not fit in 2 bytes
    new = {"a": 0.05, "b": 0.1}  # 0.9 x 0.05 is under TERM_CAP: the weight counts in full
    stored = TermVectors()
    stored.append(heavy)
    stored.append(light)
    expected = [story_similarity(new, heavy), story_similarity(new, light)]
    assert stored.similarities(new, [0, 1]) == expected and expected[0] == 0.08859
    stored.append({f"w{i}": 0.01 for i in range(TOP_TERMS + 5)})  # every row widens
    assert stored.similarities(new, [1, 0]) == expected[::-1]
