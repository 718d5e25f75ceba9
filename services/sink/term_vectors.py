"""The stored articles' word vectors in the sink's memory, for story similarities in bulk.

Each new article is compared with up to STORY_CANDIDATES stored ones. Reading their vectors
from the database (a row and a JSON parse each) and comparing them one pair at a time cost
more than everything else the sink does per article at 100,000 stored; here a stored vector is
a row of word numbers and a row of weights, and one call compares a new article with all its
candidates in numpy.

The arithmetic is dedup.story_similarity's, on integers: a weight has 5 decimals, so it is
held as weight x WEIGHT_SCALE, a capped product is an exact integer, and their sum (counted in
int64) rounds to the same similarity the pure function gives. Memory: 6 bytes a word of a
row (TOP_TERMS words an article, shorter vectors padded: ~36 MB at 100,000) and one vocabulary
entry per distinct word. A weight is held in 2 bytes: one of HEAVY_UNITS units or more (a word
with over 43% of its vector's square, as in a very short text) is held at HEAVY_UNITS, and its
row whole beside the others, in `_heavy`.
"""
from __future__ import annotations

from collections.abc import Mapping
from itertools import repeat

import numpy as np

from services.sink.dedup import CAP_UNITS, TOP_TERMS, WEIGHT_SCALE

GROWTH = 1.25  # the scratch array grows by a quarter when short
GROW_ROWS = 8192  # rows the vectors grow by when full (2 MB an array)
HEAVY_UNITS = np.iinfo(np.uint16).max


class TermVectors:
    """Vectors by article number (0, 1, 2, … in the order appended), one row each: a vector has
    at most TOP_TERMS words, and a shorter one is padded with weight 0 (which adds nothing)."""

    def __init__(self) -> None:
        self._vocabulary: dict[str, int] = {}
        self._count = 0
        self._words = np.zeros((0, TOP_TERMS), np.uint32)  # row n: article n's word numbers
        self._units = np.zeros((0, TOP_TERMS), np.uint16)  # and their weights in units, at most HEAVY_UNITS; 0 pads
        self._heavy: dict[int, np.ndarray] = {}  # article number -> its row of units, where one is HEAVY_UNITS or more
        self._scratch = np.zeros(0, np.int64)  # a new article's units by word number; zero between calls

    def __len__(self) -> int:
        return self._count

    def append(self, terms: Mapping[str, float]) -> None:
        """The vector of the next article number."""
        vocabulary = self._vocabulary
        words = [vocabulary.setdefault(word, len(vocabulary)) for word in terms]
        rows, width = self._words.shape
        if len(words) > width:  # a longer vector (not made here) widens every row: copied
            self._words = _widened(self._words, len(words))
            self._units = _widened(self._units, len(words))
            self._heavy = {n: _widened(row[np.newaxis], len(words))[0] for n, row in self._heavy.items()}
        if self._count == rows:
            # In place (realloc: a large array's pages are remapped, not copied), so that growing
            # does not hold the old rows and the new at once: 54 MB more at 100,000 when copied.
            for values in (self._words, self._units):
                values.resize((rows + GROW_ROWS, values.shape[1]), refcheck=False)  # new rows are zeros
        units = _units(terms)
        self._words[self._count, :len(words)] = words
        self._units[self._count, :len(words)] = np.minimum(units, HEAVY_UNITS)
        if len(units) and units.max() >= HEAVY_UNITS:
            self._heavy[self._count] = _widened(units[np.newaxis], self._units.shape[1])[0]
        self._count += 1

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
        units = self._units[numbers]
        heavy = [row for row, number in enumerate(numbers) if number in self._heavy]
        if heavy:
            units = units.astype(np.int64)
            for row in heavy:
                units[row] = self._heavy[numbers[row]]
        products = self._scratch[self._words[numbers]] * units
        np.minimum(products, CAP_UNITS, out=products)
        totals = products.sum(axis=1)  # exact: int64
        self._scratch[own_words] = 0
        # similarity_from_units in numpy
        return ((totals + WEIGHT_SCALE // 2) // WEIGHT_SCALE / WEIGHT_SCALE).tolist()


def _units(terms: Mapping[str, float]) -> np.ndarray:
    """dedup.weight_units of every weight, in numpy: the same product, rounded half to even as round() is."""
    return np.rint(np.fromiter(terms.values(), np.float64, len(terms)) * WEIGHT_SCALE).astype(np.int64)


def _widened(values: np.ndarray, width: int) -> np.ndarray:
    """`values` with rows of `width` (padded with zeros)."""
    widened = np.zeros((values.shape[0], width), values.dtype)
    widened[:, :values.shape[1]] = values
    return widened
