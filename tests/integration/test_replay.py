"""`newsflow replay` on the real broker: plans change nothing, live groups are refused outside
`newsflow run`, and a window [FROM, TO] is processed again exactly."""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest

from services.replay.groups import describe_group
from services.sink.store import open_store
from services.replay.offsets import commit, committed
from shared.kafka import ensure_topics, high_watermarks
from shared.pipeline.topology import pipeline_topics
from tests.conftest import newsflow, settings_env
from tests.integration.helpers import metric_value, wait_until
from tests.integration.running import drained, pipeline_env, publish_timed, running, total_messages

pytestmark = pytest.mark.integration
MINUTE = 60_000


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat()


def first_at_or_after(placed, ts: int, partitions: int) -> dict[int, int]:
    """Expected per partition, from what the producer was told: first offset with timestamp >= ts."""
    out = {}
    for p in range(partitions):
        mine = sorted((o, t) for part, o, t in placed if part == p)
        out[p] = next((o for o, t in mine if t >= ts), len(mine))
    return out


@pytest.fixture
def published(settings):
    ensure_topics(settings, pipeline_topics(settings, ["taiwan", "balloon", "hotline"]))
    base = int(time.time() * 1000) - 3 * 3600_000
    placed = publish_timed(settings, 60, base, MINUTE)
    return base, placed


def test_a_plan_changes_no_offset_and_execute_moves_the_idle_group_back(settings, published):
    base, placed = published
    ends = high_watermarks(settings, settings.raw_topic)
    group = settings.group("cleaner")
    commit(settings, group, settings.raw_topic, ends)  # as if the cleaner had consumed everything
    env = settings_env(settings)
    since = base + 40 * MINUTE

    plan = newsflow("replay", "--stage", "cleaner", "--from", iso(since), env=env)
    assert plan.returncode == 0, plan.stderr
    assert "plan only: nothing was changed" in plan.stdout
    total_line = next(line for line in plan.stdout.splitlines() if line.strip().startswith("total"))
    assert total_line.split()[-1] == "20"
    assert committed(settings, group, settings.raw_topic) == ends

    done = newsflow("replay", "--stage", "cleaner", "--from", iso(since), "--execute", env=env)
    assert done.returncode == 0, done.stderr
    assert committed(settings, group, settings.raw_topic) == first_at_or_after(placed, since, settings.partitions)


def test_a_group_never_moves_forward(settings, published):
    base, _ = published
    group = settings.group("cleaner")
    commit(settings, group, settings.raw_topic, {p: 1 for p in range(settings.partitions)})
    done = newsflow("replay", "--stage", "cleaner", "--from", iso(base + 50 * MINUTE), "--execute",
                    env=settings_env(settings))
    assert done.returncode == 0, done.stderr
    assert "the stage has not reached FROM yet" in done.stdout
    assert committed(settings, group, settings.raw_topic) == {p: 1 for p in range(settings.partitions)}


def test_live_members_outside_newsflow_run_are_refused(settings, published, tmp_path):
    base, _ = published
    ends = high_watermarks(settings, settings.raw_topic)
    group = settings.group("cleaner")
    cleaner = subprocess.Popen([sys.executable, "-m", "services.cli", "cleaner"], env=settings_env(settings),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: describe_group(settings, group).live, 60, interval_s=0.5, what="cleaner in its group")
        wait_until(lambda: committed(settings, group, settings.raw_topic) == ends, 60, interval_s=0.5,
                   what="cleaner caught up")
        for window in ([], ["--to", iso(base + 30 * MINUTE)]):
            out = newsflow("replay", "--stage", "cleaner", "--from", iso(base), *window, "--execute",
                           env=settings_env(settings))
            assert out.returncode == 1
            assert "refused" in out.stderr and "1 live member" in out.stderr
            assert "newsflow run" in out.stderr
        assert committed(settings, group, settings.raw_topic) == ends
        assert total_messages(settings, settings.clean_topic) == 60  # the window was not processed either
    finally:
        cleaner.terminate()
        cleaner.wait(30)


