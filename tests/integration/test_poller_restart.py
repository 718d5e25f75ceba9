"""Acceptance 2 and the broker's faults: a restarted poller publishes nothing new when no feed
changed, shows its feeds' state at once, and a broker outage marks nothing published."""
from __future__ import annotations

import asyncio
import hashlib
import signal
import subprocess
import sys

import pytest
import yaml
from prometheus_client import CollectorRegistry

from services.poller.feeds import Feed
from services.poller.main import Poller, PublishFailed
from services.poller.state import PollerState
from tests.conftest import settings_env, start_test_broker
from tests.feedserver import FeedServer, Reply
from tests.integration.helpers import metric_value, wait_until
from tests.integration.pollertools import poll_once, poller_settings, raw_count
from tests.integration.test_poller_http import items, rss
from shared.procs import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def server():
    s = FeedServer()
    yield s
    s.close()


def serve_mixed_feeds(server: FeedServer) -> list[dict]:
    """A feed with an ETag, one whose server ignores validators, one with none, one failing."""
    server.routes["/etag"] = lambda h: Reply(304) if h.get("if-none-match") == '"e1"' else Reply(200, rss(items(3, "e")), {"ETag": '"e1"'})
    server.routes["/stubborn"] = lambda h: Reply(200, rss(items(2, "s")), {"ETag": '"s1"'})
    server.routes["/plain"] = lambda h: Reply(200, rss(items(4, "p")))
    server.routes["/down"] = lambda h: Reply(503)
    return [{"name": path.strip("/"), "url": server.url(path)} for path in ("/etag", "/stubborn", "/plain", "/down")]


def test_restarted_poller_publishes_nothing_new_and_restores_its_metrics(settings, server, tmp_path):
    settings = poller_settings(settings)
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(yaml.safe_dump({"feeds": serve_mixed_feeds(server)}))
    env = settings_env(settings)
    env.update(NEWSFLOW_FEEDS_FILE=str(feeds_file))
    for _ in range(2):  # two `newsflow poller --once` processes on the same data folder
        done = subprocess.run([sys.executable, "-m", "services.cli", "poller", "--once"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
    assert raw_count(settings) == 3 + 2 + 4
    assert server.hits("/etag") == 2 and server.hits("/down") == 2
    listed = subprocess.run([sys.executable, "-m", "services.cli", "feeds", "list"], env=env,
                            capture_output=True, text=True, timeout=60)
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:-1]}
    assert "failing" in rows["down"] and "HTTP 503" in rows["down"] and "ok" in rows["etag"]
    assert "etag" in rows["etag"] and "2 feed" not in listed.stdout and "1 failing" in listed.stdout

    # A long-running poller started now has nothing due (interval 60 s): no request, and yet its
    # metrics tell the feeds' state from the state database at once.
    port = free_port()
    env.update(NEWSFLOW_METRICS_PORT=str(port))
    requests_before = len(server.requests)
    process = subprocess.Popen([sys.executable, "-m", "services.cli", "poller"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        failing = wait_until(lambda: metric_value(port, 'newsflow_poller_feeds{state="failing"}'), 60,
                             what="poller metrics")
        assert failing == 1
        assert metric_value(port, 'newsflow_poller_feeds{state="ok"}') == 3
        assert metric_value(port, 'newsflow_poller_last_success_timestamp_seconds{feed="plain"}') > 0
        assert metric_value(port, 'newsflow_poller_last_success_timestamp_seconds{feed="down"}') is None
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 0, out[-3000:]
    assert len(server.requests) == requests_before
    assert raw_count(settings) == 9


@pytest.mark.parametrize("mode", ["once", "loop"])
def test_broker_outage_marks_nothing_and_a_new_poller_publishes_it(tmp_path, server, mode):
    from shared.config import Settings

    entries = items(3)
    server.routes["/f"] = lambda h: Reply(200, rss(entries))
    feed = Feed("f", server.url("/f"))
    broker = start_test_broker(tmp_path / "broker1", 0)
    base = Settings(kafka_bootstrap=broker.bootstrap, data_dir=tmp_path / "data", publish_timeout_s=8.0)  # the outage fails after 8 s
    settings = poller_settings(base)

    async def poll_through_an_outage() -> None:
        poller = Poller(settings, CollectorRegistry())
        try:
            async with poller.client() as client:
                assert await poller.poll_all(client, [feed]) == 3
                broker.stop()
                entries.extend(items(5)[3:])  # two more while the broker is gone
                if mode == "once":
                    await poller.poll_all(client, [feed])
                else:  # the long-running loop, the feed due now: the failure ends the loop, loudly
                    poller.next_at[feed.url] = 0.0
                    await asyncio.wait_for(poller._loop(client, [feed], 0), 60)
        finally:
            poller.parse_pool.shutdown()
            poller.producer.close(timeout=0)
            poller.state.close()

    try:
        with pytest.raises(PublishFailed):
            asyncio.run(poll_through_an_outage())
    finally:
        broker.stop()
    state = PollerState(settings.data_dir / "poller.db")
    assert len(state.known(feed.url)) == 3  # the two new ones were not marked
    # nor the new body taken as handled: the next poll parses it again
    assert state.health(feed.url)["body_hash"] == hashlib.sha256(rss(items(3))).hexdigest()
    state.close()

    broker = start_test_broker(tmp_path / "broker2", 0)  # another log folder: a fresh, empty broker
    try:
        settings = poller_settings(settings.model_copy(update={"kafka_bootstrap": broker.bootstrap, "publish_timeout_s": 60.0}))
        registry = CollectorRegistry()
        poll_once(settings, [feed], registry)
        assert raw_count(settings) == 2
        assert registry.get_sample_value("newsflow_poller_entries_total", {"status": "new"}) == 2
    finally:
        broker.stop()
