"""What `newsflow status` says, computed from two scrapes of each process's /metrics (pure)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from shared.pipeline.topology import PRODUCER, SERVICES
from shared import metric_names as names

STAGES = SERVICES  # a line per service, in flow order
Samples = dict[str, list[tuple[dict[str, str], float]]]  # metric name -> [(labels, value)]


def parse(text: str) -> Samples:
    samples: Samples = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name].append((sample.labels, sample.value))
    return samples


def total(samples: Samples, name: str, **match: str) -> float | None:
    values = [v for labels, v in samples.get(name, []) if all(labels.get(k) == w for k, w in match.items())]
    return sum(values) if values else None


@dataclass
class Scrape:
    """One endpoint: `before` and `after` are parsed scrapes `seconds` apart (after=None: no answer)."""

    url: str
    name: str
    before: Samples | None
    after: Samples | None
    seconds: float
    error: str = ""

    @property
    def stage(self) -> str:
        for labels, _ in (self.after or {}).get(names.BUILD_INFO, []):
            return labels.get("stage", self.name)
        return self.name

    def rate(self, name: str) -> float | None:
        if self.before is None or self.after is None or self.seconds <= 0:
            return None
        start, end = total(self.before, name), total(self.after, name)
        if start is None or end is None:
            return None
        return max(0.0, end - (start if end >= start else 0.0)) / self.seconds  # a restart resets counters


@dataclass
class StageLine:
    stage: str
    up: int = 0
    endpoints: int = 0
    in_rate: float | None = None
    out_rate: float | None = None
    lag_messages: float | None = None
    lag_seconds: float | None = None
    failed: float = 0.0
    last_error: tuple[str, float] | None = None  # reason, when
    down: list[str] = field(default_factory=list)


def _add(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else a + b


def stage_lines(scrapes: list[Scrape]) -> list[StageLine]:
    lines: dict[str, StageLine] = {s: StageLine(s) for s in STAGES}
    for scrape in scrapes:
        line = lines.setdefault(scrape.stage, StageLine(scrape.stage))
        line.endpoints += 1
        if scrape.after is None:
            line.down.append(f"{scrape.url} ({scrape.error})")
            continue
        line.up += 1
        after = scrape.after
        line.in_rate = _add(line.in_rate, scrape.rate(names.MESSAGES_IN))
        line.out_rate = _add(line.out_rate, scrape.rate(names.MESSAGES_OUT))
        line.lag_messages = _add(line.lag_messages, total(after, names.CONSUMER_LAG_MESSAGES))
        seconds = total(after, names.CONSUMER_LAG_SECONDS)
        if seconds is not None:
            line.lag_seconds = max(line.lag_seconds or 0.0, seconds)
        line.failed += total(after, names.MESSAGES_FAILED) or 0.0
        for labels, when in after.get(names.LAST_FAILURE, []):
            if line.last_error is None or when > line.last_error[1]:
                line.last_error = (labels.get("reason", "?"), when)
    return [line for line in lines.values() if line.endpoints]


@dataclass
class FeedHealth:
    states: dict[str, float]
    failing: list[tuple[str, float, float | None]]  # feed, errors in a row, last success


def feed_health(scrapes: list[Scrape]) -> FeedHealth | None:
    pollers = [s.after for s in scrapes if s.after is not None and s.stage == PRODUCER]
    if not pollers:
        return None
    states: dict[str, float] = defaultdict(float)
    failing = []
    for samples in pollers:
        for labels, value in samples.get(names.POLLER_FEEDS, []):
            states[labels.get("state", "?")] += value
        last_ok = {labels.get("feed"): v for labels, v in samples.get(names.POLLER_LAST_SUCCESS, [])}
        for labels, errors in samples.get(names.POLLER_FEED_ERRORS, []):
            if errors > 0:
                failing.append((labels.get("feed", "?"), errors, last_ok.get(labels.get("feed"))))
    return FeedHealth(dict(states), sorted(failing, key=lambda f: (-f[1], f[0])))


def age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def render(lines: list[StageLine], feeds: FeedHealth | None, now: float) -> str:
    out = [f"{'stage':<8} {'up':>4} {'in/s':>8} {'out/s':>8} {'lag':>7} {'lag s':>7} {'failed':>7}  last error"]
    for line in lines:
        if line.last_error:
            error = f"{line.last_error[0]}, {age(now - line.last_error[1])} ago"
        else:
            error = "-"
        if line.down:
            error = "DOWN " + "; ".join(line.down) + ("" if error == "-" else f"; last error {error}")
        out.append(
            f"{line.stage:<8} {f'{line.up}/{line.endpoints}':>4} {_num(line.in_rate, '.1f'):>8} "
            f"{_num(line.out_rate, '.1f'):>8} {_num(line.lag_messages, '.0f'):>7} {_num(line.lag_seconds, '.1f'):>7} "
            f"{_num(line.failed if line.up else None, '.0f'):>7}  {error}"
        )
    if feeds is not None:
        counts = ", ".join(f"{n:.0f} {state}" for state, n in sorted(feeds.states.items())) or "none polled yet"
        out.append(f"feeds: {counts}")
        for feed, errors, last_ok in feeds.failing:
            since = f"last success {age(now - last_ok)} ago" if last_ok else "never fetched successfully"
            out.append(f"  failing: {feed}: {errors:.0f} failed fetches in a row, {since}")
    return "\n".join(out)
