"""The taxonomy file: topics, their phrases and rules, loaded and compiled once."""
from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from re import _casefix, _parser  # private, but the prefilter must agree with re itself

import yaml

TOPIC_KEYS = {"description", "threshold", "title_weight", "phrases", "patterns", "context", "veto"}
PHRASE_KEYS = {"text", "weight", "case_sensitive", "ambiguous"}
PATTERN_KEYS = {"pattern", "weight", "case_sensitive", "ambiguous"}
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class TaxonomyError(ValueError):
    pass


@dataclass(frozen=True)
class Term:
    label: str  # the phrase or pattern as written, for evidence and `explain`
    weight: float
    ambiguous: bool


def _fold_table() -> dict[int, str]:
    # re's IGNORECASE takes a character for another when their simple lower cases are equal, or when
    # they are in one of re's extra classes (i ı, s ſ, σ ς, ...): each class becomes one character.
    table = {char: chr(min(char, *others)) for char, others in _casefix._EXTRA_CASES.items()}
    return {char: to for char, to in table.items() if chr(char) != to}


FOLD = _fold_table()
FOLDED_AWAY = re.compile("[" + "".join(re.escape(chr(char)) for char in FOLD) + "]")


def fold(text: str) -> str:
    """The text where any match of a regex (case-insensitive or not) has its literals folded."""
    lower = text.replace("İ", "i").lower()  # "İ".lower() is "i" and U+0307, yet re takes İ for i
    return lower.translate(FOLD) if FOLDED_AWAY.search(lower) else lower


WORD_RUN = re.compile(r"\w+")


@dataclass(frozen=True)
class Needle:
    """A string every match of an alternative puts in the text: in the folded text, or, from
    case-sensitive literals, in the text itself (`raw`). A `word` needle is there as a whole word:
    a run of \\w with none on either side, in the text it is looked for in. Where re matched a
    phrase's word in the text, the folded text has the word's fold (all \\w) in the same place,
    and no \\w on either side: fold keeps every character where it is and turns none that is not
    \\w into one (tests/unit/test_tag_prefilter.py checks both over every code point)."""

    text: str
    raw: bool = False
    word: bool = False
    # text, then no \\w, and no \\w before it: a literal first, so re looks for it quickly
    finder: re.Pattern | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if self.word:
            finder = re.escape(self.text) + r"(?!\w)(?<!\w" + "." * len(self.text) + ")"
            object.__setattr__(self, "finder", re.compile(finder, re.DOTALL))

    def found(self, text: str, folded: str) -> bool:
        haystack = text if self.raw else folded
        return self.text in haystack and (self.finder is None or self.finder.search(haystack) is not None)


@dataclass(frozen=True)
class Scan:
    """An alternation that runs, on a text, as the alternation of only the alternatives whose
    needles are all found in it: one that matches nowhere there changes nothing in the others'
    matches. Alternative i is the named group a<i>."""

    alternatives: tuple[str, ...]
    # Per alternative, clauses that all hold in the text where it matches, a clause being
    # a set of needles one of which is found; None: unknown, the alternative always runs.
    needles: tuple[tuple[frozenset[Needle], ...] | None, ...]
    flags: int = 0

    def finditer(self, text: str, folded: str) -> Iterator[re.Match]:
        live = [
            alternative
            for alternative, clauses in zip(self.alternatives, self.needles)
            if clauses is None or all(any(n.found(text, folded) for n in clause) for clause in clauses)
        ]
        if not live:
            return iter(())
        return re.compile("|".join(live), self.flags).finditer(text)  # re caches what it compiled

    @staticmethod
    def which(match: re.Match) -> int:
        """The index of the alternative that matched."""
        return int(match.lastgroup[1:])


