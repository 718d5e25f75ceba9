"""SIGTERM in the middle of work: each service finishes what it holds, commits, and exits 0
within 10 s (the grace Docker and Kubernetes give before SIGKILL; `newsflow run` gives 15 s).

Each service runs alone (no supervisor to restart it) on a backlog, and gets SIGTERM once
it is at work. Then what it committed must be exactly what it passed on: every message it
produced downstream (or stored) has its input offset committed, and nothing more.
"""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml

from services.cleaner.clean import clean_article
from services.poller.state import PollerState
from services.tagger.tag import tag_article
from services.tagger.taxonomy import load_taxonomy
from shared.kafka import committed_offsets, ensure_topics, make_producer
from shared.pipeline.topology import pipeline_topics
from shared.procs import free_port
from shared.schema import Article, encode
from tests.conftest import settings_env
from tests.feedserver import FeedServer, Reply
from tests.integration.helpers import WORDS, metric_value, wait_until
from tests.integration.pollertools import raw_articles
from tests.integration.running import total_messages
from tests.integration.test_poller_http import items, rss

pytestmark = pytest.mark.integration
GRACE_S = 10.0
BACKLOG = 3000


def _article(i: int) -> Article:
    body = " ".join(WORDS[(i * 5 + k) % len(WORDS)] for k in range(120)) + "."
    return Article(id=f"term-{i}", url=f"https://example.org/term/{i}", source="test",
                   title=f"Council report {i}", content=body)


def _backlog(settings, where: str) -> None:
    """BACKLOG articles on the topic `where` (raw, clean or tagged), as the stage before would write them."""
    taxonomy = load_taxonomy(settings.taxonomy_file)
    ensure_topics(settings, pipeline_topics(settings, [t.name for t in taxonomy.topics]))
    producer = make_producer(settings, linger_ms=20)
    for i in range(BACKLOG):
        article = _article(i)
        if where != "raw":
            article = clean_article(article)
        if where == "tagged":
            article = tag_article(article, taxonomy)
        producer.send(settings.topic(where), key=article.key, value=encode(article))
    producer.flush()
    producer.close()


def _consumed(at_least: int):
    return lambda port: (metric_value(port, "newsflow_messages_in_total") or 0) >= at_least


def _terminate_at_work(settings, service: str, at_work, *args: str, env: dict | None = None) -> float:
    """Start `newsflow <service>` alone, SIGTERM it once at_work(its metrics port) is true; when
    the signal was sent (time.monotonic())."""
    port = free_port()
    env = (env or settings_env(settings)) | {"NEWSFLOW_METRICS_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "services.cli", service, *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: at_work(port) or process.poll() is not None, 120, interval_s=0.02,
                   what=f"{service} at work")
        assert process.poll() is None, process.stderr.read()[-3000:]
        done = metric_value(port, "newsflow_messages_in_total") or metric_value(port, "newsflow_messages_out_total")
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        took = time.monotonic() - sent
        err = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 0, err[-3000:]
    print(f"\n{service}: SIGTERM after {done:.0f} messages, exited 0 in {took:.2f} s")
    assert took < GRACE_S
    return sent


@pytest.mark.parametrize("stage,source,output", [("cleaner", "raw", "clean"), ("tagger", "clean", "tagged")])
def test_sigterm_a_faust_stage_commits_what_it_passed_on(settings, stage, source, output):
    _backlog(settings, source)
    _terminate_at_work(settings, stage, _consumed(300))
    committed = sum(committed_offsets(settings, settings.group(stage), settings.topic(source)).values())
    produced = total_messages(settings, settings.topic(output))
    assert 300 <= committed < BACKLOG, "stopped in the middle of the backlog"
    assert committed == produced, "every message passed on has its input committed, and no other"


def test_sigterm_the_sink_commits_what_it_stored(settings, tmp_path):
    _backlog(settings, "tagged")
    _terminate_at_work(settings, "sink", _consumed(500))
    committed = sum(committed_offsets(settings, settings.group("sink"), settings.tagged_topic).values())
    with sqlite3.connect(tmp_path / "news.db") as db:
        (stored,) = db.execute("SELECT count(*) FROM articles").fetchone()
    assert 500 <= committed < BACKLOG, "stopped in the middle of the backlog"
    assert committed == stored


def test_sigterm_the_poller_marks_all_it_published(settings, tmp_path):
    """Feeds answering at different times: at SIGTERM some are parsed or being published, others
    still fetched. What reached the broker is marked published; nothing else is."""
    server = FeedServer()
    feeds = []
    answered: dict[str, float] = {}  # feed url -> when its body went out

    def route(i: int, body: bytes):
        def reply(_headers) -> Reply:
            answered[server.url(f"/f{i}")] = time.monotonic() + 0.3 * i
            return Reply(200, body, delay_s=0.3 * i)
        return reply

    for i in range(8):
        entries = items(300, f"f{i}")
        for entry in entries:  # long entries: parsing and publishing a feed take a while
            entry["body"] = " ".join(WORDS) * 60
        server.routes[f"/f{i}"] = route(i, rss(entries))
        feeds.append({"name": f"f{i}", "url": server.url(f"/f{i}")})
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(yaml.safe_dump({"feeds": feeds}))
    ensure_topics(settings, pipeline_topics(settings))
    env = settings_env(settings) | {
        "NEWSFLOW_FEEDS_FILE": str(feeds_file), "NEWSFLOW_ALLOW_PRIVATE_HOSTS": "127.0.0.1",
        "NEWSFLOW_HOST_MIN_GAP_S": "0", "NEWSFLOW_HOST_CONCURRENCY": "8", "NEWSFLOW_FULLTEXT_MIN_CHARS": "0",
    }
    try:
        # SIGTERM once four feeds have answered: some being parsed or published, the others not yet fetched
        four = lambda _port: sum(at < time.monotonic() for at in answered.values()) >= 4  # noqa: E731
        sigterm_at = _terminate_at_work(settings, "poller", four, env=env)
    finally:
        server.close()
    published = {a.id for a in raw_articles(settings)}
    state = PollerState(settings.data_dir / "poller.db")
    try:
        marked = {url: set(state.known(url)) for url in answered}
    finally:
        state.close()
    held = [url for url, at in answered.items() if at < sigterm_at - 0.1]  # in the poller's hands at SIGTERM
    print(f"poller: {len(held)} feed(s) in hand at SIGTERM; {len(published)} entries published and marked")
    assert 0 < len(held) < len(feeds), "stopped in the middle of the polls"
    assert all(len(marked[url]) == 300 for url in held), {url: len(marked[url]) for url in held}
    assert published == set().union(*marked.values())
