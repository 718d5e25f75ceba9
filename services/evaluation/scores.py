"""Scores of `newsflow eval`: precision/recall/F1, pairwise clustering scores, the extraction metric."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from itertools import combinations


@dataclass(frozen=True)
class PRF:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def prf(expected: set, predicted: set) -> PRF:
    return PRF(len(expected & predicted), len(predicted - expected), len(expected - predicted))


def same_cluster_pairs(labels: dict[str, str]) -> set[frozenset]:
    """Every pair of items that share a label."""
    groups: dict[str, list[str]] = {}
    for item, label in labels.items():
        groups.setdefault(label, []).append(item)
    return {frozenset(p) for members in groups.values() for p in combinations(sorted(members), 2)}


# The ScrapingHub benchmark's metric, as its README and evaluation describe it: texts are cut into
# word tokens (\w+), compared as multisets of 4-token shingles; each page's true/false positives
# and false negatives are normalised by their sum, precision and recall are averaged over pages
# (pages where they are undefined left out), and F1 is computed from the two averages.
TOKEN = re.compile(r"\w+")
SHINGLE = 4


def _shingles(text: str) -> Counter:
    tokens = TOKEN.findall(text or "")
    return Counter(tuple(tokens[i:i + SHINGLE]) for i in range(max(1, len(tokens) - SHINGLE + 1)) if tokens[i:i + SHINGLE])


def page_scores(true: str, predicted: str) -> tuple[float, float, float]:
    t, p = _shingles(true), _shingles(predicted)
    tp, fp, fn = sum((t & p).values()), sum((p - t).values()), sum((t - p).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def benchmark_scores(pages: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """(precision, recall, F1) over pages scored by `page_scores`."""
    def ratio(num: float, other: float) -> float:
        return num / (num + other)

    precisions = [1.0 if fp == fn == 0 else ratio(tp, fp) if tp + fp else 0.0 for tp, fp, fn in pages if tp + fp > 0]
    recalls = [1.0 if fp == fn == 0 else ratio(tp, fn) if tp + fn else 0.0 for tp, fp, fn in pages if tp + fn > 0]
    p = sum(precisions) / len(precisions) if precisions else 0.0
    r = sum(recalls) / len(recalls) if recalls else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)
