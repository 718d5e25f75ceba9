"""Poller benchmark: 1,000 feeds on a local aiohttp server, polled by the real Poller into the
real local broker (Kafka by default; NEWSFLOW_BROKER=tansu for Tansu). Three cycles on one long-lived Poller, as in a running poller:

- cold: every feed new, 20 entries each (20,000 articles published);
- not_modified: every feed answers 304 to its ETag (targets: < 5 s);
- changed: every feed has 20 new entries (20,000 articles published; target < 30 s).

The feeds are all on 127.0.0.1, so the per-host politeness (NEWSFLOW_HOST_CONCURRENCY,
NEWSFLOW_HOST_MIN_GAP_S) is lifted here: it spaces requests to one real site and would only
measure itself. Full text is off (these links point nowhere). Everything else is the default.
Unless --quick, the same cycles run a second time with the feeds parsed in a thread of the
poller instead of a parser process (NEWSFLOW_PARSE_WORKERS=0), for comparison.
"""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from prometheus_client import CollectorRegistry

from services.broker.main import start_broker
from services.poller.feeds import Feed
from services.poller.main import Poller
from shared import metric_names as names
from shared.config import Settings
from shared.kafka import ensure_topics, high_watermarks
from shared.procs import free_port, wait_for_port

HERE = Path(__file__).resolve().parent
ENTRIES = 20
TARGETS_S = {"not_modified": 5.0, "changed": 30.0}


def run(args) -> dict:
    n = 100 if args.quick else 1000
    work = Path(tempfile.mkdtemp(prefix="bench-poller-"))
    broker = start_broker(Settings(), work / "broker")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench._feedhost", "--port", str(port), "--entries", str(ENTRIES)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port, timeout_s=20)
        workers = Settings().parse_workers
        variants = [("default", workers)] + ([] if args.quick or not workers else [("parse_in_a_thread", 0)])
        figures: dict = {"broker": broker.kind}
        for index, (name, parse_workers) in enumerate(variants):
            settings = Settings(
                kafka_bootstrap=broker.bootstrap, data_dir=work / f"data-{name}", topic_prefix=f"bench-{name}",
                allow_private_hosts="127.0.0.1", host_min_gap_s=0.0, parse_workers=parse_workers,
                host_concurrency=Settings().fetch_concurrency, log_level="WARNING",
            )
            ensure_topics(settings, [settings.raw_topic])
            feeds = [Feed(f"desk-{i}", f"http://127.0.0.1:{port}/feed/{i}", fulltext=False) for i in range(n)]
            print(f" {name} (parse_workers={parse_workers})", flush=True)
            cycles = asyncio.run(_cycles(settings, feeds, port, first_version=2 * index + 1,
                                         profile=args.profile and name == "default"))
            cycles["raw_messages_on_broker"] = sum(high_watermarks(settings, settings.raw_topic).values())
            cycles["parse_workers"] = parse_workers
            figures[name] = cycles
    finally:
        server.terminate()
        server.wait(10)
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    figures.update(feeds=n, entries_per_feed=ENTRIES, fetch_concurrency=settings.fetch_concurrency,
                   targets_s=TARGETS_S if not args.quick else "n/a (quick)")
    if not args.quick:
        figures["ratios_to_target"] = {k: round(figures["default"][k]["seconds"] / t, 3) for k, t in TARGETS_S.items()}
    return figures


async def _cycles(settings: Settings, feeds: list[Feed], port: int, first_version: int, profile: bool) -> dict:
    registry = CollectorRegistry()
    poller = Poller(settings, registry)
    await asyncio.to_thread(poller.producer.partitions_for, settings.raw_topic)
    out = {}
    try:
        async with poller.client() as client:
            for name, version in (("cold", first_version), ("not_modified", first_version), ("changed", first_version + 1)):
                await asyncio.to_thread(_bump, port, version)
                before = _fetches(registry)
                profiler = _profiler() if profile else None
                started, cpu = time.perf_counter(), time.process_time()
                published = await poller.poll_all(client, feeds)
                seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
                if profiler:
                    profiler.stop()
                    (HERE / f"profile-poller-{name}.txt").write_text(profiler.output_text(unicode=True, show_all=False))
                after = _fetches(registry)
                out[name] = {
                    "seconds": round(seconds, 3), "articles_published": published,
                    "poller_cpu_s": round(cpu, 3),  # its threads included, its parser processes not
                    "articles_per_s": round(published / seconds) if published else 0,
                    "feeds_per_s": round(len(feeds) / seconds),
                    "fetches": {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)},
                }
                print(f"  {name}: {seconds:.2f} s, {published} articles, {out[name]['fetches']}", flush=True)
    finally:
        poller.close()
    return out


def _fetches(registry: CollectorRegistry) -> dict[str, float]:
    return {s.labels["outcome"]: s.value for metric in registry.collect() if metric.name == names.POLLER_FETCHES.removesuffix("_total")
            for s in metric.samples if s.name.endswith("_total")}


def _bump(port: int, version: int) -> None:
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/version/{version}", method="POST"),
                           timeout=10).read()


def _profiler():
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="enabled")
    profiler.start()
    return profiler