def _literals(op, av) -> set[str] | None:
    """The strings one item of a parsed regex matches, if it is a literal, a [class] of them or
    (alternatives) of literals."""
    if op is _parser.LITERAL:
        return {chr(av)}
    if op is _parser.IN and all(o is _parser.LITERAL for o, _ in av):
        return {chr(a) for _, a in av}
    if op is _parser.BRANCH:
        strings = set()
        for branch in av[1]:
            run = {""}
            for item in branch:
                if (options := _literals(*item)) is None:
                    return None
                run = {r + o for r in run for o in options}
            strings |= run
        return strings
    return None


# What a phrase puts around its words: (?<!\w) before, (?!\w) after, [\s-]+ between.
WORD = [(_parser.IN, [(_parser.CATEGORY, _parser.CATEGORY_WORD)])]
SEPARATOR = [(_parser.IN, [(_parser.CATEGORY, _parser.CATEGORY_SPACE), (_parser.LITERAL, ord("-"))])]
REPEATS = (_parser.MAX_REPEAT, _parser.MIN_REPEAT, _parser.POSSESSIVE_REPEAT)


def _bounds(op, av, side: int) -> bool:
    """Whether an item leaves no \\w next to it on `side` in any text it matches: -1, just before
    where it ends ((?<!\\w), [\\s-]+); 1, just after where it starts ((?!\\w), [\\s-]+)."""
    if op is _parser.ASSERT_NOT:
        return av[0] == side and list(av[1]) == WORD
    return op in REPEATS and av[0] >= 1 and list(av[2]) == SEPARATOR


def _needle(run: str, flags: int, word: bool) -> Needle:
    ignore_case = bool(flags & re.IGNORECASE)
    text = fold(run) if ignore_case else run
    # Under re.ASCII \\w is ASCII only, so its boundaries are not those of the words found in the text.
    word = word and not flags & re.ASCII and WORD_RUN.fullmatch(text) is not None
    return Needle(text, raw=not ignore_case, word=word)


def _clauses(items, flags: int) -> list[frozenset[Needle]]:
    r"""What every match of a parsed regex contains: each run of literals as the set of the strings
    it can be (a few, from [classes] and (alternatives) of literals), and for other alternatives
    the set of one run from each; only where every string has 2 characters or more. A run between
    (?<!\w) or [\s-]+ and (?!\w) or [\s-]+ is a word; case-sensitive runs are looked for unfolded."""
    clauses, run, after_bound = [], {""}, False
    for op, av in [*items, (None, None)]:
        strings = _literals(op, av)
        if strings is not None and len(longer := {r + s for r in run for s in strings}) <= 16:
            run = longer
            continue
        word = after_bound and _bounds(op, av, 1)
        needles = frozenset(_needle(r, flags, word) for r in run)
        if min(len(n.text) for n in needles) >= 2:
            clauses.append(needles)
        run = strings or {""}
        after_bound = strings is None and _bounds(op, av, -1)
        if op is _parser.SUBPATTERN:
            clauses += _clauses(av[3], (flags | av[1]) & ~av[2])
        elif op is _parser.ATOMIC_GROUP:
            clauses += _clauses(av, flags)
        elif op in REPEATS and av[0] >= 1:
            clauses += _clauses(av[2], flags)
        elif op is _parser.BRANCH and strings is None:
            best = [max(_clauses(b, flags), key=lambda c: min(len(n.text) for n in c), default=None) for b in av[1]]
            if all(best):
                clauses.append(frozenset().union(*best))
    return clauses


def _needles(source: str, flags: int) -> tuple[frozenset[Needle], ...] | None:
    try:
        parsed = _parser.parse(source, flags)
        return tuple(_clauses(parsed, parsed.state.flags)) or None
    except Exception:  # a private API: whatever it does, that alternative always runs
        return None


def _scan(sources: list[str], flags: int = 0) -> Scan:
    return Scan(
        alternatives=tuple(f"(?P<a{i}>{source})" for i, source in enumerate(sources)),
        needles=tuple(_needles(source, flags) for source in sources),
        flags=flags,
    )


