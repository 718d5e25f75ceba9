"""Candidates from the sink's memory: which stored articles share a new article's key words
(stories) or one of its MinHash bands (near duplicates), and how alike their word vectors are
(services/sink/term_vectors.py).

The database stays the record (each article's word vector in `dedup_signatures.terms`, whose
first KEY_TERMS words are its keys, and its MinHash, whose bands are computed again); this
index is rebuilt from it when a sink starts and kept
current under the sinks' lock: at each batch the sink reads the rows other sinks indexed since
the last one it saw (`seq` only grows), and adds each of its own once decided, so that the
articles after it in the batch find it (a failed transaction makes the sink rebuild the index). A lookup then
costs the same whether 1,000 or 100,000 articles are stored, where the SQL it replaces read up
to KEY_TERMS x KEY_POSTINGS index rows an article through the database.

Memory: a key's postings are an array of 4-byte numbers (KEY_TERMS postings an article); the
bands are sorted numpy arrays (8 bytes a band, BANDS an article), the newest in a dict until
MERGE_AT of them: about 50 MB at 100,000 articles, and the word vectors about 40 MB more.

A band is held by the low BAND_BITS bits of its key: two bands that differ only above them
(about one looked-up band in 2,000 at 100,000 articles) give each other's articles as
candidates, which their MinHashes then reject as they reject any candidate too unlike; 4 bytes
less a band, 8 MB at 100,000 articles.
"""
from __future__ import annotations

import bisect
import heapq
from array import array
from collections.abc import Iterable, Mapping

import numpy as np

from services.sink.dedup import MIN_SHARED_KEYS, keys_of
from services.sink.stories import WINDOW_DAYS
from services.sink.term_vectors import TermVectors

# Grouping is a function of the articles alone while these limits are not reached (README):
# a key word with more than KEY_POSTINGS articles in the window, an article with more than
# STORY_CANDIDATES candidates.
STORY_CANDIDATES = 30
KEY_POSTINGS = 100
BULK = 1000  # from this many articles at once, postings are sorted once rather than inserted in place
BAND_CANDIDATES = 50  # the oldest articles of a band read: a band shared by thousands says little
MERGE_AT = 50_000  # bands kept in a dict before they join the sorted arrays
BAND_BITS = 32


