"""Progress of long work on stderr: a bar on a terminal, a line a second otherwise; both show the rate."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24


class Progress:
    def __init__(
        self, label: str, total: int | None, unit: str, *, rate_unit: str | None = None,
        stream: TextIO | None = None, interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic,
    ):
        self.label, self.total, self.unit = label, total, unit
        self.rate_unit = rate_unit or unit
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval_s = interval_s if not self.tty else min(interval_s, 0.2)
        self.clock = clock
        self.started = clock()
        self.last_shown = float("-inf")
        self.last_done = -1
        self.done = 0  # units of `total` (files, messages)
        self.counted = 0  # what the rate counts (articles)

    def advance(self, done: int = 1, counted: int | None = None) -> None:
        self.done += done
        self.counted += done if counted is None else counted
        if self.clock() - self.last_shown >= self.interval_s:
            self._show()

    def rate(self) -> float:
        elapsed = self.clock() - self.started
        return self.counted / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = f"{self.rate():,.0f} {self.rate_unit}/s"
        if not self.total:
            return f"{self.label}: {self.done:,} {self.unit}, {rate}"
        share = min(1.0, self.done / self.total)
        text = f"{self.label}: {self.done:,}/{self.total:,} {self.unit} ({share:.0%}), {rate}"
        if self.tty:
            filled = int(share * BAR_WIDTH)
            text = f"{self.label} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] " + text.split(": ", 1)[1]
        return text

    def _show(self) -> None:
        self.last_shown, self.last_done = self.clock(), self.done
        if self.tty:
            self.stream.write("\r" + self.line() + "\x1b[K")
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def finish(self) -> float:
        """Show the final state (unless just shown); returns the seconds it took."""
        if self.done != self.last_done or self.tty:
            self._show()
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
        return self.clock() - self.started
