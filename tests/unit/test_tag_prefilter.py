"""The tagger's prefilter (taxonomy.Scan): a regex runs only as the alternatives whose literal
needles are in the folded text. It must never change a verdict."""
from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from services.tagger.tag import explain
from services.tagger.taxonomy import Scan, _needles, _scan, fold, load_taxonomy
from shared.config import Settings
from tests.conftest import SEEDS

TAXONOMY = load_taxonomy(Settings().taxonomy_file)
EVAL_SET = Path(__file__).parents[1] / "eval" / "articles.yaml"


def unfiltered(scan: Scan | None) -> Scan | None:
    return scan and dataclasses.replace(scan, needles=(None,) * len(scan.alternatives))


UNFILTERED = dataclasses.replace(TAXONOMY, topics=tuple(
    dataclasses.replace(t, matcher=unfiltered(t.matcher), context=unfiltered(t.context), veto=unfiltered(t.veto))
    for t in TAXONOMY.topics
))


def same_verdicts(title: str | None, text: str) -> None:
    assert explain(title, text, TAXONOMY) == explain(title, text, UNFILTERED)


def test_the_eval_set_and_the_seeds_are_judged_the_same_with_and_without_prefilter():
    texts = []
    for a in yaml.safe_load(EVAL_SET.read_text(encoding="utf-8"))["articles"]:
        texts.append((a.get("title"), a.get("body") or ""))
        texts.append((None, "\n".join([*(a.get("before") or []), a.get("body") or "", *(a.get("after") or [])])))
    seeds = sorted(SEEDS.glob("*.txt")) if SEEDS.is_dir() else []
    for path in seeds:
        text = path.read_text(encoding="utf-8")
        first, _, rest = text.strip().partition("\n")
        texts += [(None, text), (first.strip(), rest)]
    evidence = 0
    for title, text in texts:
        verdicts = explain(title, text, TAXONOMY)
        assert verdicts == explain(title, text, UNFILTERED), (title, text[:80])
        evidence += sum(len(v.evidence) + len(v.vetoed) + len(v.lacking_context) for v in verdicts)
    assert len(texts) >= 160 + 2 * len(seeds) and evidence > 200  # the comparison saw real matches


WORDS = sorted({w for t in TAXONOMY.topics for scan in (t.matcher, t.context, t.veto) if scan
                for alternative in scan.needles if alternative for clause in alternative for needle in clause
                for w in re.split(r"\W+", needle) if w} | {"ROC", "US", "Lai", "Ching-te", "Tsai", "Ing-wen"})
ODD = {"s": "ſ", "k": "\u212a", "i": "İ", "I": "ı", "e": "\u0435", "ss": "ß", "a": "a\u0307"}


@st.composite
def texts(draw):
    parts = []
    for _ in range(draw(st.integers(0, 30))):
        word = draw(st.sampled_from(WORDS) | st.text(max_size=4))
        word = draw(st.sampled_from([str, str.upper, str.lower, str.title, str.swapcase]))(word)
        for plain, odd in ODD.items():
            if plain in word and draw(st.booleans()):
                word = word.replace(plain, odd, 1)
        parts.append(word + draw(st.sampled_from([" ", "-", "  ", ". ", ", ", "\n\n", "", "'s ", "\u00a0", "-\n"])))
    return "".join(parts)


@settings(max_examples=400, deadline=None)
@given(texts(), st.none() | texts())
def test_random_texts_are_judged_the_same_with_and_without_prefilter(text, title):
    same_verdicts(title, text)


def test_fold_agrees_with_re_on_every_character_of_the_needles():
    """A character re takes for a needle's character (case-insensitively) folds to the same."""
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    for char in sorted(set("".join(WORDS).lower() + "abcdefghijklmnopqrstuvwxyz0123456789")):
        for match in re.finditer(re.escape(char), everything, re.IGNORECASE):
            assert fold(match.group()) == fold(char), (char, hex(ord(match.group())))


def test_the_odd_characters_fold_as_re_matches_them():
    assert re.fullmatch("(?i:taiwan)", "TAİWAN") and fold("TAİWAN") == "taiwan"
    assert re.fullmatch("(?i:taiwan)", "taıwan") and fold("taıwan") == "taiwan"
    assert re.fullmatch("(?i:spy)", "ſpy") and fold("ſpy") == "spy"
    assert re.fullmatch("(?i:kremlin)", "\u212aremlin") and fold("\u212aremlin") == "kremlin"


def test_needles_of_phrases_are_their_words():
    scan = _scan([r"(?i:(?<!\w)Tsai[\s-]+Ing[\s-]+wen(?!\w))", r"(?:(?<!\w)ROC(?!\w))"])
    assert scan.needles == ((frozenset({"tsai"}), frozenset({"ing"}), frozenset({"wen"})), (frozenset({"roc"}),))


def test_needles_of_a_pattern_with_alternatives():
    assert _needles("military communications? (?:channels?|links?)", 0) == (
        frozenset({"military communication"}), frozenset({"channel", "link"}))
    # alternatives of literals join the run around them
    assert _needles("(?:direct|secure) (?:telephone |phone )?(?:line|link)s?", 0) == (
        frozenset({"direct ", "secure "}), frozenset({"line", "link"}))
    assert _needles("defen[cs]e", re.IGNORECASE) == (frozenset({"defence", "defense"}),)
    # every branch must give a needle, else the group gives none
    assert _needles("hotline (?:for|x+)", 0) == (frozenset({"hotline "}),)


@pytest.mark.parametrize("pattern", [r"\w+", r"[a-z]{3,}", r"a.b", r"(?:ab|x)", "x?yz?"])
def test_a_pattern_with_no_literal_of_two_characters_always_runs(pattern):
    assert _needles(pattern, 0) is None
    scan = _scan([pattern])
    assert [m.group() for m in scan.finditer("say xaby going", "")] == [
        m.group() for m in re.finditer(pattern, "say xaby going")]


def test_a_text_without_the_needles_runs_no_regex_and_one_with_them_finds_the_same():
    scan = _scan([r"(?<!\w)spy[\s-]+balloon(?!\w)", r"(?<!\w)balloon(?!\w)"], re.IGNORECASE)
    assert list(scan.finditer("Nothing here.", fold("Nothing here."))) == []
    text = "A SPY-Balloon, then a balloon."
    found = [(m.span(), scan.which(m)) for m in scan.finditer(text, fold(text))]
    assert found == [((2, 13), 0), ((22, 29), 1)]
    assert list(scan.finditer(text, "")) == []  # proof that the needles decide: with no folded text, nothing
