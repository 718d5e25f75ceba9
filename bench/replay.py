"""Benchmarks of issue 6 on the local broker (Kafka by default, NEWSFLOW_BROKER=tansu for Tansu): backfill publishing, offsets by time, bounded replay.

`run(args) -> dict` for the bench harness (`make bench`); alone: `.venv/bin/python -m bench.replay`.
Figures depend on the machine (shared cores here); they are measured, never asserted.
"""
from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

WORDS = ("minister harbour council shipment election drought tariff satellite bridge vaccine "
         "reservoir parliament coastline budget festival railway senator regulator merger").split()


def _settings(broker, data_dir: Path, prefix: str):
    from shared.config import Settings

    return Settings(kafka_bootstrap=broker.bootstrap, topic_prefix=prefix, group_prefix=prefix,
                    data_dir=data_dir, db_url=f"sqlite:///{data_dir / 'bench.db'}", partitions=4)


def bench_backfill(broker, work: Path, files: int) -> dict:
    from services.replay.backfill import backfill
    from shared.kafka import ensure_topics
    from shared.pipeline.topology import pipeline_topics

    settings = _settings(broker, work, "bf")
    ensure_topics(settings, pipeline_topics(settings))
    archive = work / "archive"
    archive.mkdir()
    rng = random.Random(5)
    for i in range(files):
        body = " ".join(rng.choice(WORDS) for _ in range(120))
        (archive / f"r{i:06d}.txt").write_text(f"Archived report {i}\n\n{body}.\n")
    result = backfill(settings, [archive])
    return {"backfill_files": files, "backfill_seconds": round(result.seconds, 2),
            "backfill_articles_per_s": round(result.rate)}


def bench_lookup(broker, work: Path, messages: int) -> dict:
    from services.replay.offsets import PartitionReader
    from shared.kafka import ensure_topics, make_producer

    settings = _settings(broker, work, "lk")
    topic = settings.topic("timed")
    ensure_topics(settings, [topic])
    producer = make_producer(settings, linger_ms=20, batch_size=256 * 1024)
    base = int(time.time() * 1000) - messages * 1000
    value = b"x" * 1024
    for i in range(messages):
        producer.send(topic, value=value, partition=i % settings.partitions, timestamp_ms=base + i * 1000)
    producer.flush()
    producer.close()
    rng = random.Random(9)
    times, probes = [], []
    for _ in range(10):
        with PartitionReader(settings, topic) as reader:
            ts = base + rng.randrange(messages) * 1000
            started = time.perf_counter()
            for p in reader.bounds:
                reader.first_at_or_after(p, ts)
            times.append(time.perf_counter() - started)
            probes.append(len(reader._cache) / len(reader.bounds))
    return {"lookup_messages": messages, "lookup_partitions": settings.partitions,
            "lookup_ms_all_partitions_median": round(statistics.median(times) * 1000, 1),
            "lookup_records_read_per_partition_median": statistics.median(probes)}


def bench_window(broker, work: Path, messages: int) -> dict:
    from services.replay.offsets import commit
    from services.replay.runner import run_window
    from shared.kafka import ensure_topics, high_watermarks, make_producer
    from shared.pipeline.topology import pipeline_topics
    from shared.schema import Article, encode

    settings = _settings(broker, work, "win")
    ensure_topics(settings, pipeline_topics(settings))
    producer = make_producer(settings)
    rng = random.Random(4)
    for i in range(messages):
        body = " ".join(rng.choice(WORDS) for _ in range(300))
        art = Article(id=f"w{i}", url=f"https://example.org/w/{i}", source="bench", content=body, title=f"Item {i}")
        producer.send(settings.raw_topic, key=art.key, value=encode(art))
    producer.flush()
    producer.close()
    highs = high_watermarks(settings, settings.raw_topic)
    commit(settings, settings.group("cleaner"), settings.raw_topic, highs)
    started = time.perf_counter()
    result = run_window(settings, "cleaner", settings.raw_topic, {p: (0, h) for p, h in highs.items()}, highs)
    seconds = time.perf_counter() - started
    return {"window_cleaner_messages": result.processed, "window_cleaner_messages_per_s": round(result.processed / seconds)}


def run(args=None) -> dict:
    from services.broker.main import start_broker
    from shared.config import Settings

    quick = bool(getattr(args, "quick", False))
    files, lookup, window = (1_000, 10_000, 1_000) if quick else (10_000, 100_000, 5_000)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = start_broker(Settings(), work / "broker")
        try:
            figures: dict = {"broker": broker.kind}
            for name, bench, n in (("backfill", bench_backfill, files), ("lookup", bench_lookup, lookup),
                                   ("window", bench_window, window)):
                (work / name).mkdir()
                figures.update(bench(broker, work / name, n))
            return figures
        finally:
            broker.stop()


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