@dataclass(frozen=True)
class Topic:
    name: str
    threshold: float
    title_weight: float
    terms: tuple[Term, ...]
    matcher: Scan  # alternative i is terms[i]
    context: Scan | None
    veto: Scan | None


@dataclass(frozen=True)
class Taxonomy:
    version: str
    topics: tuple[Topic, ...]


def phrase_regex(text: str) -> str:
    """A phrase on word boundaries; inner spaces and hyphens match any run of either."""
    words = [re.escape(w) for w in re.split(r"[\s-]+", text.strip()) if w]
    return r"(?<!\w)" + r"[\s-]+".join(words) + r"(?!\w)"


def _alternation(items: list, where: str) -> Scan | None:
    """Context or veto entries: phrases (strings) or `{pattern: regex}`, one case-insensitive alternation."""
    if not items:
        return None
    sources = []
    for item in items:
        if isinstance(item, str) and item.strip():
            sources.append((len(item), phrase_regex(item)))
        elif isinstance(item, dict) and set(item) == {"pattern"} and isinstance(item["pattern"], str):
            try:
                re.compile(item["pattern"])
            except re.error as exc:
                raise TaxonomyError(f"{where}: bad pattern {item['pattern']!r}: {exc}") from None
            sources.append((len(item["pattern"]), rf"(?<!\w)(?:{item['pattern']})(?!\w)"))
        else:
            raise TaxonomyError(f"{where}: an entry is a non-empty phrase or {{pattern: regex}}, not {item!r}")
    return _scan([src for _, src in sorted(sources, key=lambda s: s[0], reverse=True)], re.IGNORECASE)


def _term(entry, kind: str, where: str) -> tuple[Term, str]:
    if isinstance(entry, str):
        entry = {"text": entry} if kind == "phrases" else {"pattern": entry}
    if not isinstance(entry, dict):
        raise TaxonomyError(f"{where}: an entry must be a string or a mapping, not {entry!r}")
    allowed = PHRASE_KEYS if kind == "phrases" else PATTERN_KEYS
    unknown = set(entry) - allowed
    if unknown:
        raise TaxonomyError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    label = entry.get("text" if kind == "phrases" else "pattern")
    if not isinstance(label, str) or not label.strip():
        raise TaxonomyError(f"{where}: missing {'text' if kind == 'phrases' else 'pattern'}")
    source = phrase_regex(label) if kind == "phrases" else label
    try:
        re.compile(source)
    except re.error as exc:
        raise TaxonomyError(f"{where}: bad pattern {label!r}: {exc}") from None
    flags = "" if entry.get("case_sensitive") else "(?i:"
    regex = f"{flags}{source})" if flags else f"(?:{source})"
    weight = float(entry.get("weight", 1.0))
    return Term(label, weight, bool(entry.get("ambiguous", False))), regex


def _topic(name: str, spec, where: str) -> Topic:
    if not isinstance(name, str) or not NAME.match(name):
        raise TaxonomyError(f"{where}: topic name {name!r} must be lower-case letters, digits, - or _")
    if not isinstance(spec, dict):
        raise TaxonomyError(f"{where}: topic {name!r} must be a mapping")
    unknown = set(spec) - TOPIC_KEYS
    if unknown:
        raise TaxonomyError(f"{where}: topic {name!r}: unknown key(s) {sorted(unknown)}; allowed: {sorted(TOPIC_KEYS)}")
    if "threshold" not in spec:
        raise TaxonomyError(f"{where}: topic {name!r}: missing threshold")
    pairs = []
    for kind in ("phrases", "patterns"):
        for i, entry in enumerate(spec.get(kind) or []):
            pairs.append(_term(entry, kind, f"{where}: topic {name!r} {kind}[{i}]"))
    if not pairs:
        raise TaxonomyError(f"{where}: topic {name!r} has no phrases or patterns")
    # Longest first, so "spy balloon" wins over "balloon" where both would match.
    pairs.sort(key=lambda p: len(p[0].label), reverse=True)
    return Topic(
        name=name,
        threshold=float(spec["threshold"]),
        title_weight=float(spec.get("title_weight", 2.0)),
        terms=tuple(t for t, _ in pairs),
        matcher=_scan([rx for _, rx in pairs]),
        context=_alternation(list(spec.get("context") or []), f"{where}: topic {name!r} context"),
        veto=_alternation(list(spec.get("veto") or []), f"{where}: topic {name!r} veto"),
    )


