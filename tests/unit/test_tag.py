"""The tagger's pure functions: the seeds, the traps, and the taxonomy file's errors."""
from __future__ import annotations

import textwrap

import pytest

from services.tagger.tag import explain, tag_article, tag_text
from services.tagger.taxonomy import TaxonomyError, load_taxonomy
from shared.config import Settings
from shared.schema import Article
from tests.conftest import SEEDS

TAXONOMY = load_taxonomy(Settings().taxonomy_file)


def tags(text: str, title: str | None = None) -> set[str]:
    return {t.name for t in tag_text(title, text, TAXONOMY)}


def seed_tags(prefix: str) -> set[str]:
    if not SEEDS.is_dir():
        pytest.skip(f"seed articles not found at {SEEDS}")
    text = next(SEEDS.glob(f"{prefix}_*.txt")).read_text(encoding="utf-8")
    first, _, rest = text.strip().partition("\n")
    title = first.strip() if prefix in ("000", "003", "004") else None
    return tags(rest if title else text, title)


@pytest.mark.parametrize(
    "prefix, expected",
    [
        ("000", {"taiwan", "balloon"}),
        ("001", {"taiwan", "balloon"}),
        ("002", {"taiwan", "hotline"}),
        ("003", {"taiwan", "balloon"}),
        ("004", {"taiwan"}),
    ],
)
def test_seed_tags(prefix, expected):
    assert seed_tags(prefix) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Taiwanese voters queued in the rain.", {"taiwan"}),
        ("The mayor of Taipei opened the bridge.", {"taiwan"}),
        ("Two destroyers sailed through the Taiwan Strait.", {"taiwan"}),
        ("Thailand's exports rose in March.", set()),
        ("A hot-air balloon festival drew crowds to the valley.", set()),
        ("Students launched a weather balloon from the school field.", set()),
        ("The loan ends with a balloon payment on the mortgage.", set()),
        ("A surveillance balloon over Montana was tracked by NORAD.", {"balloon"}),
        ("Party balloons filled the hall.", set()),
        ("Call the customer hotline for a refund.", set()),
        ("The crisis hotline is open all night.", set()),
        ("The Pentagon's hotline with Beijing stayed silent.", {"hotline"}),
        ("The US-China military hotline was restored.", {"hotline"}),
        ("Both sides agreed on restoring direct military communication channels.", {"hotline"}),
        ("Officials kept open lines of communication, a diplomat said.", set()),
        ("Pupils launched a weather balloon with a military pilot.\n\nThe balloon burst at 30 km, the military pilot said.", set()),
        ("China said the balloon shot down by the US military was a weather balloon; US officials called it a spy balloon.", {"balloon"}),
        ("Families in Beijing released balloons to mark the Chinese new year.", set()),
        ("Fighter jets tracked a balloon over the Yukon.", {"balloon"}),
        ("The state opened a hotline for voters, with lawyers from a defence fund.", set()),
        ("The hotline for military veterans in crisis will take texts.", set()),
        ("They set up a secure telephone link between their defence ministries.", {"hotline"}),
        ("A stall sells Taiwanese-style fried chicken in Leeds.", set()),
    ],
)
def test_traps_and_positives(text, expected):
    assert tags(text) == expected


def test_title_counts_more_than_body():
    title_only = tag_text("Taiwan votes", "Polls closed at four.", TAXONOMY)
    body_only = tag_text(None, "Taiwan votes. Polls closed at four.", TAXONOMY)
    assert title_only[0].score == 2 * body_only[0].score


def test_repeats_have_diminishing_returns_and_evidence_has_positions():
    (tag,) = tag_text(None, "Taiwan, Taiwan, Taiwan.", TAXONOMY)
    assert tag.score == pytest.approx(1 + 1 / 2 + 1 / 3, abs=1e-3)
    assert [e["pos"] for e in tag.evidence] == [0, 8, 16]
    assert {e["where"] for e in tag.evidence} == {"body"}


def test_explain_says_why_a_tag_was_not_given():
    verdicts = {v.name: v for v in explain(None, "A weather balloon rose. Call the customer hotline.", TAXONOMY)}
    assert not verdicts["balloon"].matched and verdicts["balloon"].vetoed[0]["veto"] == "weather balloon"
    assert verdicts["hotline"].vetoed
    lonely = {v.name: v for v in explain(None, "She bought a red balloon.", TAXONOMY)}
    assert lonely["balloon"].lacking_context[0]["phrase"] == "balloon"


def test_tag_article_uses_clean_text_and_records_the_version():
    art = Article(id="x", url="u", source="s", content="Taiwan in raw junk", text="Nothing topical here.")
    tagged = tag_article(art, TAXONOMY)
    assert tagged.tags == [] and tagged.taxonomy_version == TAXONOMY.version


