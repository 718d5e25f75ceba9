"""The dead-letter limit: a stage that dead-letters most of what it reads stops and says why.

After a bad deploy every message may fail; dead-lettering all traffic would empty the stage
into the DLQ while looking healthy. In the spirit of arroyo's DlqLimit, past a run of
consecutive letters, or past a ratio of letters over the last `window` messages, the stage
raises DeadLetterLimit before it commits, and exits with EX_DATAERR, which `newsflow run`
reports rather than restarting the stage.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field



class DeadLetterLimit(RuntimeError):
    """Too many letters: the stage stops without committing."""


@dataclass
class DlqLimit:
    max_consecutive: int = 100
    max_ratio: float = 0.5
    window: int = 1000
    consecutive: int = 0
    recent: deque = field(default_factory=deque)  # the last `window` outcomes, True for a letter
    letters: int = 0  # how many of `recent` are letters, kept as they come and go

    def record(self, dead: bool) -> None:
        """Count one message; raise DeadLetterLimit once a limit is passed."""
        self.consecutive = self.consecutive + 1 if dead else 0
        self.recent.append(dead)
        self.letters += dead
        if len(self.recent) > self.window:
            self.letters -= self.recent.popleft()
        if self.max_consecutive and self.consecutive >= self.max_consecutive:
            raise DeadLetterLimit(
                f"{self.consecutive} messages in a row dead-lettered (NEWSFLOW_DLQ_MAX_CONSECUTIVE="
                f"{self.max_consecutive}); stopping rather than dead-lettering all traffic"
            )
        seen = len(self.recent)
        if self.max_ratio < 1 and seen >= self.window and self.letters / seen > self.max_ratio:
            raise DeadLetterLimit(
                f"{self.letters} of the last {seen} messages dead-lettered, over the ratio "
                f"{self.max_ratio:g} (NEWSFLOW_DLQ_MAX_RATIO); stopping rather than dead-lettering all traffic"
            )

    @classmethod
    def from_settings(cls, settings) -> "DlqLimit":
        return cls(max_consecutive=settings.dlq_max_consecutive, max_ratio=settings.dlq_max_ratio)
