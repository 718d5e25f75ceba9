"""A bounded memo for pure functions of one key, read in C loops: `map(memo.__getitem__, keys)`."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


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
