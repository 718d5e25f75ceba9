"""`newsflow run` as a user runs it: Ctrl-C leaves nothing behind; a service that keeps dying ends the run."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import Settings
from shared.kafka import high_watermarks
from tests.conftest import TEST_BROKER
from tests.integration.helpers import metric_value, started_pids, wait_until

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] != "Z"


def _clean_env(tmp_path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env.update(NEWSFLOW_DATA_DIR=str(tmp_path / "data"), NEWSFLOW_METRICS_BASE_PORT="0", NEWSFLOW_BROKER=TEST_BROKER,
               **extra)
    return env


def test_ctrl_c_stops_every_process_it_started(tmp_path):
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log:
        run = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run"], env=_clean_env(tmp_path),
            stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        pids = wait_until(lambda: len(started_pids(log_path.read_text())) == 4, 60, what="four services")
        pids = started_pids(log_path.read_text())
        broker_pid = int(re.search(r"local broker: .* pid (\d+)", log_path.read_text()).group(1))
        # every service serves /metrics
        for name, (_pid, port) in pids.items():
            wait_until(lambda: metric_value(port, "newsflow_build_info"), 60, what=f"{name} /metrics")
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=60) == 0, log_path.read_text()[-3000:]
    finally:
        if run.poll() is None:
            run.kill()
    for name, (pid, _port) in pids.items():
        assert not _alive(pid), f"{name} (pid {pid}) is still running"
    assert not _alive(broker_pid), "the local broker is still running"
    assert "local broker stopped" in log_path.read_text()


def test_a_service_that_keeps_dying_ends_the_run_saying_why(tmp_path):
    env = _clean_env(tmp_path, NEWSFLOW_DB_URL="nosuchdb://x", NEWSFLOW_RESTART_LIMIT="3")
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "run"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "sink died 3 times" in done.stderr
    assert "giving up" in done.stderr


@pytest.mark.skipif(TEST_BROKER != "kafka", reason="Tansu is memory-only: nothing survives its restart")
def test_history_survives_ctrl_c_and_a_second_run_publishes_nothing_twice(tmp_path):
    """`newsflow run` twice with its own Kafka: the second run's broker has the first run's
    messages (replay plans them, by the broker's ListOffsets) and its poller, polling the same
    feed again, publishes none of them again."""
    from tests.feedserver import FeedServer, Reply
    from tests.integration.test_poller_http import items, rss

    server = FeedServer()
    server.routes["/news"] = lambda _h: Reply(200, rss(items(13, "demo")))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - name: news\n    url: {server.url('/news')}\n    interval: 1\n    fulltext: false\n")
    env = _clean_env(tmp_path, NEWSFLOW_FEEDS_FILE=str(feeds), NEWSFLOW_ALLOW_PRIVATE_HOSTS="127.0.0.1",
                     NEWSFLOW_HOST_MIN_GAP_S="0")
    db = tmp_path / "data" / "newsflow.db"
    try:
        _run_until(env, tmp_path / "run1.log", lambda log: _stored_count(db) == 13)
        polled_before = len(server.requests)

        def polled_again(log: str) -> bool:
            return "started poller" in log and len(server.requests) >= polled_before + 2

        def check_history(endpoints) -> None:
            plan = subprocess.run([sys.executable, "-m", "services.cli", "replay", "--stage", "sink", "--from", "1h"],
                                  env=env, capture_output=True, text=True, timeout=120)
            assert plan.returncode == 0, plan.stderr[-3000:]
            total_line = next(line for line in plan.stdout.splitlines() if line.strip().startswith("total"))
            assert int(total_line.split()[-1]) == 13, plan.stdout  # the first run's 13 articles, found again
            assert re.search(r"offsets by time: \d+ answered by the broker \(ListOffsets\), 0 found", plan.stdout)
            settings = Settings(kafka_bootstrap=endpoints["kafka_bootstrap"])
            assert sum(high_watermarks(settings, settings.raw_topic).values()) == 13  # nothing published twice

        _run_until(env, tmp_path / "run2.log", polled_again, check_history)
    finally:
        server.close()
    assert _stored_count(db) == 13
    assert "formatted a new Kafka log" in (tmp_path / "run1.log").read_text()
    assert "formatted a new Kafka log" not in (tmp_path / "run2.log").read_text()


def _stored_count(db) -> int:
    import sqlite3

    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _run_until(env, log_path, ready, then=None) -> None:
    """`newsflow run` until ready(its log) holds, then `then(endpoints)`, then Ctrl-C."""
    import json

    with log_path.open("w") as log:
        run = subprocess.Popen([sys.executable, "-m", "services.cli", "run"], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: ready(log_path.read_text()) or run.poll() is not None, 180, interval_s=0.3,
                   what="the run ready")
        assert run.poll() is None, log_path.read_text()[-3000:]
        if then is not None:
            endpoints = json.loads((Path(env["NEWSFLOW_DATA_DIR"]) / "endpoints.json").read_text())
            then(endpoints)
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=90) == 0, log_path.read_text()[-3000:]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
