"""Sink benchmark: the store's upsert (insert, then a replay that updates) and search on SQLite
and PostgreSQL, and the whole sink (Kafka -> database) on the local broker.

    .venv/bin/python -m bench --only sink      # through the harness (bench/__main__.py)
    .venv/bin/python -m bench.sink [--quick]   # alone, printing the figures

Articles are generated, about 4 KB of text each, in transactions of 500: 600 words drawn from
wordfreq's 5,000 commonest English words and a few of WORDS (the search queries' words), so
that, as in real news, articles are distinct (drawn from WORDS alone, every article was a near
duplicate of every other and the dedup ran its rare path).
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from prometheus_client import CollectorRegistry

from services.sink.main import Sink
from services.sink.store import open_store
from shared.config import Settings
from shared.kafka import ensure_topics, make_producer
from shared.schema import Article, Tag, encode

PG_BASE = "postgresql://127.0.0.1:5432/test"
BATCH = 500
WORDS = ("harbour council shipment election drought tariff satellite bridge vaccine reservoir parliament "
         "coastline budget festival railway senator regulator merger Taiwan strait balloon hotline").split()
QUERIES = ("balloon", '"harbour council"', "drought -festival")


def articles(n: int, seed: int = 5) -> list[Article]:
    from wordfreq import top_n_list

    rng = random.Random(seed)
    vocab = top_n_list("en", 5000)
    out = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) if rng.random() < 0.03 else rng.choice(vocab) for _ in range(600))
        out.append(Article(
            id=f"bench-{i}", url=f"https://example.org/bench/{i}", source=f"feed-{i % 20}", content=text, text=text,
            title=f"Report {i} on the {rng.choice(WORDS)}", published_at=f"2024-0{1 + i % 9}-1{i % 10}T08:00:00+00:00",
            tags=[Tag("taiwan", 1.5, [{"phrase": "Taiwan", "where": "body", "pos": 3}])],
        ))
    return out


def bench_store(url: str, batch: list[Article]) -> dict:
    store = open_store(url)
    try:
        figures = {}
        for label in ("insert", "replay"):
            started = time.perf_counter()
            for i in range(0, len(batch), BATCH):
                store.upsert(batch[i:i + BATCH])
            elapsed = time.perf_counter() - started
            figures[f"{label}_articles_per_s"] = round(len(batch) / elapsed)
        assert store.count() == len(batch)
        for query in QUERIES:
            times = []
            for _ in range(5):
                started = time.perf_counter()
                store.list_articles(query=query, limit=20)
                times.append(time.perf_counter() - started)
            figures[f"search_ms[{query}]"] = round(statistics.median(times) * 1000, 1)
        started = time.perf_counter()
        store.list_articles(source="feed-3", since=1704067200, limit=20)
        figures["filter_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return figures
    finally:
        store.close()


def bench_sink(url: str, batch: list[Article], bootstrap: str) -> dict:
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=f"b{uuid.uuid4().hex[:6]}", db_url=url,
                        partitions=4, sink_batch_size=BATCH)
    ensure_topics(settings, [settings.tagged_topic, settings.dlq_topic])
    producer = make_producer(settings)
    for article in batch:
        producer.send(settings.tagged_topic, key=article.key, value=encode(article))
    producer.flush()
    producer.close()
    made: list[Sink] = []
    thread = threading.Thread(target=lambda: (made.append(Sink(settings, open_store(url), CollectorRegistry())),
                                              made[0].run()), daemon=True)
    thread.start()
    while not made or not made[0].metrics.messages_in._value.get():
        time.sleep(0.01)
    started = time.perf_counter()
    while made[0].metrics.messages_out._value.get() < len(batch):
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    made[0].stopping = True
    thread.join(30)
    return {"sink_articles_per_s": round(len(batch) / elapsed)}


def run(args) -> dict:
    from services.broker.main import start_broker

    n = 2_000 if getattr(args, "quick", False) else 20_000
    batch = articles(n)
    results: dict = {"articles": n, "text_bytes_each": len(batch[0].text), "batch": BATCH}
    broker = start_broker(Settings(), Path(tempfile.mkdtemp(prefix="bench-sink-broker-")))
    results["broker"] = broker.kind
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = bench_store(f"sqlite:///{Path(tmp) / 'store.db'}", batch)
            results["sqlite"] |= bench_sink(f"sqlite:///{Path(tmp) / 'sink.db'}", batch, broker.bootstrap)
        results["postgresql"] = _with_pg_schema(lambda url: bench_store(url, batch))
        results["postgresql"] |= _with_pg_schema(lambda url: bench_sink(url, batch, broker.bootstrap))
    finally:
        broker.stop()
    return results


def _with_pg_schema(work):
    """Run work(url) in a schema of its own in the test database (dropped after)."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(PG_BASE, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as exc:
        return {"skipped": f"no PostgreSQL at {PG_BASE}: {exc}"}
    try:
        return work(f"{PG_BASE}?options=-csearch_path%3D{schema}")
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.sink")
    parser.add_argument("--quick", action="store_true")
    import json

    print(json.dumps(run(parser.parse_args()), indent=2))