def load_taxonomy(path: str | Path) -> Taxonomy:
    where = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise TaxonomyError(f"{where}: cannot read: {exc}") from None
    except UnicodeDecodeError as exc:
        raise TaxonomyError(f"{where}: not UTF-8 text: {exc}") from None
    except (yaml.YAMLError, RecursionError) as exc:  # RecursionError: `[[[[…` nested thousands deep
        raise TaxonomyError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("topics"), dict) or not data["topics"]:
        raise TaxonomyError(f"{where}: expected a mapping with `version` and a non-empty `topics` mapping")
    if "version" not in data:
        raise TaxonomyError(f"{where}: missing version")
    _check_values(data, where)
    topics = tuple(_topic(name, spec, where) for name, spec in data["topics"].items())
    return Taxonomy(version=str(data["version"]), topics=topics)


def _check_values(data: dict, where: str) -> None:
    """What the compiler above takes for granted, checked first: a mistake in the file is a
    TaxonomyError naming it, never a TypeError or OverflowError from deep inside (found by the
    property tests, tests/unit/test_properties.py)."""
    version = data["version"]
    if not isinstance(version, (str, int, float)) or isinstance(version, bool) or not str(version).strip():
        raise TaxonomyError(f"{where}: version must be a non-empty string or number, not {version!r}")
    for name, spec in data["topics"].items():
        if not isinstance(spec, dict):
            continue  # _topic says what is wrong
        at = f"{where}: topic {name!r}"
        for key in ("threshold", "title_weight"):
            if key in spec:
                _check_number(spec[key], f"{at} {key}", positive=key == "threshold")
        for key in ("phrases", "patterns", "context", "veto"):
            items = spec.get(key)
            if items is None:
                continue
            if not isinstance(items, list):
                raise TaxonomyError(f"{at} {key}: a list, not {type(items).__name__} {items!r}")
            for i, item in enumerate(items):
                if isinstance(item, dict) and "weight" in item:
                    _check_number(item["weight"], f"{at} {key}[{i}] weight")
                pattern = item.get("pattern") if isinstance(item, dict) else item if key == "patterns" else None
                if isinstance(pattern, str):
                    _check_pattern(pattern, f"{at} {key}[{i}]")


def _check_number(value, where: str, positive: bool = False) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise TaxonomyError(f"{where}: a number, not {value!r}")
    if positive and value <= 0:
        raise TaxonomyError(f"{where}: must be above 0 (at 0 every article would get the tag), not {value!r}")


def _check_pattern(pattern: str, where: str) -> None:
    """A pattern compiles inside the topic's one alternation, and it can be told apart there."""
    try:
        compiled = re.compile(f"(?:{pattern})")
    except (re.error, OverflowError, RecursionError) as exc:  # `a{99999999999}` overflows
        raise TaxonomyError(f"{where}: bad pattern {pattern!r}: {exc}") from None
    if compiled.groups:
        # The tagger finds which term matched by its group in the alternation; groups of
        # a pattern's own would shift the numbering and credit the wrong term.
        raise TaxonomyError(f"{where}: pattern {pattern!r} has a capturing group: write (?:...) instead of (...)")
    if compiled.fullmatch(""):
        raise TaxonomyError(f"{where}: pattern {pattern!r} matches empty text")
