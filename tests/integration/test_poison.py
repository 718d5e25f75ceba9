"""Poison input on every topic a stage consumes, each between good articles on one partition:
every poison message is dead-lettered by the stage that read it, with the reason and where it
was; every good article is stored; no stage dies over it."""
from __future__ import annotations

import orjson
import pytest

from services.cleaner.clean import clean_article
from services.tagger.tag import tag_article
from services.tagger.taxonomy import load_taxonomy
from shared.kafka import ensure_topics, make_producer
from shared.pipeline.topology import pipeline_topics
from shared.schema import Article, DeadLetter, encode
from tests.conftest import newsflow
from tests.integration.helpers import wait_until
from tests.integration.running import drained, pipeline_env, read_all, running
from tests.integration.test_faults import _stored_urls

pytestmark = [pytest.mark.integration, pytest.mark.fallback]
STAGE_OF = {"raw": "cleaner", "clean": "tagger", "tagged": "sink"}
BIG = 5 * 1024 * 1024


def poison(where: str) -> dict[str, tuple[bytes, str]]:
    """{name: (message, the reason kind it must be dead-lettered with)}."""
    huge = Article(id=f"{where}-huge", url=f"https://example.org/{where}/huge", source="test",
                   content="harbour council budget " * (BIG // 23))
    return {
        "not_json": (b"this is {not json", "not_json"),
        "schema": (orjson.dumps({"schema": 99, "id": f"{where}-v99", "url": "https://example.org/v99",
                                 "source": "test", "content": "from the future"}), "schema_version"),
        "huge": (encode(huge), "too_large"),
        "utf8": (b'{"schema": 1, "id": "bad-\xff\xfe", "url": "https://example.org/u", "source": "t", '
                 b'"content": "caf\xe9 au lait"}', "not_json"),
        "missing": (orjson.dumps({"schema": 1, "id": f"{where}-missing", "url": "https://example.org/m"}),
                    "missing_field"),
        "types": (orjson.dumps({"schema": 1, "id": f"{where}-types", "url": "https://example.org/t", "source": "t",
                                "content": "A report.", "fetched_at": "yesterday", "authors": "Ann"}),
                  "malformed_field"),
    }


def good(where: str, i: int, taxonomy) -> Article:
    article = Article(id=f"{where}-good-{i}", url=f"https://example.org/{where}/good/{i}", source="test",
                      title=f"Harbour council report {i} from {where}",
                      content=f"The harbour council met on Monday for the {i}th time and approved the budget "
                              f"for the new bridge. The vote on {where} was close.")
    if where in ("clean", "tagged"):
        article = clean_article(article)
    if where == "tagged":
        article = tag_article(article, taxonomy)
    return article


def test_poison_on_every_topic_is_dead_lettered_and_the_rest_stored(settings, tmp_path):
    taxonomy = load_taxonomy(settings.taxonomy_file)
    ensure_topics(settings, pipeline_topics(settings, [t.name for t in taxonomy.topics]))
    producer = make_producer(settings, max_request_size=2 * BIG)
    placed: dict[tuple[str, int], tuple[str, bytes, str]] = {}  # (topic, offset) -> (name, bytes, kind)
    expected_urls = []
    for where in STAGE_OF:
        topic = settings.topic(where)
        for i, (name, (value, kind)) in enumerate(poison(where).items()):
            article = good(where, i, taxonomy)
            producer.send(topic, key=article.key, value=encode(article), partition=0).get(30)
            expected_urls.append(article.url)
            meta = producer.send(topic, key=name.encode(), value=value, partition=0).get(30)
            placed[(topic, meta.offset)] = (name, value, kind)
        last = good(where, 99, taxonomy)
        producer.send(topic, key=last.key, value=encode(last), partition=0).get(30)
        expected_urls.append(last.url)
    # a record on the dead-letter topic that is no dead letter: `newsflow dlq` must say so, not fail
    producer.send(settings.dlq_topic, value=b"\xff not a letter", partition=0).get(30)
    producer.close()

    env = pipeline_env(settings, tmp_path)
    with running(env, tmp_path) as run:
        wait_until(lambda: drained(settings) and len(_stored_urls(tmp_path / "news.db")) >= len(expected_urls),
                   180, interval_s=0.5, what="every good article stored")
        letters = [(r, DeadLetter.decode(r.value)) for r in read_all(settings, settings.dlq_topic)[1:]]
        listed = newsflow("dlq", "list", env=env)
        log_text = run.log()

    assert sorted(_stored_urls(tmp_path / "news.db")) == sorted(expected_urls)
    assert "exited with code" not in log_text  # no stage died over its input
    found = {(l.topic, l.offset): l for _, l in letters}
    assert set(found) == set(placed), "one dead letter per poison message, and no other"
    for (topic, offset), (name, value, kind) in placed.items():
        letter = found[(topic, offset)]
        where = topic.rsplit(".", 1)[1]
        assert letter.stage == STAGE_OF[where], (name, letter)
        assert letter.partition == 0 and letter.key == name.encode()
        assert letter.reason.split(":", 1)[0] == kind, (name, letter.reason)
        if name == "huge":  # the letter keeps the start and says how big it was, and where the whole is
            assert letter.original_size == len(value) and value.startswith(letter.original)
            assert len(letter.original) < 100_000
            assert f"{len(value):,} bytes" in letter.reason
        else:
            assert letter.original == value and letter.original_size is None
    assert listed.returncode == 0, listed.stderr
    assert "undecodable" in listed.stdout and f"{len(placed) + 1} dead letter(s)" in listed.stdout


def test_a_stage_that_dead_letters_everything_stops_at_the_limit_and_run_says_why(settings, tmp_path):
    """A bad deploy in miniature: every message the cleaner reads fails. Past 20 letters in a
    row it stops without acknowledging its batch, exits 65, and `newsflow run` ends saying so
    instead of restarting it to dead-letter the rest."""
    from shared.kafka import make_producer
    from tests.integration.running import pipeline_env, running
    from tests.integration.helpers import wait_until
    from shared.kafka import committed_offsets, high_watermarks

    env = pipeline_env(settings, tmp_path, NEWSFLOW_DLQ_MAX_CONSECUTIVE="20")
    with running(env, tmp_path) as run:
        producer = make_producer(settings)
        for i in range(60):
            producer.send(settings.raw_topic, key=b"p%d" % i, value=b"{broken json %d" % i)
        producer.flush()
        producer.close()
        wait_until(lambda: run.process.poll() is not None, 90, what="newsflow run to end")
        log = run.log()
    assert run.process.returncode == 1
    assert "cleaner stops: 20 messages in a row dead-lettered" in log
    assert "cleaner stopped at its dead-letter limit" in log
    assert "cleaner exited with code 65; restarting" not in log
    committed = sum(committed_offsets(settings, settings.group("cleaner"), settings.raw_topic).values())
    assert committed < 20 and sum(high_watermarks(settings, settings.raw_topic).values()) == 60
