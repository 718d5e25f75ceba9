"""The stored articles' word vectors in the sink's memory, for story similarities in bulk.

Each new article is compared with up to STORY_CANDIDATES stored ones. Reading their vectors
from the database (a row and a JSON parse each) and comparing them one pair at a time cost
more than everything else the sink does per article at 100,000 stored; here a stored vector is
a run of word numbers and weights in two flat arrays, and one call compares a new article with
all its candidates in numpy.

The arithmetic is dedup.story_similarity's, on integers: a weight has 5 decimals, so it is
held as weight x WEIGHT_SCALE, a capped product is an exact integer, and their sum (counted in
float64, exact below 2**53) rounds to the same similarity the pure function gives. Memory: 8
bytes a word (TOP_TERMS words an article: ~48 MB at 100,000) and one vocabulary entry per
distinct word.
"""
from __future__ import annotations

from collections.abc import Mapping
from itertools import repeat

import numpy as np

from services.sink.dedup import CAP_UNITS, WEIGHT_SCALE

GROWTH = 1.25  # the flat arrays grow by a quarter when full


class TermVectors:
    """Vectors by article number (0, 1, 2, … in the order appended)."""

    def __init__(self) -> None:
        self._vocabulary: dict[str, int] = {}
        self._count = 0
        self._starts = np.zeros(1, np.int64)  # article n's words are [starts[n], starts[n + 1])
        self._words = np.empty(0, np.uint32)
        self._units = np.empty(0, np.uint32)
        self._scratch = np.zeros(0, np.int64)  # a new article's units by word number; zero between calls

    def __len__(self) -> int:
        return self._count

    def append(self, terms: Mapping[str, float]) -> None:
        """The vector of the next article number."""
        vocabulary, used = self._vocabulary, int(self._starts[self._count])
        words = [vocabulary.setdefault(word, len(vocabulary)) for word in terms]
        end = used + len(words)
        if end > len(self._words):
            capacity = max(end, int(len(self._words) * GROWTH) + 4096)
            self._words = _grown(self._words, used, capacity)
            self._units = _grown(self._units, used, capacity)
        if self._count + 2 > len(self._starts):
            self._starts = _grown(self._starts, self._count + 1, int(len(self._starts) * GROWTH) + 1024)
        self._words[used:end] = words
        self._units[used:end] = _units(terms)
        self._count += 1
        self._starts[self._count] = end

    def similarities(self, terms: Mapping[str, float], numbers: list[int]) -> list[float]:
        """dedup.story_similarity of `terms` with each stored article in `numbers`, in order."""
        if not numbers:
            return []
        if len(self._scratch) < len(self._vocabulary):
            self._scratch = np.zeros(int(len(self._vocabulary) * GROWTH), np.int64)
        own_words = np.fromiter(map(self._vocabulary.get, terms, repeat(-1)), np.int64, len(terms))
        known = own_words >= 0  # a word no stored article has cannot be shared
        own_words = own_words[known]
        self._scratch[own_words] = _units(terms)[known]
        chosen = np.array(numbers, np.int64)
        starts = self._starts[chosen]
        lengths = self._starts[chosen + 1] - starts
        # every word position of every candidate, and which candidate it belongs to
        first_of_run = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        positions = np.arange(int(lengths.sum()), dtype=np.int64) + first_of_run
        products = self._scratch[self._words[positions]] * self._units[positions]
        np.minimum(products, CAP_UNITS, out=products)
        totals = np.bincount(np.repeat(np.arange(len(numbers)), lengths), weights=products, minlength=len(numbers))
        self._scratch[own_words] = 0
        # similarity_from_units in numpy (the sums are exact in float64)
        return ((totals.astype(np.int64) + WEIGHT_SCALE // 2) // WEIGHT_SCALE / WEIGHT_SCALE).tolist()


def _units(terms: Mapping[str, float]) -> np.ndarray:
    """dedup.weight_units of every weight, in numpy: the same product, rounded half to even as round() is."""
    return np.rint(np.fromiter(terms.values(), np.float64, len(terms)) * WEIGHT_SCALE).astype(np.int64)


def _grown(values: np.ndarray, used: int, capacity: int) -> np.ndarray:
    grown = np.empty(capacity, values.dtype)
    grown[:used] = values[:used]
    return grown
