"""The shared pipeline layer without a broker: the step, the dead-letter limit, the topology,
and stages chained in-process."""
from __future__ import annotations

import orjson
import pytest

from shared.config import Settings
from shared.pipeline import topology
from shared.pipeline.limit import DeadLetterLimit, DlqLimit
from shared.pipeline.local import run_locally
from shared.pipeline.step import STORE, Origin, keep_for_store, step
from shared.schema import Article, encode

ORIGIN = Origin("news.raw", 2, 41, b"k")


def _raw(i: int, **kw) -> bytes:
    fields = dict(id=f"a{i}", url=f"https://example.org/{i}", source="demo",
                  content=f"Harbour council story {i}.\n\nThe council met on Monday about the sea wall.")
    fields.update(kw)
    return encode(Article(**fields))


def test_a_good_record_gives_the_transforms_outputs():
    outcome = step("cleaner", _raw(1), ORIGIN, lambda a: [("t", a)], 1024 * 1024)
    assert not outcome.dead and [t for t, _ in outcome.outputs] == ["t"]
    assert outcome.outputs[0][1].id == "a1"


@pytest.mark.parametrize("value, kind", [
    (b"not json", "not_json"),
    (None, "empty"),
    (orjson.dumps({"schema": 99}), "schema_version"),
    (b"x" * 5000, "too_large"),
])
def test_bad_input_is_a_letter_that_points_back_at_it(value, kind):
    outcome = step("cleaner", value, ORIGIN, lambda a: [("t", a)], 2048)
    assert outcome.dead and outcome.kind == kind and outcome.outputs == ()
    letter = outcome.letter
    assert (letter.stage, letter.topic, letter.partition, letter.offset, letter.key) == ("cleaner", "news.raw", 2, 41, b"k")
    assert letter.reason.startswith(kind)


def test_an_oversize_original_is_kept_only_in_part():
    outcome = step("sink", b"y" * 200_000, ORIGIN, keep_for_store(), 4096)
    assert outcome.letter.original_size == 200_000 and len(outcome.letter.original) < 200_000


def test_a_transform_that_raises_is_the_inputs_fault():
    def broken(_article):
        raise KeyError("no such field")

    outcome = step("tagger", _raw(1), ORIGIN, broken, 1024 * 1024)
    assert outcome.dead and outcome.kind == "KeyError"


def test_the_limit_stops_a_run_of_consecutive_letters_and_not_one_short_of_it():
    limit = DlqLimit(max_consecutive=5, max_ratio=1.0)
    for dead in [True] * 4 + [False] + [True] * 4:
        limit.record(dead)
    with pytest.raises(DeadLetterLimit, match="5 messages in a row"):
        limit.record(True)


def test_the_limit_stops_past_a_ratio_over_its_window_only_once_the_window_is_full():
    limit = DlqLimit(max_consecutive=0, max_ratio=0.5, window=10)
    for dead in [True, True, False] * 3:  # 6 of 9: the window is not full yet
        limit.record(dead)
    with pytest.raises(DeadLetterLimit, match="of the last 10 messages"):
        limit.record(True)  # 7 of 10


def test_the_limit_lets_a_healthy_stream_with_some_letters_through():
    limit = DlqLimit(max_consecutive=3, max_ratio=0.5, window=10)
    for i in range(1000):
        limit.record(i % 4 == 0)


def test_the_topology_names_each_stage_once_and_chains_them():
    names = topology.STAGE_NAMES
    assert len(set(names)) == len(names) and topology.SERVICES[0] == topology.PRODUCER
    inputs = [s.input for s in topology.STAGES]
    assert inputs[0] == topology.RAW
    for before, after in zip(topology.STAGES, topology.STAGES[1:]):
        assert after.input in before.outputs  # each stage reads what the one before writes
    assert topology.downstream_of(topology.RAW) == topology.STAGE_NAMES
    assert topology.downstream_of(topology.CLEAN) == ("tagger", "sink")
    with pytest.raises(ValueError, match="stages: cleaner, tagger, sink"):
        topology.stage("nope")


def test_stages_chained_in_process_clean_tag_and_store(tmp_path):
    from services.tagger.taxonomy import load_taxonomy

    taxonomy = tmp_path / "taxonomy.yaml"
    taxonomy.write_text("version: t1\ntopics:\n  harbour:\n    threshold: 1.0\n    phrases: [sea wall, harbour council]\n")
    settings = Settings(data_dir=tmp_path, taxonomy_file=taxonomy)
    run = run_locally(settings, [_raw(1), b"junk", _raw(2, content="Nothing of interest here at all today.")],
                      taxonomy=load_taxonomy(taxonomy))
    assert [a.id for a in run.stored] == ["a1", "a2"]
    assert [t.name for t in run.stored[0].tags] == ["harbour"] and run.stored[1].tags == []
    assert [a.id for a in run.topics[settings.tag_topic("harbour")]] == ["a1"]
    assert len(run.topics[settings.clean_topic]) == 2 and run.stored[0].text  # the cleaner ran first
    assert [(l.stage, l.offset) for l in run.letters] == [("cleaner", 1)]
    assert STORE in run.topics


def test_every_reader_of_the_pipeline_shape_follows_the_topology():
    """Adding a stage or renaming a topic is done in shared/pipeline/topology.py: the supervisor,
    replay, status and the CLI take it from there."""
    from click.testing import CliRunner

    from services.cli import cli
    from services.replay.context import Pipeline
    from services.status.report import STAGES as STATUS_LINES
    from services.supervisor.children import worker_names

    settings = Settings(topic_prefix="walk", workers="")
    assert worker_names(settings) == list(topology.SERVICES)
    pipeline = Pipeline(settings)
    for declared in topology.STAGES:
        assert pipeline.input_topic(declared.name) == f"walk.{declared.input}"
    assert tuple(STATUS_LINES) == topology.SERVICES
    assert [stage for stage, _topic in topology.drain_checks()] == list(topology.STAGE_NAMES)
    assert topology.pipeline_topics(settings, ["x"]) == ["walk.raw", "walk.clean", "walk.tagged", "walk.dlq",
                                                          "walk.topic.x"]
    for command in (["replay"], ["dlq", "list"]):
        help_text = CliRunner().invoke(cli, [*command, "--help"]).output
        assert "[" + "|".join(topology.STAGE_NAMES) + "]" in help_text.replace("\n", "").replace(" ", "")
