"""One `--once` poll of the real Poller in a process of its own, reporting what it cost.

    python -m tests.integration.hostile_poll URL [URL...]     (settings from NEWSFLOW_* variables)

prints one JSON object: the seconds the poll took, the peak resident memory (MB) of this process
(fetching, publishing) and of its parser processes (feedparser), the poller's non-zero metric
samples and each feed's state row. A process of its own, so the peaks are this poll's alone.

Peaks are VmHWM from /proc, not getrusage: Linux carries ru_maxrss across exec, so a process
started by a big pytest would report pytest's peak. A parser process is read every 20 ms while
it lives (a high-water mark: any read after the peak sees it; one killed at its memory cap
shows its last reading).
"""
from __future__ import annotations

import asyncio
import json
import sys
import threading
import time

from prometheus_client import CollectorRegistry

from services.poller.feeds import Feed
from services.poller.main import Poller
from services.poller.state import PollerState
from shared.config import Settings


def poll(settings: Settings, urls: list[str]) -> dict:
    feeds = [Feed(name=f"feed{i}", url=url) for i, url in enumerate(urls)]
    registry = CollectorRegistry()

    parser_peak = {"kb": 0}
    done = threading.Event()

    async def go() -> None:
        poller = Poller(settings, registry)
        sampler = threading.Thread(target=_sample_parsers, args=(poller, parser_peak, done), daemon=True)
        sampler.start()
        try:
            await poller.run(feeds, once=True)
        finally:
            done.set()
            sampler.join()
            poller.close()

    started = time.perf_counter()
    asyncio.run(go())
    seconds = time.perf_counter() - started
    metrics = {
        sample.name + json.dumps(sample.labels, sort_keys=True): sample.value
        for family in registry.collect() for sample in family.samples if sample.value
    }
    state = PollerState(settings.data_dir / "poller.db")
    try:
        feeds_state = {f.url: state.health(f.url) or {} for f in feeds}
    finally:
        state.close()
    return {
        "seconds": seconds,
        "poller_peak_mb": _high_water_kb("self") / 1024,
        "parser_peak_mb": parser_peak["kb"] / 1024,
        "metrics": metrics,
        "feeds": feeds_state,
    }


def _sample_parsers(poller: Poller, peak: dict, done: threading.Event) -> None:
    while True:
        pool = poller.parse_pool
        for pid in list((getattr(pool, "_processes", None) or {}).keys()):
            peak["kb"] = max(peak["kb"], _high_water_kb(pid))
        if done.wait(0.02):
            return


def _high_water_kb(pid) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:  # it has just exited
        pass
    return 0


if __name__ == "__main__":
    print(json.dumps(poll(Settings(), sys.argv[1:]), default=str))