def test_a_user_topic(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(textwrap.dedent("""
        version: "1"
        topics:
          pelosi:
            threshold: 1
            phrases: [Nancy Pelosi, {text: Pelosi, case_sensitive: true}]
    """))
    taxonomy = load_taxonomy(path)
    assert [t.name for t in tag_text(None, "Speaker Nancy Pelosi visited.", taxonomy)] == ["pelosi"]
    assert tag_text(None, "pelosi in lower case is not the name", taxonomy) == []


@pytest.mark.parametrize(
    "body, message",
    [
        ("version: 1\ntopics:\n  x:\n    threshold: 1\n    phrases: [a]\n    colour: red\n", "unknown key"),
        ("version: 1\ntopics:\n  x:\n    threshold: 1\n    patterns: ['(unclosed']\n", "bad pattern"),
        ("version: 1\ntopics:\n  x:\n    phrases: [a]\n", "missing threshold"),
        ("version: 1\ntopics: [\n", "not valid YAML"),
        ("topics:\n  x:\n    threshold: 1\n    phrases: [a]\n", "missing version"),
        ("version: 1\ntopics:\n  Bad Name:\n    threshold: 1\n    phrases: [a]\n", "topic name"),
        # found by the property tests (tests/unit/test_properties.py): each escaped as another error
        ("version: 1\ntopics: " + "[" * 5000, "not valid YAML"),
        ("version: 1\ntopics:\n  x:\n    threshold: high\n    phrases: [a]\n", "threshold: a number"),
        ("version: 1\ntopics:\n  x:\n    threshold: 0\n    phrases: [a]\n", "above 0"),
        ("version: 1\ntopics:\n  x:\n    threshold: 1\n    phrases: [{text: a, weight: [1]}]\n", "weight: a number"),
        ("version: 1\ntopics:\n  x:\n    threshold: 1\n    phrases: spy balloon\n", "phrases: a list"),
        ("version: 1\ntopics:\n  x:\n    threshold: 1\n    phrases: [a]\n    context: Pentagon\n", "context: a list"),
        ("version: 1\ntopics:\n  x:\n    threshold: 1\n    patterns: ['a{99999999999}']\n", "bad pattern"),
        ("version: 1\ntopics:\n  x:\n    threshold: 1\n    patterns: ['x(?i)y']\n", "bad pattern"),
        ("version: 1\ntopics:\n  x:\n    threshold: 1\n    patterns: ['b?']\n", "matches empty text"),
        ("version:\ntopics:\n  x:\n    threshold: 1\n    phrases: [a]\n", "version must be"),
    ],
)
def test_broken_taxonomy_files_are_clear_errors(tmp_path, body, message):
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(TaxonomyError, match=message) as info:
        load_taxonomy(path)
    assert str(path) in str(info.value)


def test_a_taxonomy_file_that_is_not_utf8_is_a_clear_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("version: 1\ntopics:\n  caf\u00e9:\n    threshold: 1\n".encode("latin-1"))
    with pytest.raises(TaxonomyError, match="not UTF-8"):
        load_taxonomy(path)


def test_a_pattern_with_a_capturing_group_is_refused(tmp_path):
    """The matched term is found by its group number in the topic's alternation: a pattern's own
    group shifted the numbers, and "red phone" below was credited to no term (IndexError)."""
    path = tmp_path / "t.yaml"
    path.write_text(textwrap.dedent("""
        version: "1"
        topics:
          hotline:
            threshold: 1
            patterns: ['(military|defense) hotline']
            phrases: [red phone]
    """))
    with pytest.raises(TaxonomyError, match=r"capturing group: write \(\?:\.\.\.\)"):
        load_taxonomy(path)
    path.write_text(path.read_text().replace("(military|defense)", "(?:military|defense)"))
    assert [t.name for t in tag_text(None, "They used the red phone.", load_taxonomy(path))] == ["hotline"]


def test_veto_and_context_entries_may_be_patterns(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(textwrap.dedent("""
        version: "1"
        topics:
          strike:
            threshold: 1
            phrases: [{text: strike, ambiguous: true}]
            context: [{pattern: 'union|workers?'}]
            veto: [{pattern: 'lucky strikes?|strike (?:a|the) (?:balance|deal)'}]
    """))
    taxonomy = load_taxonomy(path)
    assert [t.name for t in tag_text(None, "Workers began a strike on Monday.", taxonomy)] == ["strike"]
    assert tag_text(None, "The union hopes to strike a deal.", taxonomy) == []
    assert tag_text(None, "A strike in the second half won it.", taxonomy) == []
    bad = tmp_path / "bad.yaml"
    bad.write_text('version: "1"\ntopics:\n  x:\n    threshold: 1\n    phrases: [a]\n    veto: [{pattern: "(x"}]\n')
    with pytest.raises(TaxonomyError, match="bad pattern"):
        load_taxonomy(bad)


def test_many_vetoes_and_ambiguous_words_are_judged_like_a_few():
    """Vetoes and context are looked up by bisection now ("balloon " 5,000 times took 80 s):
    the verdicts must be the same as one by one."""
    weather = "A weather balloon rose over the field. " * 2000
    assert tags(weather + "Then the military shot down a spy balloon over the coast.") == {"balloon"}
    assert tags(weather) == set()
    context_far = "The balloon " + "drifted " * 100 + "and the Pentagon watched"  # one unterminated sentence
    context_near = "The balloon drifted and the Pentagon watched."
    [verdict] = [v for v in explain(None, context_near, TAXONOMY) if v.name == "balloon"]
    assert [e["context"] for e in verdict.evidence] == ["Pentagon"]
    [verdict] = [v for v in explain(None, context_far, TAXONOMY) if v.name == "balloon"]
    assert verdict.evidence == [] and len(verdict.lacking_context) == 1  # 800 characters away: another sentence
    many = " ".join(["The balloon drifted."] * 3000) + " The Pentagon balloon was tracked."
    [verdict] = [v for v in explain(None, many, TAXONOMY) if v.name == "balloon"]
    assert len(verdict.lacking_context) == 3000 and [e["context"] for e in verdict.evidence] == ["Pentagon"]