def test_under_newsflow_run_a_window_and_a_move_reprocess_exactly_what_they_say(settings, published, tmp_path):
    base, placed = published
    env = pipeline_env(settings, tmp_path)
    with running(env, tmp_path) as run:
        wait_until(lambda: total_messages(settings, settings.clean_topic) == 60 and drained(settings), 120,
                   interval_s=0.5, what="the 60 articles through the pipeline")

        # [FROM, TO] inclusive: the messages of minutes 10..29, 20 of them, while the cleaner stands still
        before_pid = run.service("cleaner")[0]
        out = newsflow("replay", "--stage", "cleaner", "--from", iso(base + 10 * MINUTE),
                       "--to", iso(base + 29 * MINUTE), "--execute", env=env)
        assert out.returncode == 0, out.stderr
        assert "reprocessed 20 message(s)" in out.stdout
        assert "pausing the cleaner" in out.stdout and "resumed the cleaner" in out.stdout
        wait_until(lambda: run.service("cleaner")[0] != before_pid, 10, what="the cleaner started again")
        assert total_messages(settings, settings.clean_topic) == 80
        assert committed(settings, settings.group("cleaner"), settings.raw_topic) == high_watermarks(
            settings, settings.raw_topic)  # it goes on where it was
        stamps = sorted(r.timestamp for r in _clean_records(settings)[60:])
        assert len(stamps) == 20

        # unbounded: the cleaner is paused, moved back to minute 50, resumed; it does the last 10 again
        old_pid = run.service("cleaner")[0]
        out = newsflow("replay", "--stage", "cleaner", "--from", iso(base + 50 * MINUTE), "--execute", env=env)
        assert out.returncode == 0, out.stderr
        assert "pausing the cleaner" in out.stdout and "resumed the cleaner" in out.stdout
        wait_until(lambda: run.service("cleaner")[0] != old_pid, 10, what="the cleaner started again")
        port = run.service("cleaner")[1]
        wait_until(lambda: total_messages(settings, settings.clean_topic) == 90 and drained(settings), 120,
                   interval_s=0.5, what="the moved cleaner catching up")
        assert metric_value(port, "newsflow_messages_in_total") == 10
        assert committed(settings, settings.group("cleaner"), settings.raw_topic) == high_watermarks(
            settings, settings.raw_topic)

        # the sink, all over again: every tagged message stored again, no row added
        tagged = total_messages(settings, settings.tagged_topic)
        assert tagged == 90
        out = newsflow("replay", "--stage", "sink", "--from", "1h", "--execute", env=env)
        assert out.returncode == 0, out.stderr
        assert "pausing the sink" in out.stdout and f"processes {tagged} message(s) again" in out.stdout
        wait_until(lambda: drained(settings), 120, interval_s=0.5, what="the sink again")
        assert metric_value(run.service("sink")[1], "newsflow_messages_in_total") == tagged
        store = open_store(settings.database_url)
        try:
            assert store.count() == 60
        finally:
            store.close()
        assert "exited with code" not in run.log()  # paused and resumed, never died


def _clean_records(settings):
    from tests.integration.running import read_all

    return sorted(read_all(settings, settings.clean_topic), key=lambda r: (r.timestamp, r.partition, r.offset))


def test_a_bounded_sink_replay_stores_the_window_and_keeps_later_revisions_on_top(settings, tmp_path):
    from shared.kafka import make_producer
    from shared.schema import Article, encode

    ensure_topics(settings, pipeline_topics(settings))
    base = int(time.time() * 1000) - 3600_000
    producer = make_producer(settings)

    def send(i: int, article_id: str, title: str):
        art = Article(id=article_id, url=f"https://example.org/{article_id}", source="test", content="x",
                      text="Some clean text.", title=title)
        return producer.send(settings.tagged_topic, key=art.key, value=encode(art), timestamp_ms=base + i * MINUTE)

    for i in range(10):
        send(i, f"a{i}", f"first {i}").get(10)
    send(10, "a3", "a later revision of a3").get(10)  # after the window, same id
    producer.close()
    group = settings.group("sink")
    commit(settings, group, settings.tagged_topic, high_watermarks(settings, settings.tagged_topic))

    out = newsflow("replay", "--stage", "sink", "--from", iso(base + 2 * MINUTE), "--to", iso(base + 5 * MINUTE),
                   "--execute", env=settings_env(settings))
    assert out.returncode == 0, out.stderr
    assert "reprocessed 4 message(s)" in out.stdout  # minutes 2, 3, 4, 5
    assert "1 later revision(s) applied again" in out.stdout
    store = open_store(settings.database_url)
    try:
        titles = {r.id: r.title for r in store.list_articles()}
    finally:
        store.close()
    assert titles == {"a2": "first 2", "a3": "a later revision of a3", "a4": "first 4", "a5": "first 5"}
    assert committed(settings, group, settings.tagged_topic) == high_watermarks(settings, settings.tagged_topic)


def test_bad_windows_are_refused_with_the_reason(settings, published):
    env = settings_env(settings)
    out = newsflow("replay", "--stage", "tagger", "--from", "1h", "--to", "2h", env=env)
    assert out.returncode == 1 and "is before --from" in out.stderr
    out = newsflow("replay", "--stage", "tagger", "--from", "last tuesday", env=env)
    assert out.returncode == 2 and "cannot read 'last tuesday' as a time" in out.stderr


