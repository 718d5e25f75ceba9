"""Politeness: a global cap on fetches, and per host a cap and a minimum gap between requests."""
from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from urllib.parse import urlparse


class HostGate:
    """At most `concurrency` requests to one host at once, `min_gap_s` apart."""

    def __init__(self, concurrency: int, min_gap_s: float):
        self.slots = asyncio.Semaphore(concurrency)
        self.turn = asyncio.Lock()
        self.min_gap_s = min_gap_s
        self.last = 0.0

    @asynccontextmanager
    async def slot(self):
        async with self.slots:
            if self.min_gap_s:
                async with self.turn:
                    wait = self.last + self.min_gap_s - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    self.last = time.monotonic()
            yield


class Hosts:
    def __init__(self, total: int, per_host: int, min_gap_s: float):
        self.fetch_slots = asyncio.Semaphore(total)
        self.per_host, self.min_gap_s = per_host, min_gap_s
        self.gates: dict[str, HostGate] = {}

    @asynccontextmanager
    async def gate(self, url: str):
        try:
            host = urlparse(url).hostname or ""
        except ValueError:  # an invalid URL: fetch() says so
            host = ""
        gate = self.gates.setdefault(host, HostGate(self.per_host, self.min_gap_s))
        async with self.fetch_slots:
            async with gate.slot():
                yield
