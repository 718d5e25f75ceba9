"""`newsflow status`: one line per stage (rate, lag, last error) and the failing feeds, read
from each process's /metrics, scraped twice `interval` seconds apart for the rates.

Where the endpoints are: given with --endpoint; else the file `newsflow run` writes in the
data dir (`endpoints.json`); else the fixed ports `newsflow run` prefers (base+1 … base+4).
"""
from __future__ import annotations

import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from services.status.report import STAGES, Samples, Scrape, feed_health, parse, render, stage_lines
from shared.config import Settings

ENDPOINTS_FILE = "endpoints.json"  # written by services/supervisor/main.py


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str


def find_endpoints(settings: Settings, given: tuple[str, ...] = ()) -> tuple[list[Endpoint], str]:
    """The endpoints to scrape, and where they came from (said in the output)."""
    if given:
        return [_endpoint(item) for item in given], "given"
    path = settings.data_dir / ENDPOINTS_FILE
    if path.is_file():
        doc = json.loads(path.read_text())
        return [Endpoint(name, url) for name, url in doc["metrics"].items()], str(path)
    host = "127.0.0.1" if settings.metrics_host in ("", "0.0.0.0", "::") else settings.metrics_host
    base = settings.metrics_base_port
    ports = [Endpoint(name, f"http://{host}:{base + i}/metrics") for i, name in enumerate(STAGES, start=1)]
    return ports, f"ports {base + 1}-{base + len(STAGES)} (no {path})"


def _endpoint(item: str) -> Endpoint:
    """`NAME=URL`, `URL` or `HOST:PORT`; the stage is read from the metrics when no name is given."""
    name, _, url = item.partition("=") if "=" in item.split("://")[0] else ("", "", item)
    if "://" not in url:
        url = f"http://{url}"
    if not url.rstrip("/").endswith("/metrics"):
        url = url.rstrip("/") + "/metrics"
    return Endpoint(name or url, url)


def fetch(url: str, timeout_s: float = 2.0) -> tuple[Samples | None, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return parse(resp.read().decode()), ""
    except OSError as exc:
        return None, str(getattr(exc, "reason", exc))


def scrape_all(endpoints: list[Endpoint], interval_s: float) -> list[Scrape]:
    with ThreadPoolExecutor(max_workers=max(1, len(endpoints))) as pool:
        first = list(pool.map(lambda e: fetch(e.url), endpoints))
        started = time.monotonic()
        if interval_s > 0:
            time.sleep(interval_s)
        second = list(pool.map(lambda e: fetch(e.url), endpoints))
        seconds = time.monotonic() - started if interval_s > 0 else 0.0
    return [
        Scrape(e.url, e.name, before, after, seconds, error)
        for e, (before, _), (after, error) in zip(endpoints, first, second)
    ]


def status(settings: Settings, given: tuple[str, ...] = (), interval_s: float = 2.0) -> tuple[str, bool]:
    """The report, and whether every stage has a process that answers."""
    endpoints, origin = find_endpoints(settings, given)
    scrapes = scrape_all(endpoints, interval_s)
    lines = stage_lines(scrapes)
    header = f"endpoints: {origin}; rates over {interval_s:g} s" if interval_s > 0 else f"endpoints: {origin}"
    report = header + "\n" + render(lines, feed_health(scrapes), time.time())
    if not any(line.up for line in lines):
        report += "\nno newsflow process answers: is `newsflow run` (or `make run`) running? Else name them with --endpoint"
    return report, all(line.up for line in lines)
