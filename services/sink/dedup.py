"""Duplicates and stories: signatures of an article's clean text, similarity, the decision.

Pure: no database, no Kafka. The sink (services/sink/dedup_index.py) looks candidates up in its
index tables and calls `decide` inside the transaction that stores the articles.

Method and thresholds:
- exact duplicate: the same words in the same order (case, spacing and punctuation aside),
  whatever the URL or title: one hash of the normalised text.
- near duplicate (a syndicated copy with small edits, a credit line, another headline): the
  Jaccard similarity of the texts' 5-word shingles, estimated with a 60-value MinHash, is at least
  NEAR_THRESHOLD. Candidates come from LSH over BANDS bands of ROWS values each: two texts with a
  Jaccard of 0.5 meet in at least one band with probability 1-(1-0.5^3)^20 = 0.93, 0.6 gives 0.99.
- the word vector stories are grouped by (services/sink/stories.py): a word weighs
  (1 + log tf) * idf^2, where idf is how rare the word is in the language at large (wordfreq's
  Zipf scale, from a compact copy of its lists in services/sink/zipf.py: 7 - zipf, so "the"
  weighs nothing and a surname a lot); a title word counts TITLE_WEIGHT times; the vector
  keeps the TOP_TERMS heaviest words. The similarity is a cosine in which one word contributes
  at most TERM_CAP: two reports that share one rare name (the same club, the same "hotline")
  are not one story unless they share several. Articles are compared when they share at least
  MIN_SHARED_KEYS of their KEY_TERMS heaviest words.
"""
from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass
from operator import mul

from wordfreq import available_languages

from services.sink import minhash as mh
from services.sink.memo import WORDS, Memo
from services.sink.zipf import zipf_frequency

SHINGLE_WORDS = mh.SHINGLE_WORDS
BANDS, ROWS = 20, 3
NUM_PERM = BANDS * ROWS
MINHASH_SEED = 20231113  # fixed forever: stored signatures must stay comparable with new ones
NEAR_THRESHOLD = 0.5
TERM_CAP = 0.07
WEIGHT_SCALE = 100_000  # term_vector keeps 5 decimals of a weight
CAP_UNITS = round(TERM_CAP * WEIGHT_SCALE * WEIGHT_SCALE)  # TERM_CAP in units of a product of two weights
TOP_TERMS = 60
KEY_TERMS = 30
TITLE_WEIGHT = 2
MIN_SHARED_KEYS = 2
MAX_IDF = 7.0  # a word wordfreq does not know (a rare name) weighs as much as the rarest it knows

WORD = re.compile(r"[^\W_]+(?:['’][^\W\d_]+)*")
ASCII_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")  # WORD on lower-case ASCII text, in a third less time
_PERMUTATIONS = mh.permutations(NUM_PERM, MINHASH_SEED)
_KNOWN_LANGUAGES = set(available_languages())


@dataclass(frozen=True)
class Signature:
    text_hash: str
    minhash: tuple[int, ...]  # NUM_PERM values, each < 2**32
    bands: tuple[int, ...]  # BANDS keys for the LSH index (signed 63-bit)
    terms: dict[str, float]  # word -> weight, unit length
    keys: tuple[str, ...]  # the KEY_TERMS heaviest words, heaviest first
    day: int  # days since 1970-01-01 of the publication (or storage) time


@dataclass(frozen=True)
class Known:
    """An article already in the index, as far as a decision needs it."""

    id: str
    root_id: str  # the original it duplicates, or itself
    minhash: tuple[int, ...]


@dataclass(frozen=True)
class Decision:
    duplicate_of: str | None
    kind: str  # "exact" | "near" (a duplicate) | "joined" (an existing story) | "new" (a story of its own)
    similarity: float
    matched: str | None  # the original it duplicates
    story_id: str | None = None  # set once the article's neighbourhood is grouped


def words(text: str) -> list[str]:
    text = text.lower()
    return ASCII_WORD.findall(text) if text.isascii() else WORD.findall(text.replace("’", "'"))


def text_hash(tokens: list[str]) -> str:
    return hashlib.sha256(" ".join(tokens).encode()).hexdigest()[:32]


def minhash(tokens: list[str]) -> tuple[int, ...]:
    """MinHash of the 5-word shingles (services/sink/minhash.py)."""
    return mh.minhash(tokens, _PERMUTATIONS)


def band_keys(values: tuple[int, ...]) -> tuple[int, ...]:
    keys = []
    for band in range(BANDS):
        chunk = values[band * ROWS:(band + 1) * ROWS]
        digest = hashlib.blake2b(repr((band, chunk)).encode(), digest_size=8).digest()
        keys.append(int.from_bytes(digest, "big") >> 1)  # fits a signed BIGINT
    return tuple(keys)


def idf(word: str, language: str) -> float:
    zipf = zipf_frequency(word, language)
    return MAX_IDF if zipf <= 0 else max(0.0, MAX_IDF - zipf)


