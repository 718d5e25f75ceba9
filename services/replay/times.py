"""TIME arguments of replay and retag: ISO 8601 or relative to now (`30m`, `2h`, `7d`, `1w`)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class BadTime(ValueError):
    pass


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An aware datetime. Relative times count back from `now`; an ISO time without a zone
    is local time (as a user reading a clock means it)."""
    now = now or datetime.now(timezone.utc)
    match = RELATIVE.match(text)
    if match:
        amount, unit = float(match.group(1)), match.group(2).lower()
        return now - timedelta(**{UNITS[unit]: amount})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadTime(
            f"{text!r} is neither ISO 8601 (2024-05-01T10:00:00Z) nor relative (30m, 2h, 7d, 1w)"
        ) from None
    return when if when.tzinfo else when.astimezone()


def to_millis(when: datetime) -> int:
    """Kafka record timestamps are epoch milliseconds."""
    return int(when.timestamp() * 1000)


def show(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
