"""MinHash of 5-word shingles, in numpy: datasketch's "affine32" scheme, bit for bit.

Stored signatures must stay comparable with new ones forever, so the scheme is written out
here rather than borrowed from a library whose defaults may move: each shingle's 32-bit hash
is pre-mixed with the MurmurHash3 finalizer, then permutation k maps it to a_k * h + b_k mod
2**32, with (a, b) drawn by numpy's legacy RandomState from the seed exactly as datasketch 2.x
draws them. tests/unit/test_dedup_reference.py checks the values against datasketch itself.
"""
from __future__ import annotations

import zlib

import numpy as np

from services.sink.memo import WORDS, Memo

SHINGLE_WORDS = 5
EMPTY = 0xFFFFFFFF  # the value of every permutation when there is nothing to hash
_SHINGLE_MULT = np.uint64(0x9E3779B97F4A7C15)
_WORD_HASHES = Memo(lambda word: zlib.crc32(word.encode()), max_size=WORDS)


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of the affine permutations, as datasketch.MinHash(seed=…, scheme="affine32") has them,
    as columns: one row per permutation, the shingles along it."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a[:, None], b[:, None]


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def shingle_hashes(tokens: list[str]) -> np.ndarray:
    """One 32-bit hash per 5-word shingle (one shingle for a text of fewer words), from the words' CRC32s."""
    word_hashes = np.fromiter(map(_WORD_HASHES.__getitem__, tokens), dtype=np.uint64, count=len(tokens))
    n = max(1, len(tokens) - SHINGLE_WORDS + 1)
    shingles = word_hashes[:n].copy()
    for i in range(1, min(SHINGLE_WORDS, len(tokens))):
        shingles *= _SHINGLE_MULT  # wraps mod 2**64 on purpose
        shingles += word_hashes[i:i + n]
    shingles >>= np.uint64(17)
    return shingles.astype(np.uint32)  # the low 32 bits


def minhash(tokens: list[str], perms: tuple[np.ndarray, np.ndarray]) -> tuple[int, ...]:
    """perms: from `permutations`, each as a column (shape (num_perm, 1))."""
    a, b = perms
    if not tokens:
        return (EMPTY,) * len(a)
    mixed = _fmix32(shingle_hashes(tokens))
    return tuple((a * mixed + b).min(axis=1).tolist())  # uint32 arithmetic: mod 2**32
