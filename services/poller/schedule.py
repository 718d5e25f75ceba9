"""When to poll a feed next. Pure: the poller passes in what happened and the clock."""
from __future__ import annotations

import random
import re

MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)", re.IGNORECASE)


def max_age_s(cache_control: str | None) -> float | None:
    match = MAX_AGE.search(cache_control or "")
    return float(match.group(1)) if match else None


def next_delay(
    *,
    interval_s: float,
    error_count: int,
    max_backoff_s: float,
    retry_after_s: float | None = None,
    cache_max_age_s: float | None = None,
    ttl_s: float | None = None,
    jitter: float = 0.1,
    rng: random.Random | None = None,
) -> float:
    """Seconds until the next poll.

    Healthy: the feed's interval, raised to what the server asked for (Cache-Control max-age,
    RSS <ttl>), with ± jitter so feeds added together do not stay in lock-step. Failing:
    exponential backoff from the interval, capped, never giving up; a Retry-After wins when
    longer.
    """
    rng = rng or random
    if error_count > 0:
        delay = min(max_backoff_s, interval_s * 2 ** (error_count - 1))
    else:
        # A server's hint raises the interval, up to the backoff cap (a max-age of a year is not a plan).
        delay = max(interval_s, min(max_backoff_s, max(cache_max_age_s or 0.0, ttl_s or 0.0)))
    delay *= 1 + rng.uniform(-jitter, jitter)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return delay
