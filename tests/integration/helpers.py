"""Generated input and process probes for the integration tests."""
from __future__ import annotations

import os
import random
import re
import time
import urllib.request
from pathlib import Path

import orjson

WORDS = (
    "minister harbour council shipment election drought tariff satellite bridge vaccine "
    "reservoir parliament coastline budget festival railway senator regulator merger"
).split()


def write_jsonl(path: Path, n: int, *, words: int = 150, seed: int = 7) -> list[str]:
    """n generated articles of our own making, one JSON object per line; returns their URLs."""
    rng = random.Random(seed)
    urls = []
    with path.open("wb") as out:
        for i in range(n):
            url = f"https://example.org/generated/{i}"
            body = " ".join(rng.choice(WORDS) for _ in range(words)) + "."
            title = f"Generated report {i} on the {rng.choice(WORDS)}"
            out.write(orjson.dumps({"url": url, "title": title, "text": body}) + b"\n")
            urls.append(url)
    return urls


def started_pids(log_text: str) -> dict[str, tuple[int, int]]:
    """{service: (pid, metrics port)} from the supervisor's 'started' lines (the latest wins)."""
    found = {}
    for name, pid, port in re.findall(r"started ([\w-]+)\s+pid (\d+)\s+metrics http://[\d.]+:(\d+)/", log_text):
        found[name] = (int(pid), int(port))
    return found


def ask_for_stacks(log_text: str) -> None:
    """Make every service `newsflow run` started (by its log) write its threads' stacks to that
    log (shared/procs.py): for a failure, what a stage that went quiet is waiting in."""
    from shared.procs import STACKS_SIGNAL

    for pid, _port in started_pids(log_text).values():
        try:
            os.kill(pid, STACKS_SIGNAL)
        except ProcessLookupError:
            pass


def tail_and_stacks(log_text: str, tail_chars: int = 6000) -> str:
    """The last `tail_chars` of a log before the first stack in it, and every stack after."""
    first = re.search(r"^(Current thread|Thread) 0x", log_text, re.MULTILINE)
    if first is None:
        return log_text[-tail_chars:]
    return log_text[:first.start()][-tail_chars:] + log_text[first.start():]


def metric_value(port: int, name: str, timeout_s: float = 1.0) -> float | None:
    """Sum of every sample of `name` on a process's /metrics (None if it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    total = None
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return total


def wait_until(predicate, timeout_s: float, interval_s: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise TimeoutError(f"{what} not reached within {timeout_s}s")
