"""`newsflow dlq list` and `dlq replay` on the real broker, beside a live pipeline."""
from __future__ import annotations

import orjson
import pytest

from services.sink.store import open_store
from shared.kafka import ensure_topics, high_watermarks, make_producer
from shared.pipeline.topology import pipeline_topics
from shared.schema import Article, DeadLetter, encode
from tests.conftest import newsflow
from tests.integration.helpers import wait_until
from tests.integration.running import drained, pipeline_env, running

pytestmark = pytest.mark.integration


def _stored_ids(url: str) -> set[str]:
    store = open_store(url)
    try:
        return {r.id for r in store.list_articles()}
    finally:
        store.close()


def _letters(settings) -> int:
    return sum(high_watermarks(settings, settings.dlq_topic).values())


def test_dead_letters_are_listed_filtered_and_replayed_once(settings, tmp_path):
    ensure_topics(settings, pipeline_topics(settings, ["taiwan", "balloon", "hotline"]))
    producer = make_producer(settings)
    producer.send(settings.raw_topic, key=b"g1", value=b"this is {not json").get(10)
    producer.send(settings.raw_topic, key=b"g2", value=b"[1, 2").get(10)
    producer.send(settings.raw_topic, key=b"v9", value=orjson.dumps({"schema": 9, "id": "x"})).get(10)
    # A letter as a stage with a bug would have written it: a good article, refused wrongly.
    good = Article(id="fixed-1", url="https://example.org/fixed", source="test", title="Harbour council report",
                   content="The harbour council met on Monday and approved the budget for the new bridge.")
    letter = DeadLetter(stage="cleaner", reason="ValueError: a bug since fixed", original=encode(good),
                        topic=settings.raw_topic, partition=0, offset=0, key=good.key)
    producer.send(settings.dlq_topic, key=good.key, value=letter.encode()).get(10)
    producer.close()

    env = pipeline_env(settings, tmp_path)
    with running(env, tmp_path):
        wait_until(lambda: _letters(settings) == 4 and drained(settings), 120, interval_s=0.5,
                   what="three new dead letters")
        listed = newsflow("dlq", "list", env=env)
        assert listed.returncode == 0, listed.stderr
        assert "4 dead letter(s), 0 replayed; by reason: ValueError 1, not_json 2, schema_version 1" in listed.stdout
        rows = [orjson.loads(line) for line in newsflow("dlq", "list", "--json", env=env).stdout.splitlines()]
        assert len(rows) == 4
        assert {(r["stage"], r["topic"]) for r in rows} == {("cleaner", settings.raw_topic)}
        assert sorted(r["original"] for r in rows if r["kind"] == "not_json") == ["[1, 2", "this is {not json"]
        assert all(r["at"].endswith("Z") and r["offset"] >= 0 for r in rows)
        only = newsflow("dlq", "list", "--reason", "SCHEMA", env=env)
        assert "1 dead letter(s)" in only.stdout and "unknown schema version 9" in only.stdout

        # after the fix: the wrongly refused article goes back and is stored
        fixed = newsflow("dlq", "replay", "--reason", "since fixed", env=env)
        assert fixed.returncode == 0, fixed.stderr
        assert f"replayed 1 dead letter(s): 1 to {settings.raw_topic}" in fixed.stdout
        wait_until(lambda: "fixed-1" in _stored_ids(settings.database_url) and drained(settings), 60,
                   interval_s=0.5, what="the replayed article stored")
        again = newsflow("dlq", "replay", "--reason", "since fixed", env=env)
        assert "replayed 0 dead letter(s): none; 1 replayed before were left alone" in again.stdout

        # garbage replayed fails again: new letters, which are not marked replayed
        garbage = newsflow("dlq", "replay", "--reason", "not_json", env=env)
        assert "replayed 2 dead letter(s)" in garbage.stdout
        wait_until(lambda: _letters(settings) == 6 and drained(settings), 60, interval_s=0.5, what="two new letters")
        listed = newsflow("dlq", "list", env=env)
        assert "6 dead letter(s), 3 replayed" in listed.stdout
        everything = newsflow("dlq", "replay", env=env)
        assert "replayed 3 dead letter(s)" in everything.stdout  # the schema one and the two new ones
        assert "3 replayed before were left alone" in everything.stdout