class KeyIndex:
    """Key word -> the articles it is a key of, ordered by (day, id), each a number."""

    def __init__(self) -> None:
        self.seen_seq = 0  # the highest dedup_signatures.seq indexed here
        self.generation: int | None = None  # index_generation when loaded; None: not loaded
        self._ids: list[str] = []
        self._days = array("i")
        self._number: dict[str, int] = {}
        self._postings: dict[str, array] = {}
        self._posting_days: dict[str, array] = {}  # beside each key's postings: bisect runs in C
        self._band_keys = np.empty(0, np.uint32)  # sorted, by held_band; a key's articles in the order added
        self._band_numbers = np.empty(0, np.uint32)
        self._new_bands: dict[int, list[int]] = {}
        self._new_band_count = 0
        self._vectors = TermVectors()  # by article number

    def __len__(self) -> int:
        return len(self._ids)

    def _order(self, number: int) -> tuple[int, str]:
        return self._days[number], self._ids[number]

    def add(self, rows: Iterable[tuple[str, int, Mapping[str, float], Iterable[int]]]) -> None:
        """Index (article id, day, word vector, bands) rows, oldest first (by seq); an id
        indexed already is left as it is. The vector's first KEY_TERMS words are its keys."""
        rows = list(rows)
        if len(rows) >= BULK:
            self.load(rows)
            return
        for article_id, day, terms, bands in rows:
            if article_id in self._number:
                continue
            self._append(article_id, day, terms, bands)
            for key in dict.fromkeys(keys_of(terms)):
                postings, posting_days = self._postings_of(key)
                at = bisect.bisect_right(posting_days, day)  # after the earlier days (the end, as news arrives)
                if at and posting_days[at - 1] == day:  # and among its own day's postings, in order of id
                    same_day = bisect.bisect_left(posting_days, day, 0, at)
                    at = bisect.bisect_right(postings, article_id, same_day, at, key=self._ids.__getitem__)
                postings.insert(at, len(self._ids) - 1)
                posting_days.insert(at, day)

    def load(self, rows: Iterable[tuple[str, int, Mapping[str, float], Iterable[int]]]) -> None:
        """add() for many rows, read one at a time (a sink's first load reads every stored row):
        postings are appended, and each key's sorted once at the end."""
        touched: dict[str, int] = {}  # key -> how many of its postings were in order before
        for article_id, day, terms, bands in rows:
            if article_id in self._number:
                continue
            number = self._append(article_id, day, terms, bands)
            for key in dict.fromkeys(keys_of(terms)):
                postings = self._postings.get(key) or self._postings_of(key)[0]
                touched.setdefault(key, len(postings))
                postings.append(number)
        for key, in_order in touched.items():
            self._sort_tail(key, in_order)

    def _append(self, article_id: str, day: int, terms: Mapping[str, float], bands: Iterable[int]) -> int:
        """The next article number for `article_id`, with its day, vector and bands (not its postings)."""
        number = self._number[article_id] = len(self._ids)
        self._ids.append(article_id)
        self._days.append(day)
        self._vectors.append(terms)
        for band in dict.fromkeys(map(held_band, bands)):
            self._new_bands.setdefault(band, []).append(number)
        self._new_band_count += len(bands)
        if self._new_band_count >= MERGE_AT:
            self._merge_bands()
        return number

    def _postings_of(self, key: str) -> tuple[array, array]:
        postings = self._postings.get(key)
        if postings is None:
            postings = self._postings[key] = array("I")
            self._posting_days[key] = array("i")
        return postings, self._posting_days[key]

    def _sort_tail(self, key: str, sorted_up_to: int) -> None:
        """Put the postings appended after `sorted_up_to` in order: sorted alone, then left after
        the others (a load in order of time; the others are not copied) or merged with them."""
        postings, days = self._postings[key], self._posting_days[key]
        tail = sorted(postings[sorted_up_to:], key=self._order)
        if sorted_up_to and self._order(postings[sorted_up_to - 1]) > self._order(tail[0]):
            tail = list(heapq.merge(postings[:sorted_up_to], tail, key=self._order))
            sorted_up_to = 0
        del postings[sorted_up_to:], days[sorted_up_to:]
        postings.extend(tail)
        days.extend(self._days[n] for n in tail)

    def _merge_bands(self) -> None:
        new = self._new_bands
        keys = np.fromiter((k for k, numbers in new.items() for _ in numbers), np.uint32)
        numbers = np.fromiter((n for row in new.values() for n in row), np.uint32)
        order = np.argsort(keys, kind="stable")  # stable: a key's older articles stay first
        keys, numbers = keys[order], numbers[order]
        at = np.searchsorted(self._band_keys, keys, "right")  # after the older articles of a key
        _insert_in_place((self._band_keys, self._band_numbers), at, (keys, numbers))
        self._new_bands, self._new_band_count = {}, 0

    def sharing_bands(self, bands: Iterable[int]) -> dict[int, list[str]]:
        """band key -> the BAND_CANDIDATES oldest articles having it, for the bands some article has."""
        wanted = list(dict.fromkeys(bands))
        held = np.fromiter(map(held_band, wanted), np.uint32, len(wanted))
        starts = np.searchsorted(self._band_keys, held, "left").tolist()
        ends = np.searchsorted(self._band_keys, held, "right").tolist()
        found: dict[int, list[str]] = {}
        for band, held_key, start, end in zip(wanted, held.tolist(), starts, ends):
            numbers = self._band_numbers[start:min(end, start + BAND_CANDIDATES)].tolist()
            numbers += self._new_bands.get(held_key, [])[:BAND_CANDIDATES - len(numbers)]
            if numbers:
                found[band] = [self._ids[n] for n in numbers]
        return found

    def candidates(self, keys: Iterable[str], day: int) -> list[str]:
        """Articles within WINDOW_DAYS of `day` sharing MIN_SHARED_KEYS of `keys`, reading each key's
        KEY_POSTINGS newest postings in the window: the STORY_CANDIDATES most shared, then newest,
        then by id."""
        lo, hi = day - WINDOW_DAYS, day + WINDOW_DAYS
        found = array("I")
        for key in keys:
            postings = self._postings.get(key)
            if not postings:
                continue
            posting_days = self._posting_days[key]
            end = bisect.bisect_right(posting_days, hi)
            start = bisect.bisect_left(posting_days, lo, max(0, end - KEY_POSTINGS), end)
            found += postings[start:end]
        # Up to KEY_TERMS x KEY_POSTINGS numbers, most seen once: sorted, only the repeats counted
        # (an article seen k times repeats k - 1 times; MIN_SHARED_KEYS is at least 2), in numpy.
        found = np.sort(np.frombuffer(found, dtype=np.uint32))
        numbers, repeats = np.unique(found[1:][found[1:] == found[:-1]], return_counts=True)
        kept = repeats >= MIN_SHARED_KEYS - 1
        days, ids = self._days, self._ids
        shared = [(-k, -days[n], ids[n]) for n, k in zip(numbers[kept].tolist(), repeats[kept].tolist())]
        return [article_id for _, _, article_id in sorted(shared)[:STORY_CANDIDATES]]

    def similarities(self, terms: Mapping[str, float], article_ids: list[str]) -> list[float]:
        """dedup.story_similarity of `terms` with each of these indexed articles, in order."""
        return self._vectors.similarities(terms, [self._number[i] for i in article_ids])

    def __contains__(self, article_id: str) -> bool:
        return article_id in self._number


def held_band(band: int) -> int:
    """What the index holds of a band key (dedup.band_keys: 63 bits)."""
    return band & ((1 << BAND_BITS) - 1)


MOVE_CHUNK = 1 << 16  # old values moved at once by _insert_in_place


def _insert_in_place(columns: tuple[np.ndarray, ...], at: np.ndarray, inserted: tuple[np.ndarray, ...]) -> None:
    """np.insert(column, at, new) for each column and its new values, into the column itself
    (`at` ascending), grown in place: np.insert builds a new array beside the old one, 23 MB
    more at the moment of a merge at 100,000 articles. The old values move from the last down,
    a chunk at a time, each by the number of insertions before it; a value's place is never
    below where it was, so none is overwritten before it has moved."""
    old = len(columns[0])
    for column, new in zip(columns, inserted):
        column.resize(old + len(new), refcheck=False)
    end = old
    while end > 0:
        start = max(0, end - MOVE_CHUNK)
        before, within = np.searchsorted(at, [start, end], "left")  # insertions before the chunk, and up to its end
        places = np.arange(start, end) + before
        places += np.cumsum(np.bincount(at[before:within] - start, minlength=end - start))
        for column in columns:
            column[places] = column[start:end].copy()
        end = start
    places = at + np.arange(len(at))
    for column, new in zip(columns, inserted):
        column[places] = new
