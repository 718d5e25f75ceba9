"""Dead letters and kill -9 recovery on the real broker, through `newsflow run --once`."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

import pytest
from kafka import TopicPartition

from shared.kafka import make_consumer, make_producer, pipeline_topics, ensure_topics
from shared.schema import DeadLetter
from tests.conftest import settings_env
from tests.integration.helpers import metric_value, started_pids, wait_until, write_jsonl

pytestmark = pytest.mark.integration


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


@pytest.mark.parametrize("victim", ["poller", "cleaner", "tagger", "sink"])
def test_kill_9_mid_run_loses_and_doubles_nothing(settings, tmp_path, victim):
    total = 4000
    urls = write_jsonl(tmp_path / "bulk.jsonl", total)
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log:
        run = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run", "--once", "--ingest", str(tmp_path / "bulk.jsonl")],
            env=settings_env(settings), stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        pid, port = wait_until(lambda: started_pids(log_path.read_text()).get(victim), 60, what=f"{victim} start")
        progress = "newsflow_messages_out_total" if victim == "poller" else "newsflow_messages_in_total"
        consumed = wait_until(
            lambda: metric_value(port, progress), 120, interval_s=0.02, what=f"{victim} at work",
        )
        os.kill(pid, signal.SIGKILL)
        assert 0 < consumed < total, "the kill must land in the middle of the run"
        assert run.wait(timeout=300) == 0, log_path.read_text()[-4000:]
    finally:
        if run.poll() is None:
            run.terminate()
            run.wait(30)
    text = log_path.read_text()
    assert f"{victim} exited with code -9; restarting" in text
    restarted = started_pids(text)[victim][0]
    assert restarted != pid
    stored = _stored_urls(tmp_path / "news.db")
    assert len(stored) == total
    assert sorted(stored) == sorted(urls)
