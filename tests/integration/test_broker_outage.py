"""The broker stopped for 30 s under a live `newsflow run`, then started again; and the
embedded broker killed under `newsflow run`, started again by the supervisor.

The tests run their own broker (never the session's) on a fixed port, stop it and start it
again there, with the same log folder. Apache Kafka comes back with its log: nothing may be
lost. Tansu is memory-only: the restarted one has no topic, no message, no committed offset.
What it had acknowledged but the sink had not stored is lost with it; that is the broker's
loss and the only one allowed: everything the poller had not published before the outage, and
everything it fetched during it, must be stored.
"""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml

from services.poller.state import PollerState
from shared.config import Settings
from shared.procs import free_port
from shared.schema import content_id
from tests.conftest import TEST_BROKER, start_test_broker
from tests.feedserver import FeedServer, Reply
from tests.integration.helpers import metric_value, started_pids, wait_until, write_jsonl
from tests.integration.running import pipeline_env, run_once, running
from tests.integration.test_poller_http import items, rss

pytestmark = pytest.mark.integration
OUTAGE_S = 30.0
SERVICES = ("poller", "cleaner", "tagger", "sink")


def _items(n: int, prefix: str) -> list[dict]:
    """Feed entries whose guid is their link: their article id is known in advance."""
    out = items(n, prefix)
    for item in out:
        item["guid"] = item["link"]
    return out


def _ids(batch: list[dict]) -> set[str]:
    return {content_id("guid:" + item["guid"]) for item in batch}


def _stored(db_path) -> list[str]:
    try:
        with sqlite3.connect(db_path) as conn:
            return [r[0] for r in conn.execute("SELECT id FROM articles")]
    except sqlite3.OperationalError:  # not made yet
        return []


def _marked(settings: Settings, feed_url: str) -> set[str]:
    """What the poller has recorded as acknowledged by the broker."""
    state = PollerState(settings.data_dir / "poller.db")
    try:
        return set(state.known(feed_url))
    finally:
        state.close()


def test_a_30_s_broker_outage_loses_nothing_the_broker_had_not_taken(tmp_path):
    port = free_port()
    broker = start_test_broker(tmp_path / "broker", port)
    server = FeedServer()
    entries = _items(20, "before")
    server.routes["/news"] = lambda _h: Reply(200, rss(entries))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(yaml.safe_dump({"feeds": [{"name": "news", "url": server.url("/news")}]}))
    settings = Settings(
        kafka_bootstrap=broker.bootstrap, data_dir=tmp_path / "data", db_url=f"sqlite:///{tmp_path / 'news.db'}",
        partitions=2, metrics_base_port=0,
    )
    env = pipeline_env(
        settings, tmp_path, NEWSFLOW_FEEDS_FILE=str(feeds), NEWSFLOW_POLL_INTERVAL_S="1",
        NEWSFLOW_ALLOW_PRIVATE_HOSTS="127.0.0.1", NEWSFLOW_HOST_MIN_GAP_S="0", NEWSFLOW_FULLTEXT_MIN_CHARS="0",
    )
    db = tmp_path / "news.db"
    try:
        with running(env, tmp_path) as run:
            wait_until(lambda: len(_stored(db)) == 20, 90, interval_s=0.5, what="the first 20 stored")
            pids = {name: run.service(name)[0] for name in SERVICES}
            ports = {name: run.service(name)[1] for name in SERVICES}
            for name, metrics_port in ports.items():
                assert metric_value(metrics_port, "newsflow_kafka_up") == 1, name

            entries.extend(_items(10, "late"))  # caught anywhere between the feed and the database
            time.sleep(0.4)
            broker.process.kill()  # at once: SIGTERM lets Tansu take seconds to stop
            broker.process.wait()
            stopped = time.monotonic()
            at_stop_marked = _marked(settings, server.url("/news"))
            at_stop_stored = set(_stored(db))
            entries.extend(_items(10, "during"))  # fetched during the outage

            # every service sees the outage: its gauge drops to 0 (it keeps serving /metrics)
            for name, metrics_port in ports.items():
                wait_until(lambda: metric_value(metrics_port, "newsflow_kafka_up") == 0, 20, interval_s=0.2,
                           what=f"{name} reporting the outage")
            noticed_s = time.monotonic() - stopped
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
            assert run.process.poll() is None, run.log()[-3000:]
            broker = start_test_broker(tmp_path / "broker", port)
            restarted = time.monotonic()

            lost = (at_stop_marked - at_stop_stored) & _ids(entries)  # acknowledged, then lost with the broker
            expected = _ids(entries) - lost if not broker.durable else _ids(entries)
            wait_until(lambda: expected <= set(_stored(db)), 180, interval_s=0.5, what="everything stored again")
            recovery_s = time.monotonic() - restarted
            for name, metrics_port in ports.items():
                wait_until(lambda: metric_value(metrics_port, "newsflow_kafka_up") == 1, 60, interval_s=0.5,
                           what=f"{name} reconnected")
            assert run.process.poll() is None
            log_text = run.log()
    finally:
        broker.stop()
        server.close()

    stored = _stored(db)
    assert len(stored) == len(set(stored))
    assert _ids(_items(10, "during")) <= set(stored)
    assert _ids(_items(20, "before")) <= set(stored)  # stored before the outage, kept
    assert "giving up" not in log_text
    said = [line for line in log_text.splitlines() if "unreachable; waiting for it" in line]
    for name in SERVICES:  # each process said so in its log (Faust's log format names the pid)
        assert any(f" {name} WARNING" in line or f"[{pids[name]}]" in line for line in said), name
    if broker.durable:
        assert set(stored) == _ids(entries)  # Kafka kept what it had acknowledged: nothing lost
    print(f"\nbroker outage {OUTAGE_S:.0f} s on {broker.kind}: every service reported it within {noticed_s:.1f} s; "
          f"everything stored {recovery_s:.1f} s after the broker came back; "
          + ("nothing lost" if broker.durable else f"{len(lost)} acknowledged article(s) lost with the memory-only broker"))


