"""The sink's compact word lists (services/sink/zipf.py) give wordfreq's own Zipf frequencies."""
from __future__ import annotations

import gzip
import itertools

import msgpack
import pytest
import wordfreq

from services.sink import zipf

# tokens as the sink meets them and as it does not: capitals, apostrophes straight and curly,
# accents, a multi-digit number, a French elision, letters and digits, nothing, a made-up word
ODD_WORDS = ["Taiwan", "TAIWAN", "o'brien", "don't", "hello’s", "café", "naïve", "über", "2024",
             "abc123", "l'homme", "", "xqzzyv", "it's", "straße"]


def test_english_words_from_every_part_of_wordfreqs_list_have_wordfreqs_frequency():
    words = list(itertools.islice(wordfreq.iter_wordlist("en"), 0, None, 53))  # ~6,000 (all 321,180 in 19 s)
    assert len(words) > 6_000
    assert [zipf.zipf_frequency(w, "en") for w in words] == [wordfreq.zipf_frequency(w, "en") for w in words]


@pytest.mark.parametrize("lang", ["de", "ru"])
def test_other_languages_give_wordfreqs_frequencies(lang):
    words = list(itertools.islice(wordfreq.iter_wordlist(lang), 0, None, 211)) + ODD_WORDS
    assert [zipf.zipf_frequency(w, lang) for w in words] == [wordfreq.zipf_frequency(w, lang) for w in words]


def test_words_outside_the_list_and_odd_tokens_give_wordfreqs_frequencies():
    found = {w: zipf.zipf_frequency(w, "en") for w in ODD_WORDS}
    assert found == {w: wordfreq.zipf_frequency(w, "en") for w in ODD_WORDS}
    assert found["xqzzyv"] == 0 and found["taiwan".capitalize()] > 3


def test_a_list_that_is_not_a_cbpack_of_version_1_is_refused(tmp_path):
    path = tmp_path / "words.msgpack.gz"
    path.write_bytes(gzip.compress(msgpack.packb([{"format": "cB", "version": 2}, ["word"]])))
    with pytest.raises(ValueError, match="not a wordfreq cBpack list of version 1"):
        zipf.WordList(str(path))


def test_words_of_the_same_length_are_told_apart_and_share_no_bucket_by_mistake(tmp_path):
    path = tmp_path / "words.msgpack.gz"
    buckets = [[], ["b"], [], ["cab", "abc"], ["ab", "zz"], ["abd"]]
    path.write_bytes(gzip.compress(msgpack.packb([{"format": "cB", "version": 1}, *buckets])))
    table = zipf.WordList(str(path))
    expected = {w: wordfreq.cB_to_freq(-n) for n, bucket in enumerate(buckets) for w in bucket}
    assert {w: table.frequency(w) for w in expected} == expected
    assert [table.frequency(w) for w in ("abe", "a", "ca", "abcd", "é")] == [None] * 5