def _stem(word: str) -> str:
    """Crude suffix folding so that "talks"/"talk" and "miscalculations"/"miscalculation" meet."""
    if word.endswith("'s"):
        word = word[:-2]
    for suffix, keep in (("ies", 4), ("ing", 5), ("ed", 5), ("es", 4), ("s", 4)):
        if word.endswith(suffix) and len(word) - len(suffix) >= keep and not word.endswith("ss"):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def _term(token: str, language: str) -> tuple[str | None, float]:
    """(stem, weight) of a token; stem None for one that cannot tell stories apart."""
    if len(token) < 3 or not token.replace("'", "").isalpha():
        return None, 0.0
    weight = idf(token.removesuffix("'s"), language) ** 2
    return (_stem(token), weight) if weight > 0 else (None, 0.0)


_TERMS = {lang: Memo(lambda token, lang=lang: _term(token, lang), max_size=WORDS) for lang in _KNOWN_LANGUAGES}
_STEMS = {lang: Memo(lambda token, lang=lang: _TERMS[lang][token][0], max_size=WORDS) for lang in _KNOWN_LANGUAGES}
_TF_FACTORS = Memo(lambda n: 1 + math.log(n), max_size=10_000)  # the (1 + log tf) of a word's weight


def term_vector(tokens: list[str], language: str | None) -> dict[str, float]:
    lang = language if language in _KNOWN_LANGUAGES else "en"
    # Whole-list operations (C loops) where a loop per token cost twice as much.
    counts = Counter(map(_STEMS[lang].__getitem__, tokens))
    counts.pop(None, None)
    # A stem weighs what its first token weighs: reversed, the first one is written last.
    weight_of = dict(map(_TERMS[lang].__getitem__, reversed(dict.fromkeys(tokens))))
    scores = list(map(mul, map(_TF_FACTORS.__getitem__, counts.values()), map(weight_of.__getitem__, counts)))
    if len(scores) > TOP_TERMS:  # sort only the candidates: floats sort faster than (float, str) pairs
        cut = sorted(scores)[-TOP_TERMS]
        ranked = sorted(((w, s) for w, s in zip(scores, counts) if w >= cut), reverse=True)[:TOP_TERMS]
    else:
        ranked = sorted(zip(scores, counts), reverse=True)
    norm = math.sqrt(sum(w * w for w, _ in ranked)) or 1.0
    return {s: round(w / norm, 5) for w, s in ranked}


def keys_of(terms: dict[str, float]) -> tuple[str, ...]:
    """An article's keys: its KEY_TERMS heaviest words (term_vector keeps them heaviest first, and
    so does the JSON they are stored as, from which the sink's key index is rebuilt)."""
    return tuple(list(terms)[:KEY_TERMS])


def signature(title: str | None, text: str, language: str | None, day: int) -> Signature:
    body = words(text)
    values = minhash(body)
    terms = term_vector(words(title or "") * TITLE_WEIGHT + body, language)
    return Signature(
        text_hash=text_hash(body),
        minhash=values,
        bands=band_keys(values),
        terms=terms,
        keys=keys_of(terms),
        day=day,
    )


def near_similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Estimated Jaccard similarity of two texts' shingle sets."""
    return sum(x == y for x, y in zip(a, b)) / NUM_PERM


def weight_units(weight: float) -> int:
    """A word's weight (term_vector rounds it to 5 decimals) as the exact integer it stands for."""
    return round(weight * WEIGHT_SCALE)


def similarity_from_units(total: int) -> float:
    """A sum of capped products of weight units, as a similarity rounded to 5 decimals (half up)."""
    return (total + WEIGHT_SCALE // 2) // WEIGHT_SCALE / WEIGHT_SCALE


def story_similarity(a: dict[str, float], b: dict[str, float]) -> float:
    """Cosine of two unit vectors, each word's share capped at TERM_CAP, rounded to 5 decimals.

    Computed on integers (weights have 5 decimals): exact, so neither the order of the words nor
    which article is `a` can move a digit, and the sink's vectorised form
    (services/sink/term_vectors.py) gives the same number."""
    return similarity_from_units(sum(
        min(CAP_UNITS, weight_units(a[t]) * weight_units(b[t])) for t in a.keys() & b.keys()
    ))


def decide(sig: Signature, exact: list[Known], near: list[Known]) -> Decision:
    """Whether a new article duplicates one in the index, given the candidates its signature found.

    Candidates are ordered oldest first; on a tie the oldest wins, so the answer does not
    depend on the order a database returned rows in. Its story is decided after, by grouping.
    """
    if exact:
        first = exact[0]
        return Decision(first.root_id, "exact", 1.0, first.id)
    best, best_sim = None, 0.0
    for known in near:
        sim = near_similarity(sig.minhash, known.minhash)
        if sim >= NEAR_THRESHOLD and sim > best_sim:
            best, best_sim = known, sim
    if best is not None:
        return Decision(best.root_id, "near", round(best_sim, 4), best.id)
    return Decision(None, "new", 0.0, None)
