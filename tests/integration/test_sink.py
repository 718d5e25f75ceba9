"""The sink on the real broker, into real SQLite and real PostgreSQL: the same tests on both."""
from __future__ import annotations

import threading

import pytest
from kafka import TopicPartition
from prometheus_client import CollectorRegistry

from services.sink.main import Sink
from services.sink.store import open_store
from shared.kafka import committed_offsets, ensure_topics, high_watermarks, make_consumer, make_producer
from shared.schema import Article, DeadLetter, Tag, encode
from tests.integration.helpers import wait_until

pytestmark = pytest.mark.integration


# Three stories: article i carries text i % 3, so the sink's dedup files 25 articles under 3 stories.
TEXTS = (
    "The harbour council approved the sea wall budget after a long debate on Monday night.",
    "Drought leaves the reservoirs at their lowest level in a decade, the regulator said.",
    "The railway merger was cleared by the competition regulator with conditions on fares.",
)


HEADLINES = ("Sea wall budget approved", "Reservoirs at a record low", "Rail merger cleared")  # three events


def _article(i: int, **kw) -> Article:
    fields = dict(
        id=f"a{i}", url=f"https://example.org/{i}", source="demo", content="raw", text=TEXTS[i % 3],
        title=f"{HEADLINES[i % 3]} {i}", published_at="2024-03-01T10:00:00+00:00",
        tags=[Tag("taiwan", 2.0, [{"phrase": "Taiwan", "where": "body", "pos": 0}]), Tag("balloon", 1.0)],
    )
    fields.update(kw)
    return Article(**fields)


def _publish(settings, messages: list[Article | bytes]) -> None:
    """Articles keyed by their id, as the tagger sends them (so each id keeps to one partition)."""
    producer = make_producer(settings, linger_ms=20)  # batched produces: the case Tansu's ListOffsets gets wrong
    for i, message in enumerate(messages):
        if isinstance(message, Article):
            producer.send(settings.tagged_topic, key=message.key, value=encode(message))
        else:
            producer.send(settings.tagged_topic, key=b"junk%d" % i, value=message)
    producer.flush()
    producer.close()


@pytest.fixture
def sink_settings(settings, store_url):
    s = settings.model_copy(update={"db_url": store_url, "sink_batch_size": 10, "sink_batch_ms": 300})
    ensure_topics(s, [s.tagged_topic, s.dlq_topic])
    return s


def _sink(settings) -> Sink:
    return Sink(settings, open_store(settings.database_url), CollectorRegistry())


def _run_until(settings, done, what: str) -> Sink:
    """Run a sink in a thread (its SQLite connection must be made there) until done(sink)."""
    made: list[Sink] = []

    def target() -> None:
        made.append(_sink(settings))
        made[0].run()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        wait_until(lambda: made and done(made[0]), 60, interval_s=0.1, what=what)
    finally:
        if made:
            made[0].stopping = True
        thread.join(30)
    assert not thread.is_alive()
    return made[0]


def _metric(sink: Sink, name: str, labels: dict | None = None) -> float:
    return sink.metrics.registry.get_sample_value(name, labels or {}) or 0.0


