"""Topic tags for an article's title and clean text. Pure: no Kafka, no I/O."""
from __future__ import annotations

import dataclasses
import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from collections import Counter
from dataclasses import dataclass, field

from services.tagger.taxonomy import Taxonomy, Topic, fold
from shared.schema import Article, Tag

SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+|\n+")
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# How far from a match its sentence is looked for, each way: the work per match stays bounded
# ("balloon " 5,000 times with no sentence end took 80 s when the whole text was the sentence).
MAX_SENTENCE_CHARS = 600


@dataclass
class TopicVerdict:
    """Why a topic was or was not tagged: what `newsflow explain` prints."""

    name: str
    score: float
    threshold: float
    evidence: list[dict] = field(default_factory=list)
    vetoed: list[dict] = field(default_factory=list)
    lacking_context: list[dict] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        return self.score >= self.threshold


def _sentence_bounds(text: str, pos: int) -> tuple[int, int]:
    start = max(0, pos - MAX_SENTENCE_CHARS)
    for m in SENTENCE_END.finditer(text, start, pos):
        start = m.end()
    end_match = SENTENCE_END.search(text, pos, pos + MAX_SENTENCE_CHARS)
    return start, end_match.start() if end_match else min(len(text), pos + MAX_SENTENCE_CHARS)


def _paragraph_of(text: str) -> callable:
    breaks = [m.start() for m in PARAGRAPH_BREAK.finditer(text)]
    return lambda pos: bisect_left(breaks, pos)  # the breaks before pos, in log time


def _context_within(contexts: list[re.Match], s: int, e: int, start: int, end: int) -> re.Match | None:
    """The first context match inside the sentence [s, e) that is not the ambiguous word [start, end)."""
    i = bisect_left(contexts, s, key=re.Match.start)
    while i < len(contexts) and contexts[i].start() < e:
        context = contexts[i]
        if context.end() <= e and not (context.start() < end and context.end() > start):
            return context
        i += 1
    return None


def _overlapping(spans: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """The first of `spans` (sorted, not overlapping: finditer's) that overlaps [start, end)."""
    i = bisect_right(spans, start, key=lambda span: span[1])  # the first that ends after start
    return spans[i] if i < len(spans) and spans[i][0] < end else None


def _judge(topic: Topic, text: str, folded: str, where: str, verdict: TopicVerdict, repeats: Counter) -> None:
    matches = list(topic.matcher.finditer(text, folded))
    if not matches:  # most texts: the vetoes and paragraphs need not be looked for
        return
    vetoes = [m.span() for m in topic.veto.finditer(text, folded)] if topic.veto else []
    paragraph = _paragraph_of(text)
    vetoed_paragraphs: set[int] = set()
    contexts: list[re.Match] | None = None
    for match in matches:
        term = topic.terms[topic.matcher.which(match)]
        start, end = match.span()
        item = {"phrase": match.group(), "where": where, "pos": start}
        veto = _overlapping(vetoes, start, end)
        if veto:
            item["veto"] = text[veto[0]:veto[1]]
            verdict.vetoed.append(item)
            vetoed_paragraphs.add(paragraph(start))
            continue
        # "a weather balloon ... the balloon burst": an ambiguous word soon after a vetoed
        # phrase (same or next paragraph) is taken to mean the same thing.
        if term.ambiguous and {paragraph(start), paragraph(start) - 1} & vetoed_paragraphs:
            item["veto"] = "(refers to a vetoed mention before it)"
            verdict.vetoed.append(item)
            continue
        if term.ambiguous:
            if contexts is None:  # found once per text, not searched again for every ambiguous match
                contexts = list(topic.context.finditer(text, folded)) if topic.context else []
            context = _context_within(contexts, *_sentence_bounds(text, start), start, end)
            if not context:
                verdict.lacking_context.append(item)
                continue
            item["context"] = context.group()
        repeats[term.label] += 1
        weight = term.weight / repeats[term.label]
        verdict.score += weight * (topic.title_weight if where == "title" else 1.0)
        verdict.evidence.append(item)


def explain(title: str | None, text: str, taxonomy: Taxonomy) -> list[TopicVerdict]:
    verdicts = []
    folded_title, folded_text = fold(title or ""), fold(text)
    for topic in taxonomy.topics:
        verdict = TopicVerdict(topic.name, 0.0, topic.threshold)
        repeats: Counter = Counter()
        if title:
            _judge(topic, title, folded_title, "title", verdict, repeats)
        _judge(topic, text, folded_text, "body", verdict, repeats)
        verdict.score = round(verdict.score, 4)
        verdicts.append(verdict)
    return verdicts


def tag_text(title: str | None, text: str, taxonomy: Taxonomy) -> list[Tag]:
    return [Tag(v.name, v.score, v.evidence) for v in explain(title, text, taxonomy) if v.matched]


def tag_article(article: Article, taxonomy: Taxonomy) -> Article:
    text = article.text if article.text is not None else article.content
    return dataclasses.replace(
        article, tags=tag_text(article.title, text, taxonomy), taxonomy_version=taxonomy.version
    )


def routes(settings, article: Article) -> list[str]:
    """Where a tagged article goes: news.tagged, and news.topic.<tag> for each of its tags."""
    return [settings.tagged_topic] + [settings.tag_topic(t.name) for t in article.tags]


def transform(settings, taxonomy: Taxonomy | Callable[[], Taxonomy] | None = None, **_context):
    """The tagger's step (shared/pipeline/topology.py): tag, then one output per route.

    `taxonomy` is a Taxonomy, a function returning the live one (the tagger reloads it), or
    None to load NEWSFLOW_TAXONOMY_FILE."""
    if taxonomy is None:
        from services.tagger.taxonomy import load_taxonomy

        taxonomy = load_taxonomy(settings.taxonomy_file)
    current = taxonomy if callable(taxonomy) else (lambda: taxonomy)

    def outputs(article: Article) -> list[tuple[str, Article]]:
        tagged = tag_article(article, current())
        return [(name, tagged) for name in routes(settings, tagged)]

    return outputs