def test_a_bounded_tagger_replay_routes_like_the_tagger(settings):
    from shared.kafka import make_producer
    from shared.schema import Article, encode

    ensure_topics(settings, pipeline_topics(settings, ["taiwan", "balloon", "hotline"]))
    base = int(time.time() * 1000) - 3600_000
    producer = make_producer(settings)
    for i in range(6):
        text = "Taiwan's president spoke in Taipei." if i % 2 else "The harbour council met."
        art = Article(id=f"c{i}", url=f"https://example.org/c{i}", source="test", content=text, text=text,
                      title=f"Item {i}")
        producer.send(settings.clean_topic, key=art.key, value=encode(art), timestamp_ms=base + i * MINUTE).get(10)
    producer.send(settings.clean_topic, key=b"bad", value=b"not json", timestamp_ms=base + 2 * MINUTE + 1).get(10)
    producer.close()
    group = settings.group("tagger")
    commit(settings, group, settings.clean_topic, high_watermarks(settings, settings.clean_topic))

    out = newsflow("replay", "--stage", "tagger", "--from", iso(base + MINUTE), "--to", iso(base + 4 * MINUTE),
                   "--execute", env=settings_env(settings))
    assert out.returncode == 0, out.stderr
    assert "reprocessed 5 message(s)" in out.stdout and "(1 dead-lettered" in out.stdout
    assert total_messages(settings, settings.tagged_topic) == 4  # c1..c4
    assert total_messages(settings, settings.tag_topic("taiwan")) == 2  # c1, c3
    assert total_messages(settings, settings.dlq_topic) == 1


def test_a_bounded_replay_dead_letters_an_oversize_message_as_the_live_stage_does(settings):
    """NEWSFLOW_MAX_MESSAGE_BYTES holds in `replay --to` too: the 20 KB article is too large for
    a stage that takes 8 KB, so it is dead-lettered (its letter keeping only the start of it),
    not cleaned and sent on."""
    from shared.kafka import make_producer
    from shared.schema import Article, DeadLetter, encode
    from tests.integration.running import read_all

    s = settings.model_copy(update={"max_message_bytes": 8 * 1024})
    ensure_topics(s, pipeline_topics(s))
    base = int(time.time() * 1000) - 3600_000
    producer = make_producer(s)
    for i, size in enumerate([200, 20_000, 300]):
        art = Article(id=f"o{i}", url=f"https://example.org/o{i}", source="test", content="word " * (size // 5))
        producer.send(s.raw_topic, key=art.key, value=encode(art), timestamp_ms=base + i * MINUTE).get(10)
    producer.close()
    commit(s, s.group("cleaner"), s.raw_topic, high_watermarks(s, s.raw_topic))

    out = newsflow("replay", "--stage", "cleaner", "--from", iso(base), "--to", iso(base + 2 * MINUTE),
                   "--execute", env=settings_env(s))
    assert out.returncode == 0, out.stderr
    assert "reprocessed 3 message(s)" in out.stdout and "(1 dead-lettered" in out.stdout
    assert total_messages(s, s.clean_topic) == 2
    [letter] = [DeadLetter.decode(r.value) for r in read_all(s, s.dlq_topic)]
    assert letter.reason.startswith("too_large") and letter.stage == "cleaner"


def test_a_bounded_replay_whose_letter_the_broker_refuses_stops_and_says_so(settings):
    """The letter of a 4 KB bad message is refused by a DLQ topic that takes 1 KB: the replay
    stops with the reason instead of reporting success, and the stage's offsets are untouched."""
    from kafka.admin import NewTopic

    from shared.kafka import make_admin, make_producer

    admin = make_admin(settings)
    try:
        admin.create_topics([NewTopic(settings.dlq_topic, 1, 1, topic_configs={"max.message.bytes": "1024"})])
    finally:
        admin.close()
    ensure_topics(settings, pipeline_topics(settings))
    base = int(time.time() * 1000) - 3600_000
    producer = make_producer(settings)
    producer.send(settings.raw_topic, key=b"bad", value=b"{" + b"x" * 4000, timestamp_ms=base).get(10)
    producer.close()
    group = settings.group("cleaner")
    commit(settings, group, settings.raw_topic, high_watermarks(settings, settings.raw_topic))
    before = committed(settings, group, settings.raw_topic)

    out = newsflow("replay", "--stage", "cleaner", "--from", iso(base - MINUTE), "--to", iso(base + MINUTE),
                   "--execute", env=settings_env(settings))
    assert out.returncode == 1, out.stdout
    assert "the replay of the window stopped" in out.stderr and "refused" in out.stderr
    assert "reprocessed" not in out.stdout
    assert committed(settings, group, settings.raw_topic) == before
