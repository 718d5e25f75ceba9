"""The bounded memo the sink's word functions are read through (services/sink/memo.py)."""
from __future__ import annotations

import tracemalloc

from services.sink import dedup, minhash
from services.sink.memo import Memo


def test_a_memo_computes_each_key_once_and_empties_when_full():
    calls = []
    memo = Memo(lambda key: calls.append(key) or key * 2, max_size=3)
    assert [memo[k] for k in (1, 2, 1, 3, 2)] == [2, 4, 2, 6, 4]
    assert calls == [1, 2, 3]
    assert memo[4] == 8 and len(memo) == 1  # full at 3: emptied before the fourth key
    assert memo[1] == 2 and calls == [1, 2, 3, 4, 1]


def test_new_words_do_not_grow_the_sinks_memory_past_its_memos(monkeypatch):
    """A sink meets new words (names, typos) for as long as it runs: what it keeps of them is
    bounded by its memos (here made small), with no other cache growing beside them."""
    memos = [minhash._WORD_HASHES, *dedup._TERMS.values(), *dedup._STEMS.values()]
    for memo in memos:
        monkeypatch.setattr(memo, "max_size", 2_000)
    common = "the minister said on monday that talks would resume after the vote".split()

    def word(n: int) -> str:  # letters only, as a word must be to be weighed
        return "zq" + "".join(chr(97 + n // 26 ** i % 26) for i in range(4))

    def texts(first: int, count: int):
        for start in range(first, first + count, 200):
            yield " ".join(common + [word(n) for n in range(start, start + 200)])

    for text in texts(0, 10_000):  # fill every cache to its bound first
        dedup.signature("a title", text, "en", 0)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for text in texts(10_000, 30_000):
            dedup.signature("a title", text, "en", 0)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # kept beside the memos (an unbounded or large cache), 30,000 words take ~6 MB; bounded, ~0.1
    assert grown < 3_000_000, f"{grown / 1e6:.1f} MB kept after 30,000 new words"
    assert all(len(memo) <= 2_000 for memo in memos)
