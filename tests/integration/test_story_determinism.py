"""Stories are a function of the articles: the same same-event set, sent through the real broker
in two different orders, once to one sink and once to two sink workers sharing the group, ends
in the same stories with the same ids."""
from __future__ import annotations

import random
import threading

import pytest
from prometheus_client import CollectorRegistry

from services.cleaner.clean import clean_article
from services.sink.main import Sink
from services.sink.store import open_store
from shared.config import PROJECT_ROOT
from shared.kafka import ensure_topics, make_producer
from shared.schema import encode
from tests.integration.helpers import wait_until

pytestmark = pytest.mark.integration

STORY_SET = PROJECT_ROOT.parent / "shared" / "testdata" / "stories" / "giveme5w1h-news-cluster"


@pytest.fixture(scope="module")
def cleaned():
    if not (STORY_SET / "data").is_dir():
        pytest.skip(f"the same-event story set is not here: {STORY_SET} (it comes with ../shared)")
    from services.evaluation.stories import load_records

    return [clean_article(r.article) for r in load_records(STORY_SET)]


def _stories_after(settings, articles, workers: int) -> dict[str, str]:
    ensure_topics(settings, [settings.tagged_topic, settings.dlq_topic])
    producer = make_producer(settings)
    for article in articles:
        producer.send(settings.tagged_topic, key=article.key, value=encode(article))
    producer.flush(30)
    producer.close()
    registries = [CollectorRegistry() for _ in range(workers)]  # one per worker, as one per process
    sinks: list[Sink] = []

    def run(registry: CollectorRegistry) -> None:  # SQLite connections belong to the thread that opens them
        sink = Sink(settings, open_store(settings.db_url), registry)
        sinks.append(sink)
        sink.run()

    threads = [threading.Thread(target=run, args=(r,), daemon=True) for r in registries]
    for t in threads:
        t.start()
    try:
        def stored() -> float:
            return sum(r.get_sample_value("newsflow_messages_out_total", {"stage": "sink"}) or 0 for r in registries)

        wait_until(lambda: stored() >= len(articles), 180, what=f"{len(articles)} stored by {workers} sink(s)")
    finally:
        wait_until(lambda: len(sinks) == workers, 10, what="sinks created")
        for sink in sinks:
            sink.stopping = True
        for t in threads:
            t.join(30)
    store = open_store(settings.db_url)
    try:
        return {r.id: r.story_id for r in store.list_articles()}
    finally:
        store.close()


def test_two_orders_and_two_sink_workers_give_the_same_stories(settings, cleaned, tmp_path):
    in_order = _stories_after(settings, cleaned, workers=1)
    shuffled = list(reversed(cleaned))
    random.Random(14).shuffle(shuffled)
    other = settings.model_copy(update={
        "topic_prefix": settings.topic_prefix + "-b", "group_prefix": settings.group_prefix + "-b",
        "db_url": f"sqlite:///{tmp_path / 'other.db'}",
    })
    two_workers = _stories_after(other, shuffled, workers=2)
    assert len(in_order) == len(cleaned)
    assert len(set(in_order.values())) < len(cleaned) / 2  # stories group articles, not one each
    assert two_workers == in_order