@pytest.mark.fallback
def test_the_embedded_broker_is_started_again_when_it_dies(tmp_path):
    """Under `newsflow run` with no broker configured, the supervisor's own broker is killed:
    it starts it again on its port, the services recover, new entries are stored."""
    server = FeedServer()
    entries = _items(10, "first")
    server.routes["/news"] = lambda _h: Reply(200, rss(entries))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(yaml.safe_dump({"feeds": [{"name": "news", "url": server.url("/news")}]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env.update(NEWSFLOW_DATA_DIR=str(tmp_path / "data"), NEWSFLOW_METRICS_BASE_PORT="0", NEWSFLOW_PARTITIONS="2",
               NEWSFLOW_FEEDS_FILE=str(feeds), NEWSFLOW_POLL_INTERVAL_S="1", NEWSFLOW_ALLOW_PRIVATE_HOSTS="127.0.0.1",
               NEWSFLOW_HOST_MIN_GAP_S="0", NEWSFLOW_FULLTEXT_MIN_CHARS="0", NEWSFLOW_BROKER=TEST_BROKER)
    db = tmp_path / "data" / "newsflow.db"
    try:
        with running(env, tmp_path) as run:
            wait_until(lambda: len(_stored(db)) == 10, 90, interval_s=0.5, what="the first 10 stored")
            broker_pid = int(re.search(r"local broker: .* pid (\d+)", run.log()).group(1))
            os.kill(broker_pid, signal.SIGKILL)
            entries.extend(_items(10, "after"))
            wait_until(lambda: _ids(entries) <= set(_stored(db)), 120, interval_s=0.5, what="the new entries stored")
            assert run.process.poll() is None
            log_text = run.log()
    finally:
        server.close()
    assert "the local broker exited with code -9; starting it again" in log_text
    assert "giving up" not in log_text
    assert len(_stored(db)) == 20


@pytest.mark.fallback
def test_the_watch_tells_an_outage_from_a_broker_that_lost_its_topics(tmp_path):
    from prometheus_client import CollectorRegistry

    from shared.brokerwatch import BrokerWatch
    from shared.kafka import ensure_topics
    from shared.metrics import StageMetrics

    port = free_port()
    broker = start_test_broker(tmp_path / "broker", port)
    settings = Settings(kafka_bootstrap=broker.bootstrap, partitions=1)
    metrics = StageMetrics("probe", CollectorRegistry())
    value = lambda name: metrics.registry.get_sample_value(name, {"stage": "probe"})  # noqa: E731
    watch = BrokerWatch(settings, metrics, ["w.a", "w.b"], on_lost=lambda: None)
    try:
        ensure_topics(settings, ["w.a", "w.b"])
        assert watch.check() == [] and watch.unchanged()
        assert value("newsflow_kafka_up") == 1 and value("newsflow_kafka_outages_total") == 0
        broker.process.kill()
        broker.process.wait()
        assert watch.check() == [] and not watch.unchanged()  # down is not lost: it waits
        assert value("newsflow_kafka_up") == 0 and value("newsflow_kafka_outages_total") == 1
        watch.check()
        assert value("newsflow_kafka_outages_total") == 1  # one outage, however many checks
        broker = start_test_broker(tmp_path / "broker", port)
        if broker.durable:  # Kafka: back with its log, the same topics under the same ids
            wait_until(watch.unchanged, 30, interval_s=0.2, what="the topics described again")  # leaders elected
            assert watch.check() == []
        else:
            assert sorted(watch.check()) == ["w.a", "w.b"]  # back, empty: both topics lost
            ensure_topics(settings, ["w.a", "w.b"])
            assert sorted(watch.check()) == ["w.a", "w.b"]  # made again: other topic ids
            assert not watch.unchanged()
        assert value("newsflow_kafka_up") == 1
    finally:
        watch.stop()  # its admin client, which would go on logging about a stopped broker
        broker.stop()


@pytest.mark.skipif(TEST_BROKER != "kafka", reason="Tansu is memory-only: a killed Tansu loses what it held")
def test_kill_9_of_the_embedded_kafka_during_5000_articles_loses_and_doubles_nothing(tmp_path):
    """`newsflow run --once` on its own Kafka; the broker is killed with -9 while the stages are
    busy and the supervisor starts it again with its log: all 5,000 stored, each once."""
    total = 5000
    urls = write_jsonl(tmp_path / "bulk.jsonl", total, seed=12)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env.update(NEWSFLOW_DATA_DIR=str(tmp_path / "data"), NEWSFLOW_METRICS_BASE_PORT="0", NEWSFLOW_PARTITIONS="3",
               NEWSFLOW_BROKER="kafka")
    db = tmp_path / "data" / "newsflow.db"
    with run_once(env, tmp_path, tmp_path / "bulk.jsonl") as run:
        wait_until(lambda: re.search(r"local broker: Apache Kafka .* pid (\d+)", run.log()) or run.process.poll(),
                   120, what="the embedded Kafka")
        broker_pid = int(re.search(r"local broker: Apache Kafka .* pid (\d+)", run.log()).group(1))
        sink_port = wait_until(lambda: started_pids(run.log()).get("sink"), 60, what="the sink")[1]
        wait_until(lambda: (metric_value(sink_port, "newsflow_messages_in_total") or 0) >= 500
                   or run.process.poll() is not None, 180, interval_s=0.05, what="the sink at work")
        assert run.process.poll() is None, "the run ended before the broker was killed"
        stored_at_kill = len(_stored(db))
        os.kill(broker_pid, signal.SIGKILL)
        assert run.process.wait(timeout=400) == 0, run.log()[-4000:]
    text = run.log()
    assert "the local broker exited with code -9; starting it again on port" in text
    assert len(re.findall(r"local broker: Apache Kafka", text)) == 2
    assert stored_at_kill < total, "the kill came after everything was stored"
    stored = _urls(db)
    assert len(stored) == total and sorted(stored) == sorted(urls)  # none lost, none twice
    assert f"articles stored: {total};" in text
    print(f"\nkill -9 of Kafka with {stored_at_kill} of {total} stored: all {total} stored once")


def _urls(db_path) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return [r[0] for r in conn.execute("SELECT url FROM articles")]


@pytest.mark.skipif(TEST_BROKER != "kafka", reason="Tansu is memory-only: after a restart there is nothing to replay")
def test_a_broker_restart_in_the_middle_of_a_replay_leaves_the_offsets_where_the_plan_said(tmp_path):
    """A bounded replay of the cleaner is under way when Kafka is killed and started again on its
    log: the replay finishes the window, the group's offsets stay where the plan said (unchanged),
    and an unbounded replay after it moves them exactly to the plan's new offsets."""
    from services.replay.offsets import commit, committed
    from shared.kafka import ensure_topics, high_watermarks
    from shared.pipeline.topology import pipeline_topics
    from tests.conftest import newsflow, settings_env
    from tests.integration.running import publish_timed, read_all
    from tests.integration.test_replay import MINUTE, first_at_or_after, iso

    port = free_port()
    broker = start_test_broker(tmp_path / "broker", port)
    settings = Settings(kafka_bootstrap=broker.bootstrap, topic_prefix="rr", group_prefix="rr", partitions=2,
                        data_dir=tmp_path / "data", db_url=f"sqlite:///{tmp_path / 'news.db'}", metrics_base_port=0,
                        broker="kafka")
    env = settings_env(settings)
    try:
        ensure_topics(settings, pipeline_topics(settings, ["taiwan", "balloon", "hotline"]))
        base = int(time.time() * 1000) - 3 * 3600_000
        placed = publish_timed(settings, 4000, base, 1000)  # one a second for 66 minutes
        ends = high_watermarks(settings, settings.raw_topic)
        group = settings.group("cleaner")
        commit(settings, group, settings.raw_topic, ends)  # as if the cleaner had consumed everything

        window = ["--from", iso(base), "--to", iso(base + 3000 * 1000 - 1)]  # the first 3,000
        replay = subprocess.Popen([sys.executable, "-m", "services.cli", "replay", "--stage", "cleaner", *window,
                                   "--execute"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: sum(high_watermarks(settings, settings.clean_topic).values()) > 0 or replay.poll() is not None,
                   120, interval_s=0.1, what="the replay at work")
        assert replay.poll() is None, "the replay ended before the broker was killed"
        broker.process.kill()
        broker.process.wait()
        time.sleep(2)
        broker = start_test_broker(tmp_path / "broker", port)
        out, err = replay.communicate(timeout=300)
        assert replay.returncode == 0, err[-3000:]
        assert "reprocessed 3000 message(s)" in out
        assert committed(settings, group, settings.raw_topic) == ends  # unchanged, as the plan said
        replayed = {r.key for r in read_all(settings, settings.clean_topic)}
        assert len(replayed) == 3000  # every message of the window cleaned (some maybe twice: at least once)

        since = base + 50 * MINUTE
        moved = newsflow("replay", "--stage", "cleaner", "--from", iso(since), "--execute", env=env)
        assert moved.returncode == 0, moved.stderr[-3000:]
        assert committed(settings, group, settings.raw_topic) == first_at_or_after(placed, since, settings.partitions)
    finally:
        broker.stop()
