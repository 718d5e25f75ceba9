"""A bounded memo for pure functions of one key, read in C loops: `map(memo.__getitem__, keys)`."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Distinct words each of the sink's word memos keeps before it empties. News brings new words
# (names, typos) for as long as a sink runs: with 500,000 a memo and idf's own cache of 200,000,
# 500,000 new words raised a process's peak RSS by 194-209 MB; with 100,000 and no second cache
# by 45 MB, in less CPU (BENCHMARKS.md, issue 15).
WORDS = 100_000


class Memo(dict):
    """compute(key) for a key not seen yet, kept; emptied when it holds max_size keys.

    Cheaper than functools.lru_cache where a text's hundreds of words are looked up at once:
    a dict lookup, no call, for a known key.
    """

    def __init__(self, compute: Callable[[Any], Any], max_size: int):
        super().__init__()
        self.compute = compute
        self.max_size = max_size

    def __missing__(self, key):
        if len(self) >= self.max_size:
            self.clear()
        value = self[key] = self.compute(key)
        return value
