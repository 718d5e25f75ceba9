"""Story candidates: which stored articles share a new article's key words, from the sink's memory.

The database stays the record (each article's word vector in `dedup_signatures.terms`, whose
first KEY_TERMS words are its keys); this index is rebuilt from it when a sink starts and kept
current under the sinks' lock: at each batch the sink reads the rows other sinks indexed since
the last one it saw (`seq` only grows), and adds its own once they are committed. A lookup then
costs the same whether 1,000 or 100,000 articles are stored, where the SQL it replaces read up
to KEY_TERMS x KEY_POSTINGS index rows an article through the database.

Memory: a key's postings are two arrays of 4-byte numbers (~8 bytes a posting, KEY_TERMS
postings an article), about 30 MB at 100,000 articles.
"""
from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable

import numpy as np

from services.sink.dedup import KEY_TERMS, MIN_SHARED_KEYS
from services.sink.stories import WINDOW_DAYS

# Grouping is a function of the articles alone while these limits are not reached (README):
# a key word with more than KEY_POSTINGS articles in the window, an article with more than
# STORY_CANDIDATES candidates.
STORY_CANDIDATES = 30
KEY_POSTINGS = 100
BULK = 1000  # from this many articles at once, postings are sorted once rather than inserted in place


class KeyIndex:
    """Key word -> the articles it is a key of, ordered by (day, id), each a number."""

    def __init__(self) -> None:
        self.seen_seq = 0  # the highest dedup_signatures.seq indexed here
        self.generation: int | None = None  # index_generation when loaded; None: not loaded
        self._ids: list[str] = []
        self._days = array("i")
        self._number: dict[str, int] = {}
        self._postings: dict[str, array] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def _order(self, number: int) -> tuple[int, str]:
        return self._days[number], self._ids[number]

    def add(self, rows: Iterable[tuple[str, int, Iterable[str]]]) -> None:
        """Index (article id, day, keys) rows; an id indexed already is left as it is."""
        rows = [r for r in rows if r[0] not in self._number]
        touched: set[str] = set()
        bulk = len(rows) >= BULK
        for article_id, day, keys in rows:
            number = self._number[article_id] = len(self._ids)
            self._ids.append(article_id)
            self._days.append(day)
            for key in dict.fromkeys(keys):
                postings = self._postings.get(key)
                if postings is None:
                    postings = self._postings[key] = array("I")
                if bulk:
                    postings.append(number)
                    touched.add(key)
                elif not postings or self._order(postings[-1]) <= (day, article_id):
                    postings.append(number)  # the newest: most articles, as news arrives
                else:
                    postings.insert(bisect.bisect_right(postings, (day, article_id), key=self._order), number)
        for key in touched:
            self._postings[key] = array("I", sorted(self._postings[key], key=self._order))

    def candidates(self, keys: Iterable[str], day: int) -> list[str]:
        """Articles within WINDOW_DAYS of `day` sharing MIN_SHARED_KEYS of `keys`, reading each key's
        KEY_POSTINGS newest postings in the window: the STORY_CANDIDATES most shared, then newest,
        then by id."""
        lo, hi = day - WINDOW_DAYS, day + WINDOW_DAYS
        days, found = self._days, array("I")
        for key in keys:
            postings = self._postings.get(key)
            if not postings:
                continue
            end = bisect.bisect_right(postings, hi, key=days.__getitem__)
            start = bisect.bisect_left(postings, lo, key=days.__getitem__, lo=max(0, end - KEY_POSTINGS), hi=end)
            found += postings[start:end]
        # Up to KEY_TERMS x KEY_POSTINGS numbers, most seen once: counted and filtered in numpy.
        numbers, counts = np.unique(np.frombuffer(found, dtype=np.uint32), return_counts=True)
        kept = counts >= MIN_SHARED_KEYS
        shared = [(-n, -days[i], self._ids[i]) for i, n in zip(numbers[kept].tolist(), counts[kept].tolist())]
        return [article_id for _, _, article_id in sorted(shared)[:STORY_CANDIDATES]]


def keys_of(terms: dict[str, float]) -> list[str]:
    """An article's keys as signature() chose them: its KEY_TERMS heaviest words (terms keep that order)."""
    return list(terms)[:KEY_TERMS]
