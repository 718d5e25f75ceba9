"""`newsflow run` in the background for tests that work beside a live pipeline."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from kafka import TopicPartition

from shared.config import Settings
from shared.kafka import backlog, high_watermarks, make_consumer, make_producer
from shared.pipeline import topology
from shared.schema import Article, encode
from tests.conftest import settings_env
from tests.integration.helpers import WORDS, ask_for_stacks, started_pids, tail_and_stacks, wait_until


class Running:
    def __init__(self, process: subprocess.Popen, log_path: Path):
        self.process, self.log_path = process, log_path

    def log(self) -> str:
        return self.log_path.read_text()

    def service(self, name: str) -> tuple[int, int]:
        """(pid, metrics port) of the latest start of a service."""
        return started_pids(self.log())[name]

    def log_with_stacks(self) -> str:
        """The log's tail, then every running service's stacks."""
        ask_for_stacks(self.log())
        time.sleep(1.0)
        return tail_and_stacks(self.log())


def pipeline_env(settings: Settings, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a test's `newsflow run` and of the commands run beside it."""
    feeds = tmp_path / "no-feeds.yaml"
    feeds.write_text("feeds: []\n")
    env = settings_env(settings)
    env.update(NEWSFLOW_FEEDS_FILE=str(feeds), NEWSFLOW_METRICS_BASE_PORT="0", NEWSFLOW_TAXONOMY_RELOAD_S="1")
    env.update(extra)
    return env


@contextmanager
def running(env: dict[str, str], tmp_path: Path, *args: str):
    """Yield a Running `newsflow run` once its four services and control channel are up."""
    log_path = tmp_path / "run.log"
    with log_path.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run", *args], env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    run = Running(process, log_path)
    try:
        wait_until(lambda: "control endpoint" in run.log() or process.poll() is not None, 90, what="newsflow run")
        assert process.poll() is None, run.log()[-3000:]
        yield run
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def run_once(env: dict[str, str], tmp_path: Path, *ingest: Path):
    """Yield a Running `newsflow run --once --ingest ...` just started; stopped on the way out if
    it is still running."""
    log_path = tmp_path / "run.log"
    args = [a for path in ingest for a in ("--ingest", str(path))]
    with log_path.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "services.cli", "run", "--once", *args], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        yield Running(process, log_path)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(30)


def drained(settings: Settings) -> bool:
    """Every stage has committed everything published upstream of it."""
    return not any(backlogs(settings).values())


def backlogs(settings: Settings) -> dict[str, int]:
    return {stage: backlog(settings, settings.group(stage), settings.topic(topic))
            for stage, topic in topology.drain_checks()}


def wait_drained(settings: Settings, run: Running, timeout_s: float) -> None:
    """Wait for `drained`; on a timeout say which stage is behind and what the services logged."""
    try:
        wait_until(lambda: drained(settings), timeout_s, interval_s=1.0, what="the pipeline drained")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; backlog by stage {backlogs(settings)}\n{run.log_with_stacks()}") from exc


def total_messages(settings: Settings, topic: str) -> int:
    return sum(high_watermarks(settings, topic).values())


def publish_timed(settings: Settings, count: int, base_ms: int, step_ms: int, tag: str = "r") -> list[tuple[int, int, int]]:
    """`count` raw articles of our own words with timestamps base + i*step; [(partition, offset, ts)]."""
    producer = make_producer(settings)
    futures = []
    for i in range(count):
        body = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(60)) + "."
        article = Article(id=f"{tag}{i}", url=f"https://example.org/{tag}/{i}", source="test",
                          title=f"Timed report {i}", content=body)
        ts = base_ms + i * step_ms
        futures.append((producer.send(settings.raw_topic, key=article.key, value=encode(article), timestamp_ms=ts), ts))
    producer.flush()
    placed = [(f.get(10).partition, f.get(10).offset, ts) for f, ts in futures]
    producer.close()
    return placed


def read_all(settings: Settings, topic: str) -> list:
    consumer = make_consumer(settings, None, consumer_timeout_ms=3000)
    tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    records = list(consumer)
    consumer.close()
    return records
