"""Topic tags for an article's title and clean text. Pure: no Kafka, no I/O."""
from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass, field

from services.tagger.taxonomy import Taxonomy, Topic
from shared.schema import Article, Tag

SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)]*\s+|\n+")
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


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
    start = 0
    for m in SENTENCE_END.finditer(text, 0, pos):
        start = m.end()
    end_match = SENTENCE_END.search(text, pos)
    return start, end_match.start() if end_match else len(text)


def _paragraph_of(text: str) -> callable:
    breaks = [m.start() for m in PARAGRAPH_BREAK.finditer(text)]
    return lambda pos: sum(1 for b in breaks if b < pos)


def _judge(topic: Topic, text: str, where: str, verdict: TopicVerdict, repeats: Counter) -> None:
    vetoes = [m.span() for m in topic.veto.finditer(text)] if topic.veto else []
    paragraph = _paragraph_of(text)
    vetoed_paragraphs: set[int] = set()
    for match in topic.matcher.finditer(text):
        term = topic.terms[match.lastindex - 1]
        start, end = match.span()
        item = {"phrase": match.group(), "where": where, "pos": start}
        veto = next(((vs, ve) for vs, ve in vetoes if vs < end and start < ve), None)
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
            s, e = _sentence_bounds(text, start)
            context = topic.context.search(text[s:e]) if topic.context else None
            # the ambiguous word itself does not count as its own context
            while context and s + context.start() < end and s + context.end() > start:
                context = topic.context.search(text[s:e], context.end())
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
    for topic in taxonomy.topics:
        verdict = TopicVerdict(topic.name, 0.0, topic.threshold)
        repeats: Counter = Counter()
        if title:
            _judge(topic, title, "title", verdict, repeats)
        _judge(topic, text, "body", verdict, repeats)
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
