"""What the store's writes report (no import of either store module: both use it)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UpsertResult:
    inserted: int
    updated: int
    # Of the inserted articles (services/sink/dedup.py): exact and near duplicates of a stored
    # article, and the others: the first of a new story, or joining a story already stored.
    exact_duplicates: int = 0
    near_duplicates: int = 0
    stories_new: int = 0
    stories_joined: int = 0
