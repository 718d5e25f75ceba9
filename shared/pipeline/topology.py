"""The pipeline's shape, declared once: its topics, its stages and what each reads and writes.

The supervisor (which services run, which scale, which groups to wait on), replay (a stage's
input and group), status (which services to scrape), the CLI's choices, topic creation and
the bench all read this; adding a stage or renaming a topic is done here.

    poller -> raw -> cleaner -> clean -> tagger -> tagged (+ topic.<tag> per tag) -> sink -> store
                     every stage -> dlq
"""
from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass

# Topic names under NEWSFLOW_TOPIC_PREFIX (Settings.topic() adds the prefix).
RAW, CLEAN, TAGGED, DLQ = "raw", "clean", "tagged", "dlq"
DLQ_REPLAYED = "dlq.replayed"  # which letters `newsflow dlq replay` sent back
TAG_TOPIC = "topic.{tag}"  # one per taxonomy tag


@dataclass(frozen=True)
class Stage:
    name: str
    input: str  # topic name
    outputs: tuple[str, ...]  # topic names; the sink writes to its store instead
    per_tag_outputs: bool  # also writes topic.<tag> for each tag an article carries
    scales: bool  # several workers may share its consumer group
    transform: str  # "module:function": function(settings, **context) -> the stage's pure Transform

    def load_transform(self, settings, **context):
        module, function = self.transform.split(":")
        return getattr(importlib.import_module(module), function)(settings, **context)


STAGES: tuple[Stage, ...] = (
    Stage("cleaner", RAW, (CLEAN,), per_tag_outputs=False, scales=True,
          transform="services.cleaner.clean:transform"),
    Stage("tagger", CLEAN, (TAGGED,), per_tag_outputs=True, scales=True,
          transform="services.tagger.tag:transform"),
    Stage("sink", TAGGED, (), per_tag_outputs=False, scales=True,
          transform="shared.pipeline.step:keep_for_store"),
)
STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)
PRODUCER = "poller"  # publishes to RAW; one process, no consumer group
SERVICES: tuple[str, ...] = (PRODUCER, *STAGE_NAMES)  # what `newsflow run` runs, in start order


def stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise ValueError(f"no stage {name!r} (stages: {', '.join(STAGE_NAMES)})")


def input_topic(settings, name: str) -> str:
    return settings.topic(stage(name).input)


def service_topics(settings, service: str, tags: Iterable[str] = ()) -> list[str]:
    """The topics a service reads or writes (what it waits for at start and watches)."""
    if service == PRODUCER:
        return [settings.topic(RAW), settings.topic(DLQ)]
    s = stage(service)
    names = [s.input, *s.outputs, DLQ]
    topics = [settings.topic(n) for n in names]
    if s.per_tag_outputs:
        topics += [settings.topic(TAG_TOPIC.format(tag=t)) for t in tags]
    return topics


def pipeline_topics(settings, tags: Iterable[str] = ()) -> list[str]:
    """Every topic the pipeline needs, the tags' own included."""
    names = [RAW, *(n for s in STAGES for n in s.outputs), DLQ]
    return [settings.topic(n) for n in dict.fromkeys(names)] + [settings.topic(TAG_TOPIC.format(tag=t)) for t in tags]


def downstream_of(topic_name: str) -> tuple[str, ...]:
    """The stages a message published to `topic_name` goes through, in order."""
    names, reached = [], {topic_name}
    for s in STAGES:
        if s.input in reached:
            names.append(s.name)
            reached.update(s.outputs)
    return tuple(names)


def drain_checks() -> tuple[tuple[str, str], ...]:
    """(stage, input topic name) pairs: the pipeline is drained when each group is at its end."""
    return tuple((s.name, s.input) for s in STAGES)
