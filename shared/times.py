"""Times as the user writes them and as newsflow shows them, in one place: `--since`, `--from`,
`--to` and `--until` of every command, and the publication times the sink indexes."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)$")


def parse_when(text: str, now: float, *, end: bool = False) -> float:
    """Epoch seconds from `2024-05-01`, `2024-05-01T12:00[+02:00]` (no zone: UTC) or `36h` ago.

    Units of a relative time: s, m or min, h, d, w. A bare date is the start of that day (UTC),
    or with end=True the start of the next one, so `--until 2024-05-01` includes the whole day.
    """
    value = text.strip()
    relative = RELATIVE.match(value.lower())
    if relative:
        return now - float(relative[1]) * UNITS[relative[2]]
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        return (start + timedelta(days=1) if end else start).timestamp()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"cannot read {text!r} as a time: use 2024-05-01, 2024-05-01T12:00 (UTC unless a zone "
            "like +02:00 is given) or a span back from now like 90m, 36h, 7d, 2w"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def iso_to_epoch(value: str | None) -> float | None:
    """Epoch seconds of an ISO 8601 publication time (no zone: UTC); None if unreadable."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)  # Python 3.11 reads "Z" and most of ISO 8601
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def show(ms: int | None) -> str:
    """Epoch milliseconds as ISO 8601 UTC to the second ("-" for none)."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
