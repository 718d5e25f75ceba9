"""The fast signature code gives the values of the reference (datasketch, plain loops): stored signatures stay valid."""
from __future__ import annotations

import random
import zlib

from datasketch import MinHash
from wordfreq import top_n_list

from services.sink import dedup
from services.sink import minhash as mh

TEMPLATE = MinHash(num_perm=dedup.NUM_PERM, seed=dedup.MINHASH_SEED, scheme="affine32")


def datasketch_minhash(tokens: list[str]) -> tuple[int, ...]:
    """The signature as newsflow computed it with datasketch, shingles hashed in plain Python."""
    if not tokens:
        return tuple(int(v) for v in TEMPLATE.hashvalues)
    crcs = [zlib.crc32(w.encode()) for w in tokens]
    width = min(mh.SHINGLE_WORDS, len(tokens))
    shingles = []
    for start in range(max(1, len(tokens) - mh.SHINGLE_WORDS + 1)):
        value = 0
        for crc in crcs[start:start + width]:
            value = (value * 0x9E3779B97F4A7C15 + crc) % 2**64
        shingles.append((value >> 17) & 0xFFFFFFFF)
    sketch = MinHash(num_perm=dedup.NUM_PERM, hashfunc=int, permutations=TEMPLATE.permutations, scheme="affine32")
    sketch.update_batch(shingles)
    return tuple(int(v) for v in sketch.hashvalues)


def test_permutations_are_datasketchs():
    a, b = mh.permutations(dedup.NUM_PERM, dedup.MINHASH_SEED)
    assert a.ravel().tolist() == TEMPLATE.permutations[0].tolist()
    assert b.ravel().tolist() == TEMPLATE.permutations[1].tolist()


def test_values_equal_datasketchs_on_texts_of_every_length():
    rng = random.Random(1)
    vocab = top_n_list("en", 5000) + ["Zürich", "naïve", "東京", "don't", "2024"]
    for length in [*range(0, 12), 50, 250, 600, 2000]:
        for _ in range(3):
            tokens = [rng.choice(vocab) for _ in range(length)]
            assert dedup.minhash(tokens) == datasketch_minhash(tokens), length


def test_values_are_python_ints_below_2_to_32():
    values = dedup.minhash(["a", "b", "c", "d", "e", "f"])
    assert all(type(v) is int and 0 <= v < 2**32 for v in values)


def plain_term_vector(tokens: list[str], language: str) -> dict[str, float]:
    """term_vector as first written: one loop per distinct token, heapq for the top."""
    import heapq
    import math
    from collections import Counter

    counts: Counter = Counter()
    weight_of: dict[str, float] = {}
    for token, n in Counter(tokens).items():
        stem, weight = dedup._term(token, language)
        if stem is not None:
            counts[stem] += n
            weight_of.setdefault(stem, weight)
    top = heapq.nlargest(dedup.TOP_TERMS, [((1 + math.log(n)) * weight_of[s], s) for s, n in counts.items()])
    norm = math.sqrt(sum(w * w for w, _ in top)) or 1.0
    return {s: round(w / norm, 5) for w, s in top}


def test_term_vector_equals_the_plain_loop_in_order():
    rng = random.Random(2)
    for language in ("en", "de", "fr"):
        vocab = top_n_list(language, 3000) + ["talks", "talk", "hama's", "hamas", "don't", "2024", "Zürich"]
        for length in (0, 1, 5, 40, 300, 1500):
            tokens = dedup.words(" ".join(rng.choice(vocab) for _ in range(length)))
            assert list(dedup.term_vector(tokens, language).items()) == list(plain_term_vector(tokens, language).items())


def test_ascii_fast_path_finds_the_same_words():
    text = "Don't stop: the U.S. team's 3-2 win, 'quoted' it's 2024 o'clock _under_score"
    assert dedup.words(text) == dedup.WORD.findall(text.lower())


def test_stored_minhash_text_is_eight_hex_digits_a_value():
    from services.sink.dedup_index import _decode_minhash, _encode_minhash

    values = (0, 1, 0xABCDEF, 2**32 - 1) * 15
    assert _encode_minhash(values) == "".join(f"{v:08x}" for v in values)
    assert _decode_minhash(_encode_minhash(values)) == values
