"""One record through a stage's pure transform: its outputs, or its dead letter.

Used unchanged by the Faust stages (shared/stream.py), the sink and `replay --to`, so the
size limit, the schema checks and the letter's shape are the same wherever a record is handled.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shared.schema import Article, BadMessage, DeadLetter, decode

# Where a stage sends an article: (topic, article) pairs. The sink's only "topic" is its store.
Outputs = Sequence[tuple[str, Article]]
Transform = Callable[[Article], Outputs]
STORE = "(store)"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record was read: what a dead letter needs to point back at it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None = None

    @classmethod
    def of(cls, record) -> "Origin":
        """Where a kafka-python ConsumerRecord was read."""
        return cls(record.topic, record.partition, record.offset, record.key)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a step made of one record: outputs, or a letter (with its reason's kind)."""

    outputs: tuple[tuple[str, Article], ...] = ()
    letter: DeadLetter | None = None
    kind: str = ""

    @property
    def dead(self) -> bool:
        return self.letter is not None


def step(stage: str, value: bytes | None, origin: Origin, transform: Transform, max_bytes: int) -> Outcome:
    """Decode (size limit and schema checks), transform, and say what to send.

    Any exception from decoding or from the transform is this input's fault and becomes a
    letter; the letter keeps the start of an original over `max_bytes`."""
    try:
        return Outcome(outputs=tuple(transform(decode(value, max_bytes))))
    except Exception as exc:  # noqa: BLE001 - any failure on this input is this input's fault
        kind = exc.kind if isinstance(exc, BadMessage) else type(exc).__name__
        original = value if isinstance(value, bytes) else b"" if value is None else str(value).encode()
        letter = DeadLetter(
            stage=stage, reason=f"{kind}: {exc}", original=original, topic=origin.topic,
            partition=origin.partition, offset=origin.offset, key=origin.key,
        ).bounded(max_bytes)
        return Outcome(letter=letter, kind=kind)


def log_letter(letter: DeadLetter) -> None:
    """What every stage says when it dead-letters a message."""
    log.warning("dead-lettering %s[%d]@%d: %s", letter.topic, letter.partition, letter.offset, letter.reason)


def keep_for_store(_settings=None, **_context) -> Transform:
    """The sink's transform: each article, as decoded, goes to the store."""
    return lambda article: [(STORE, article)]
