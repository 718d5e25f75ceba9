"""Times as replay prints them. TIME arguments are read by services/sink/search.py:parse_when,
the same way as `newsflow articles --since`: ISO 8601 (no zone: UTC) or a span back from now."""
from __future__ import annotations

from datetime import datetime, timezone


def show(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
