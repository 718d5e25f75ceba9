"""Dead letters and kill -9 recovery on the real broker, through `newsflow run --once`."""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from kafka import TopicPartition

from shared.kafka import make_consumer, make_producer, ensure_topics
from shared.pipeline.topology import pipeline_topics
from shared.schema import DeadLetter
from tests.conftest import settings_env
from tests.integration.helpers import metric_value, started_pids, wait_until, write_jsonl
from tests.integration.running import run_once

pytestmark = [pytest.mark.integration, pytest.mark.fallback]


def _stored_urls(db_path) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return [r[0] for r in conn.execute("SELECT url FROM articles")]


def _dead_letters(settings) -> list[DeadLetter]:
    consumer = make_consumer(settings, None, consumer_timeout_ms=3000)
    tps = [TopicPartition(settings.dlq_topic, p) for p in range(settings.partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    letters = [DeadLetter.decode(m.value) for m in consumer]
    consumer.close()
    return letters


def test_garbage_on_raw_is_dead_lettered_and_the_rest_stored(settings, tmp_path):
    ensure_topics(settings, pipeline_topics(settings, ["taiwan", "balloon", "hotline"]))
    producer = make_producer(settings)
    for partition in range(settings.partitions):
        producer.send(settings.raw_topic, value=b"this is {not json", partition=partition).get(10)
    producer.close()
    urls = write_jsonl(tmp_path / "after.jsonl", 20)

    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "run", "--once", "--ingest", str(tmp_path / "after.jsonl")],
        env=settings_env(settings), capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(_stored_urls(tmp_path / "news.db")) == sorted(urls)
    letters = _dead_letters(settings)
    assert len(letters) == settings.partitions
    for letter in letters:
        assert letter.stage == "cleaner"
        assert letter.reason.startswith("not_json")
        assert letter.original == b"this is {not json"
        assert letter.topic == settings.raw_topic
    assert {l.partition for l in letters} == set(range(settings.partitions))
    assert f"dead-lettered this run: {settings.partitions}" in done.stdout


STAGES = ("poller", "cleaner", "tagger", "sink")


def _kill_plan(rng: random.Random) -> list[tuple[str, int]]:
    """(victim, how many messages its current process must have handled when killed): each
    service once and two of them twice, in flow order (a stage is done before the next one),
    each at a random point of its work."""
    victims = sorted(["cleaner", "tagger", "sink"] + rng.sample(["cleaner", "tagger", "sink"], 2), key=STAGES.index)
    return [("poller", rng.randint(200, 3000))] + [(victim, rng.randint(50, 800)) for victim in victims]


def test_kill_9_at_random_moments_loses_and_doubles_nothing(settings, tmp_path):
    """Six kill -9 during one run of 5,000 articles; NEWSFLOW_FAULT_SEED replays a schedule."""
    seed = int(os.environ.get("NEWSFLOW_FAULT_SEED", "7"))
    rng = random.Random(seed)
    total = 5000
    urls = write_jsonl(tmp_path / "bulk.jsonl", total, seed=seed)
    env = settings_env(settings) | {"NEWSFLOW_METRICS_BASE_PORT": "0", "NEWSFLOW_RESTART_LIMIT": "10"}
    kills = []
    with run_once(env, tmp_path, tmp_path / "bulk.jsonl") as run:
        started = time.monotonic()
        for victim, threshold in _kill_plan(rng):
            pid, port = wait_until(lambda: started_pids(run.log()).get(victim), 60, what=f"{victim} start")
            progress = "newsflow_messages_out_total" if victim == "poller" else "newsflow_messages_in_total"
            try:  # a stage that has finished its part by then is killed idle: still a moment of the run
                wait_until(lambda: (metric_value(port, progress) or 0) >= threshold or run.process.poll() is not None,
                           20, interval_s=0.02, what=f"{victim} past {threshold}")
            except TimeoutError:
                pass
            assert run.process.poll() is None, "the run ended before every kill"
            at = metric_value(port, progress)
            os.kill(pid, signal.SIGKILL)
            kills.append((round(time.monotonic() - started, 1), victim, pid, at))
            wait_until(lambda: started_pids(run.log())[victim][0] != pid, 60, what=f"{victim} restarted")
        print(f"\nseed {seed}: kill -9 at (s, service, pid, its progress) {kills}")
        assert run.process.wait(timeout=300) == 0, run.log()[-4000:]
    text = run.log()
    for _, victim, pid, _ in kills:
        assert f"{victim} exited with code -9; restarting" in text
    stored = _stored_urls(tmp_path / "news.db")
    assert len(stored) == total
    assert sorted(stored) == sorted(urls)
    assert f"articles stored: {total};" in text
