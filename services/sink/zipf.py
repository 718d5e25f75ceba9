"""How common a word is, on wordfreq's Zipf scale, from a table a tenth the size of wordfreq's.

wordfreq keeps a language's word list, once read, as a dict of Python strings for the life of
the process (English: 321,180 words, 34.8 MB of the sink's memory), and a cache of up to
100,000 answers beside it. Here a language's words are UTF-8 bytes in sorted numpy arrays, one
array per length, with each word's frequency bucket beside it (~3 MB for English), and the
answer is worked out as `wordfreq.zipf_frequency(word, lang)` works it out, with wordfreq's own
tokeniser and number helpers; tests/unit/test_zipf.py compares the two word for word.
"""
from __future__ import annotations

import gzip
import math
from array import array
from functools import lru_cache

import msgpack
import numpy as np
from wordfreq import (
    INFERRED_SPACE_FACTOR, available_languages, cB_to_freq, digit_freq, freq_to_zipf,
    get_language_info, lossy_tokenize, smash_numbers, zipf_to_freq,
)

UNKNOWN = zipf_to_freq(0)  # the frequency zipf_frequency gives a word missing from its list


class WordList:
    """A language's word list: word -> frequency, as wordfreq.get_frequency_dict gives it."""

    def __init__(self, path: str):
        """Read a wordfreq list (a gzipped msgpack array: a header, then bucket n's words, each of
        -n centibels) a bucket at a time into one buffer of fixed-width words per length, so that
        no Python object per word outlives its bucket (those left ~16 MB of the process's memory
        behind them once freed)."""
        words: dict[int, bytearray] = {}
        buckets: dict[int, array] = {}
        with gzip.open(path, "rb") as packed:
            unpacker = msgpack.Unpacker(packed, raw=True)  # raw: each word its UTF-8 bytes
            count = unpacker.read_array_header()
            header = unpacker.unpack()
            if header.get(b"format") != b"cB" or header.get(b"version") != 1:
                raise ValueError(f"{path}: not a wordfreq cBpack list of version 1: {header!r}")
            for bucket in range(count - 1):
                for word in filter(None, unpacker.unpack()):
                    words.setdefault(len(word), bytearray()).extend(word)
                    buckets.setdefault(len(word), array("H")).append(bucket)
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for length, joined in words.items():
            encoded_words = np.frombuffer(joined, dtype=f"S{length}")
            order = np.argsort(encoded_words, kind="stable")
            self._arrays[length] = encoded_words[order], np.frombuffer(buckets[length], np.uint16)[order]
        self._frequencies = [cB_to_freq(-bucket) for bucket in range(count - 1)]

    def frequency(self, word: str) -> float | None:
        encoded = word.encode()
        arrays = self._arrays.get(len(encoded))
        if arrays is None:
            return None
        encoded_words, buckets = arrays
        at = int(np.searchsorted(encoded_words, encoded))
        if at == len(encoded_words) or encoded_words[at] != encoded:
            return None
        return self._frequencies[buckets[at]]


@lru_cache(maxsize=None)
def word_list(lang: str) -> WordList:
    """The list wordfreq's "best" word list gives `lang` (one of available_languages())."""
    return WordList(available_languages()[lang])


def zipf_frequency(word: str, lang: str) -> float:
    """wordfreq.zipf_frequency(word, lang): a word seen 10**z times a billion words is at z; one
    the list lacks is at 0. Several tokens combine as wordfreq combines them: 1/f = sum(1/f_i)."""
    tokens = lossy_tokenize(word, lang)
    table = word_list(lang)
    inverse = 0.0
    for token in tokens:
        smashed = smash_numbers(token)  # multi-digit numbers share an entry, weighed by their digits
        frequency = table.frequency(smashed)
        if frequency is None:
            return _zipf(UNKNOWN)
        if smashed != token:
            frequency *= digit_freq(token)
        inverse += 1.0 / frequency
    if not tokens:
        return _zipf(UNKNOWN)
    frequency = 1.0 / inverse
    if get_language_info(lang)["tokenizer"] == "jieba":  # word breaks it inferred lower the frequency
        frequency *= INFERRED_SPACE_FACTOR ** -(len(tokens) - 1)
    frequency = max(frequency, UNKNOWN)
    return _zipf(round(frequency, math.floor(-math.log(frequency, 10)) + 3))  # 3 significant digits


def _zipf(frequency: float) -> float:
    return round(freq_to_zipf(frequency), 2)
