"""The sink on the real broker decides duplicates and stories and counts them in its metrics."""
from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry

from services.sink.main import Sink
from services.sink.store import open_store
from shared.kafka import ensure_topics, make_producer
from shared.schema import Article, encode
from tests.integration.helpers import wait_until
from tests.unit.test_dedup import HARBOUR, HARBOUR_REWRITE, ORCHARD

pytestmark = pytest.mark.integration


def _article(i: str, text: str) -> Article:
    return Article(id=i, url=f"https://example.org/{i}", source="demo", content=text, text=text, language="en")


def test_sink_assigns_and_counts_duplicates_and_stories(settings, store_url):
    ensure_topics(settings, [settings.tagged_topic, settings.dlq_topic])
    settings = settings.model_copy(update={"db_url": store_url})
    registry = CollectorRegistry()
    producer = make_producer(settings)
    # one at a time, each acknowledged before the next: the order the sink sees is the order sent
    for article in [_article("h1", HARBOUR), _article("o1", ORCHARD), _article("h2", HARBOUR),
                    _article("h3", HARBOUR.replace("five weeks", "six weeks") + " (Wire)"),
                    _article("h4", HARBOUR_REWRITE), _article("h2", HARBOUR)]:
        producer.send(settings.tagged_topic, key=article.key, value=encode(article), partition=0).get(10)
    producer.close()
    sinks: list[Sink] = []

    def run() -> None:  # SQLite connections belong to the thread that opens them
        sinks.append(Sink(settings, open_store(store_url), registry))
        sinks[0].run()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        value = registry.get_sample_value
        wait_until(lambda: value("newsflow_messages_out_total", {"stage": "sink"}) == 6, 60, what="6 stored")
    finally:
        wait_until(lambda: sinks, 10, what="sink created")
        sinks[0].stopping = True
        thread.join(30)
    assert value("newsflow_sink_duplicates_total", {"kind": "exact"}) == 1
    assert value("newsflow_sink_duplicates_total", {"kind": "near"}) == 1
    assert value("newsflow_sink_stories_total", {"kind": "new"}) == 2
    assert value("newsflow_sink_stories_total", {"kind": "joined"}) == 1
    assert value("newsflow_sink_stories_formed_total") == 1
    check = open_store(store_url)
    rows = {r.id: (r.duplicate_of, r.story_id) for r in check.list_articles()}
    check.close()
    assert rows == {"h1": (None, "h1"), "o1": (None, "o1"), "h2": ("h1", "h1"), "h3": ("h1", "h1"), "h4": (None, "h1")}
