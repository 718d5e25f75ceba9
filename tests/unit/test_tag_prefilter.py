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
from services.tagger.taxonomy import Needle, Scan, _needles, _scan, fold, load_taxonomy
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
                for w in re.split(r"\W+", needle.text) if w}
               | {"ROC", "US", "Lai", "Ching-te", "Tsai", "Ing-wen", "process", "Roc", "ROCs", "hotline's", "Taiwan’s",
                  "HOT-LINE", "hot_line", "red2", "_red", "shot", "photo", "ιred", "Σ"})
# ι (Greek iota) folds to U+0345, a combining mark and no \w: a word can end there in the folded text alone
ODD = {"s": "ſ", "k": "\u212a", "i": "İ", "I": "ı", "e": "\u0435", "ss": "ß", "a": "a\u0307", "o": "o\u0301",
       "t": "\u0345t", "n": "ιn", "l": "\u0399l"}


@st.composite
def texts(draw):
    parts = []
    for _ in range(draw(st.integers(0, 30))):
        word = draw(st.sampled_from(WORDS) | st.text(max_size=4))
        word = draw(st.sampled_from([str, str.upper, str.lower, str.title, str.swapcase]))(word)
        for plain, odd in ODD.items():
            if plain in word and draw(st.booleans()):
                word = word.replace(plain, odd, 1)
        parts.append(word + draw(st.sampled_from([" ", "-", "  ", ". ", ", ", "\n\n", "", "'s ", "\u00a0", "-\n",
                                                  "’s ", "_", "2", "\u0301", "\u0345", "ι", "\u2028", "–"])))
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


def folded(*texts: str) -> frozenset[Needle]:
    return frozenset(Needle(t) for t in texts)


def words(*texts: str, raw: bool = False) -> frozenset[Needle]:
    return frozenset(Needle(t, raw=raw, word=True) for t in texts)


def test_needles_of_phrases_are_their_words():
    scan = _scan([r"(?i:(?<!\w)Tsai[\s-]+Ing[\s-]+wen(?!\w))", r"(?:(?<!\w)ROC(?!\w))"])
    assert scan.needles == ((words("tsai"), words("ing"), words("wen")), (words("ROC", raw=True),))


def test_needles_of_a_pattern_with_alternatives():
    assert _needles("military communications? (?:channels?|links?)", re.I) == (
        folded("military communication"), folded("channel", "link"))
    # alternatives of literals join the run around them
    assert _needles("(?:direct|secure) (?:telephone |phone )?(?:line|link)s?", re.I) == (
        folded("direct ", "secure "), folded("line", "link"))
    assert _needles("defen[cs]e", re.I) == (folded("defence", "defense"),)
    assert _needles(r"(?<!\w)defen[cs]e(?!\w)", re.I) == (words("defence", "defense"),)
    # every branch must give a needle, else the group gives none
    assert _needles("hotline (?:for|x+)", re.I) == (folded("hotline "),)


def test_case_sensitive_literals_are_looked_for_in_the_text_itself():
    raw = lambda *texts: frozenset(Needle(t, raw=True) for t in texts)  # noqa: E731
    assert _needles("ROCs (?i:Taiwan(?-i:XY)z)", 0) == (raw("ROCs "), folded("taiwan"), raw("XY"))
    assert _needles("(?i)ROCs (?-i:Taiwan)", 0) == (folded("rocs "), raw("Taiwan"))
    scan = _scan([r"(?<!\w)ROC(?!\w)"])
    assert [m.group() for m in scan.finditer("the ROC, Roc, roc", "the roc, roc, roc")] == ["ROC"]
    assert list(scan.finditer("the Roc and PROCESS", fold("the Roc and PROCESS"))) == []


def test_a_word_needle_is_only_a_run_between_word_boundaries_or_separators():
    # a run next to anything else is looked for as a substring
    assert _needles(r"(?<!\w)hotlines? for(?!\w)", re.I) == (folded("hotline"), folded(" for"))
    assert _needles(r"(?<!\w)hot line(?!\w)", re.I) == (folded("hot line"),)
    assert _needles(r"\bhot\b", re.I) == (folded("hot"),)
    assert _needles(r"(?<!\w)hot[-\s]+line(?!\w)", re.I) == (folded("hot"), folded("line"))
    assert _needles(r"(?<!\w)hot[\s-]*line(?!\w)", re.I) == (folded("hot"), folded("line"))
    assert _needles(r"(?<!\w)(?i:hot)(?!\w)", re.I) == (folded("hot"),)
    assert _needles(r"(?<!\w)(?:hot)(?!\w)", re.I) == (words("hot"),)  # re's parser drops the bare group
    assert _needles(r"(?<!\w)U\.S\.(?!\w)", re.I) == (folded("u.s."),)
    assert _needles(r"(?=\w)hot(?=\w)", re.I) == (folded("hot"),)
    # under re.ASCII, \w is not the \w of the words in the text
    assert _needles(r"(?a:(?<!\w)hot[\s-]+line(?!\w))", re.I) == (folded("hot"), folded("line"))
    assert _needles(r"(?<!\w)hot[\s-]+line(?!\w)", re.I) == (words("hot"), words("line"))


@pytest.mark.parametrize(("text", "found"), [
    ("hot", True), ("a hot-line", True), ("hot_line", False), ("shot", False), ("photo", False), ("hot2", False),
    ("2hot", False), ("hot\u0301", True), ("\u0301hot", True), ("hotline's", False), ("hot's", True),
    ("taiwan’s hot.", True), ("ιhot", False), ("\u0345hot\u0345", True), ("shot hot", True), ("shot\nhot\n", True),
    ("shots photo hot", True), ("hothot hot_", False),
])
def test_a_word_needle_is_found_as_a_whole_word_only(text, found):
    assert Needle("hot", word=True).found("", text) is found
    assert Needle("hot", raw=True, word=True).found(text, "") is found
    assert bool(re.search(r"(?<!\w)hot(?!\w)", text)) is found  # what re takes for a word


def test_fold_keeps_the_words_where_they_are():
    """A word needle is looked for in the folded text, as a run of \\w there: folding must keep every
    character in its place and never turn a character that is no \\w into one, else a word re
    finds in the text could be lost there. (The other way, ι -> U+0345, only splits words that
    re would not match anyway: a word needle's own characters fold to \\w.)"""
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    for text in (everything, " ".join(everything), everything[::-1]):
        folded_text = fold(text)
        assert len(folded_text) == len(text)
        assert [i for i in (m.start() for m in re.finditer(r"\W", text)) if re.match(r"\w", folded_text[i])] == []
    # what a phrase puts between its words is never \w, whatever the case
    assert not re.search(r"\w", "".join(re.findall(r"(?i)[\s-]", everything)))


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
