"""The tagger's taxonomy watcher: a changed file is picked up, a broken one is not."""
from __future__ import annotations

from prometheus_client import CollectorRegistry

from services.tagger.metrics import TaggerMetrics
from services.tagger.reload import TaxonomyWatcher

ONE = """version: "1"
topics:
  taiwan: {threshold: 1, phrases: [Taiwan]}
"""
TWO = ONE.replace('"1"', '"2"') + "  pelosi: {threshold: 1, phrases: [Nancy Pelosi]}\n"


def test_a_changed_file_is_loaded_once(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text(ONE)
    watcher = TaxonomyWatcher(path)
    assert watcher.taxonomy.version == "1"
    assert watcher.changed() is None
    path.write_text(TWO)
    new = watcher.changed()
    assert new is not None and new.version == "2"
    assert [t.name for t in new.topics] == ["taiwan", "pelosi"]
    watcher.accept(new)
    assert watcher.changed() is None  # the same content again is no change


def test_a_broken_file_keeps_the_taxonomy_in_use_and_says_why(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text(ONE)
    watcher = TaxonomyWatcher(path)
    path.write_text("version: '3'\ntopics:\n  Bad Name: {threshold: 1, phrases: [x]}\n")
    assert watcher.changed() is None
    assert "Bad Name" in watcher.error
    assert watcher.taxonomy.version == "1"
    path.write_text(TWO)
    assert watcher.changed().version == "2"
    assert watcher.error is None


def test_retry_looks_at_an_unchanged_file_again(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text(ONE)
    watcher = TaxonomyWatcher(path)
    path.write_text(TWO)
    assert watcher.changed().version == "2"
    watcher.retry()  # e.g. the topics of the new tags could not be created
    assert watcher.changed().version == "2"


def test_the_info_metric_exports_only_the_version_in_use():
    registry = CollectorRegistry()
    metrics = TaggerMetrics(registry, "1")
    metrics.set_taxonomy("2")
    assert registry.get_sample_value("newsflow_taxonomy_info", {"version": "2"}) == 1
    assert registry.get_sample_value("newsflow_taxonomy_info", {"version": "1"}) is None
