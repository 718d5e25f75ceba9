"""Consumer lag reported by a Faust stage, on Kafka and on Tansu, whose ListOffsets is wrong after
batched produces (DESIGN.md): the lag must still count every message not yet consumed."""
from __future__ import annotations

import subprocess
import sys
import urllib.request

import pytest

from services.status.report import parse, total
from shared.kafka import ensure_topics, make_producer
from shared.pipeline.topology import pipeline_topics
from shared.procs import free_port
from shared.schema import Article, encode
from tests.conftest import settings_env
from tests.integration.helpers import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.fallback]
TOTAL = 6000


def test_the_cleaners_lag_counts_what_it_has_not_consumed(settings):
    ensure_topics(settings, pipeline_topics(settings))
    producer = make_producer(settings, linger_ms=50, batch_size=256 * 1024)  # few, large record batches
    for i in range(TOTAL):
        article = Article(id=f"lag-{i}", url=f"https://example.org/lag/{i}", source="bench",
                          content=f"Report {i}. The harbour council met on Tuesday to discuss the budget.")
        producer.send(settings.raw_topic, key=article.key, value=encode(article))
    producer.flush()
    producer.close()

    port = free_port()
    env = settings_env(settings) | {"NEWSFLOW_METRICS_PORT": str(port)}
    cleaner = subprocess.Popen([sys.executable, "-m", "services.cli", "cleaner"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: list[tuple[float, float]] = []
    try:
        def sample():
            scraped = _scrape(port)
            if scraped:
                seen.append(scraped)
            assert cleaner.poll() is None, cleaner.stderr.read()[-3000:]
            return scraped == (0, TOTAL)

        wait_until(sample, 120, interval_s=0.02, what="the cleaner consumed everything and reports no lag")
    finally:
        cleaner.terminate()
        cleaner.wait(30)
    behind = [(lag, consumed) for lag, consumed in seen if lag > 0]
    assert behind, "the lag was never seen above 0 while a backlog was consumed"
    # Once every partition's high watermark is known, lag + consumed is the total (give or take
    # the one message in hand); from ListOffsets on this broker it would fall far short.
    assert all(lag + consumed <= TOTAL + 1 for lag, consumed in behind), behind
    assert any(abs(lag + consumed - TOTAL) <= 1 for lag, consumed in behind), behind


def _scrape(port: int) -> tuple[float, float] | None:
    """(lag in messages, messages consumed) from one scrape of the cleaner's /metrics."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as resp:
            samples = parse(resp.read().decode())
    except OSError:
        return None
    lag, consumed = total(samples, "newsflow_consumer_lag_messages"), total(samples, "newsflow_messages_in_total")
    return None if lag is None or consumed is None else (lag, consumed)
