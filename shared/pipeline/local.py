"""Stages run in-process, no broker: records in, each topic's messages and the letters out.

For fast tests of multi-stage behaviour: the same step and transforms the stages run, chained
in the topology's order, each stage reading what the one before it wrote to its input topic.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from shared.pipeline import topology
from shared.pipeline.step import STORE, Origin, step
from shared.schema import Article, DeadLetter, encode


@dataclass
class LocalRun:
    topics: dict[str, list[Article]] = field(default_factory=lambda: defaultdict(list))  # by topic name
    letters: list[DeadLetter] = field(default_factory=list)

    @property
    def stored(self) -> list[Article]:
        return self.topics[STORE]


def run_locally(settings, raw: list[bytes], stages: tuple[str, ...] = topology.STAGE_NAMES, **context) -> LocalRun:
    """Feed `raw` (message values) to the input of the first of `stages` and run each in turn.

    `context` goes to each stage's transform factory (taxonomy= for the tagger)."""
    run = LocalRun()
    values = list(raw)
    for name in stages:
        declared = topology.stage(name)
        topic = settings.topic(declared.input)
        transform = declared.load_transform(settings, **context)
        for offset, value in enumerate(values):
            outcome = step(name, value, Origin(topic, 0, offset), transform, settings.max_message_bytes)
            if outcome.dead:
                run.letters.append(outcome.letter)
            for out_topic, article in outcome.outputs:
                run.topics[out_topic].append(article)
        # the next stage reads what this one wrote to its first output topic
        values = [encode(a) for a in run.topics[settings.topic(declared.outputs[0])]] if declared.outputs else []
    return run