def _counts(url: str) -> dict[str, int]:
    store = open_store(url)
    try:
        return {t: store._query(f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("articles", "article_tags", "stories")}
    finally:
        store.close()


def test_stores_in_batches_commits_after_and_a_replay_adds_no_row(sink_settings):
    s = sink_settings
    _publish(s, [_article(i) for i in range(25)])
    first = _run_until(s, lambda sink: _metric(sink, "newsflow_messages_out_total", {"stage": "sink"}) == 25, "25 stored")
    assert _counts(s.database_url) == {"articles": 25, "article_tags": 50, "stories": 3}
    assert _metric(first, "newsflow_sink_rows_total", {"op": "insert"}) == 25
    # every transaction held at most sink_batch_size messages, and there were at least 25/10 of them
    assert _metric(first, "newsflow_sink_batch_messages_bucket", {"le": "10.0"}) == _metric(
        first, "newsflow_sink_batch_messages_count")
    assert _metric(first, "newsflow_sink_batch_messages_count") >= 3
    assert _metric(first, "newsflow_sink_batch_messages_sum") == 25
    assert committed_offsets(s, s.group("sink"), s.tagged_topic) == high_watermarks(s, s.tagged_topic)
    assert _metric(first, "newsflow_end_to_end_seconds_count") == 25

    # The same messages again (a replay upstream), then the group moved back to the start.
    _publish(s, [_article(i, title=f"Title {i} (revised)") for i in range(25)])
    _reset_group(s)
    again = _run_until(s, lambda sink: _metric(sink, "newsflow_messages_in_total", {"stage": "sink"}) == 50, "50 in")
    assert _counts(s.database_url) == {"articles": 25, "article_tags": 50, "stories": 3}
    assert _metric(again, "newsflow_sink_rows_total", {"op": "insert"}) == 0
    # an id twice in one transaction is one row written (the later message wins)
    assert 25 <= _metric(again, "newsflow_sink_rows_total", {"op": "update"}) <= 50
    assert _metric(again, "newsflow_messages_out_total", {"stage": "sink"}) == 50
    store = open_store(s.database_url)
    try:
        assert store.get_article("a7").title == "Title 7 (revised)"
        assert [r.id for r in store.list_articles(query="revised", limit=3)] != []
    finally:
        store.close()


def _reset_group(s) -> None:
    consumer = make_consumer(s, s.group("sink"))
    from kafka import OffsetAndMetadata

    tps = [TopicPartition(s.tagged_topic, p) for p in range(s.partitions)]
    consumer.commit({tp: OffsetAndMetadata(0, "", -1) for tp in tps})
    consumer.close(autocommit=False)


def test_bad_messages_are_dead_lettered_and_passed(sink_settings):
    s = sink_settings
    _publish(s, [_article(1), b"{not json", _article(2), b'{"schema": 99}'])
    sink = _run_until(s, lambda sink: _metric(sink, "newsflow_messages_in_total", {"stage": "sink"}) == 4, "4 in")
    assert _counts(s.database_url)["articles"] == 2
    assert _metric(sink, "newsflow_messages_dead_lettered_total", {"stage": "sink", "reason": "not_json"}) == 1
    assert _metric(sink, "newsflow_messages_dead_lettered_total", {"stage": "sink", "reason": "schema_version"}) == 1
    assert _metric(sink, "newsflow_last_failure_timestamp_seconds", {"stage": "sink", "reason": "not_json"}) > 0
    assert committed_offsets(s, s.group("sink"), s.tagged_topic) == high_watermarks(s, s.tagged_topic)
    letters = _read_all(s, s.dlq_topic)
    assert sorted(DeadLetter.decode(v).reason.split(":")[0] for v in letters) == ["not_json", "schema_version"]


def _read_all(s, topic: str) -> list[bytes]:
    consumer = make_consumer(s, None, consumer_timeout_ms=2000)
    tps = [TopicPartition(topic, p) for p in range(s.partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    values = [m.value for m in consumer]
    consumer.close()
    return values


def test_lag_counts_what_is_left_with_this_brokers_batched_produces(sink_settings):
    """300 messages in few record batches: ListOffsets would say far fewer (DESIGN.md); the lag must not."""
    s = sink_settings
    _publish(s, [_article(i) for i in range(300)])
    sink = _sink(s)
    try:
        consumed = 0
        # until a fetch response has told the high watermark of every partition (a batch or two)
        while not consumed or any(sink.consumer.highwater(tp) is None for tp in sink.consumer.assignment()):
            batch = sink.collect()
            consumed += len(batch)
            if batch:
                sink.write(batch)
        sink.measure_lag()
        assert 0 < consumed < 300
        assert sink.metrics.lag.messages() == 300 - consumed
        assert sink.metrics.lag.seconds() > 0
        while consumed < 300:
            batch = sink.collect()
            consumed += len(batch)
            if batch:
                sink.write(batch)
        sink.measure_lag()
        assert (sink.metrics.lag.messages(), sink.metrics.lag.seconds()) == (0, 0.0)
    finally:
        sink.stopping = True
        sink.consumer.close(autocommit=False)
        sink.letters.close()
        sink.store.close()


def test_a_dropped_database_connection_is_retried_on_a_new_one(sink_settings):
    """PostgreSQL only: the server ends the sink's session (as a restart or failover would)."""
    s = sink_settings
    if not s.database_url.startswith("postgresql"):
        pytest.skip("a server-side disconnect is a PostgreSQL fault")
    import psycopg

    sink = _sink(s)
    try:
        sink.store_batch([_article(1)])
        pid = sink.store.conn.info.backend_pid
        with psycopg.connect(s.database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        result = sink.store_batch([_article(2), _article(1, title="again")])
        assert (result.inserted, result.updated) == (1, 1)
        assert _metric(sink, "newsflow_sink_write_errors_total") == 1
        failures = [m for m in sink.metrics.registry.collect() if m.name == "newsflow_last_failure_timestamp_seconds"]
        assert [x.labels["reason"] for x in failures[0].samples] == ["db_AdminShutdown"]  # psycopg's error class
        assert sink.store.conn.info.backend_pid != pid
        assert sink.store.get_article("a1").title == "again"
    finally:
        sink.consumer.close(autocommit=False)
        sink.letters.close()
        sink.store.close()


def test_offsets_held_back_by_a_rebalance_are_committed_after_it(sink_settings):
    """A second sink joining makes the first one's client rejoin while it holds stored records:
    the commit is refused (RebalanceInProgressError) and must happen after the rejoin, neither
    killing the sink nor leaving the group behind the rows it wrote."""
    s = sink_settings
    _publish(s, [_article(i) for i in range(12)])
    first = _sink(s)
    second = make_consumer(s, s.group("sink"), s.tagged_topic)
    done = threading.Event()

    def keep_polling() -> None:
        while not done.is_set():
            second.poll(timeout_ms=100)

    joining = threading.Thread(target=keep_polling, daemon=True)
    try:
        records: list = []
        wait_until(lambda: records.extend(first.collect()) or len(records) == 12, 60, what="12 records")
        joining.start()
        # the heartbeat learns of the rebalance; a poll (with nothing left to fetch) starts the rejoin
        wait_until(lambda: not first.consumer.poll(timeout_ms=0) and first.consumer._coordinator.rebalance_in_progress(),
                   30, interval_s=0.005, what="the first sink's client rejoining")
        first.write(records)
        assert first.uncommitted  # held back, not lost, not raised
        wait_until(lambda: first.step() or not first.uncommitted, 60, what="the held-back offsets committed")
        owned = {tp.partition for tp in first.consumer.assignment()}
        assert owned and len(owned) < s.partitions  # the partitions were shared out
        committed = committed_offsets(s, s.group("sink"), s.tagged_topic)
        ends = high_watermarks(s, s.tagged_topic)
        assert {p: committed[p] for p in owned} == {p: ends[p] for p in owned}
        assert _metric(first, "newsflow_messages_in_total", {"stage": "sink"}) == 12  # nothing read twice
    finally:
        done.set()
        joining.join(10)
        second.close(autocommit=False)
        first.consumer.close(autocommit=False)
        first.letters.close()
        first.store.close()


def test_a_dead_letter_the_broker_refuses_is_not_committed_past(settings, store_url):
    """The DLQ topic takes at most 1 KB a message: the letter of a 4 KB bad message is refused
    by the broker. The sink must not commit past it (a bare flush() returned, and it did)."""
    from kafka.admin import NewTopic

    from shared.kafka import make_admin
    from shared.pipeline.publish import DeliveryFailed

    s = settings.model_copy(update={"db_url": store_url, "sink_batch_size": 10, "sink_batch_ms": 300})
    admin = make_admin(s)
    try:
        admin.create_topics([NewTopic(s.dlq_topic, 1, 1, topic_configs={"max.message.bytes": "1024"})])
    finally:
        admin.close()
    ensure_topics(s, [s.tagged_topic])
    _publish(s, [_article(1), b"{" + b"x" * 4000, _article(2)])
    sink = _sink(s)
    try:
        with pytest.raises(DeliveryFailed, match="refused"):
            wait_until(lambda: sink.step() or False, 30, what="the refused letter")
    finally:
        sink.consumer.close(autocommit=False)
        sink.letters.close()
        sink.store.close()
    ends = high_watermarks(s, s.tagged_topic)
    committed = committed_offsets(s, s.group("sink"), s.tagged_topic)
    assert sum(ends.values()) == 3
    assert sum(committed.get(p, 0) for p in ends) == 0  # nothing of that batch committed


def test_a_membership_left_rebalancing_gets_a_new_client_and_nothing_is_lost(sink_settings, monkeypatch, caplog):
    """kafka-python 3.0.12 can be left rebalancing with no join under way (services/sink/membership.py):
    its partitions fetch nothing and no error says so. That state, made here by hand in the client
    as a cut-short join leaves it, must not stop the sink for longer than its settle limit."""
    from kafka.structs import MemberState

    from services.sink import main as sink_main

    monkeypatch.setattr(sink_main, "settle_limit_s", lambda _session_ms: 5.0)
    s = sink_settings
    _publish(s, [_article(i) for i in range(5)])
    sink = _sink(s)
    try:
        wait_until(lambda: sink.step() or _counts(s.database_url)["articles"] == 5, 60, what="5 stored")
        stuck = sink.consumer
        coordinator = stuck._coordinator
        with coordinator._lock:  # what a join cut short leaves: rebalancing, no join to come
            coordinator.state = MemberState.REBALANCING
            coordinator.rejoin_needed = False
            coordinator._disable_heartbeat()
        stuck._subscription.mark_pending_revocation(set(stuck.assignment()))
        _publish(s, [_article(i) for i in range(5, 12)])
        for _ in range(10):  # stuck indeed: nothing more is read
            sink.step()
        assert _metric(sink, "newsflow_messages_in_total", {"stage": "sink"}) == 5
        with caplog.at_level("WARNING", logger="services.sink.main"):
            wait_until(lambda: sink.step() or _counts(s.database_url)["articles"] == 12, 60, interval_s=0.0,
                       what="the 7 others stored")
        assert sink.consumer is not stuck and "has not settled in 5 s" in caplog.text
        wait_until(lambda: sink.step() or committed_offsets(s, s.group("sink"), s.tagged_topic)
                   == high_watermarks(s, s.tagged_topic), 30, what="everything committed")
        assert _metric(sink, "newsflow_messages_in_total", {"stage": "sink"}) == 12  # nothing read twice
    finally:
        sink.consumer.close(autocommit=False)
        sink.letters.close()
        sink.store.close()
