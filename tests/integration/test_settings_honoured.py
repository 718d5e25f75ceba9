"""Settings that a service must honour, and configuration mistakes that must read as such."""
from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from tests.conftest import newsflow
from tests.integration.running import pipeline_env

pytestmark = pytest.mark.integration


def test_the_poller_sends_batches_of_NEWSFLOW_PRODUCER_BATCH_BYTES(settings):
    from services.poller.main import Poller

    s = settings.model_copy(update={"producer_batch_bytes": 48 * 1024})
    poller = Poller(s, CollectorRegistry())
    try:
        assert poller.producer.config["batch_size"] == 48 * 1024
    finally:
        poller.close()


def test_a_taxonomy_that_is_not_yaml_stops_run_with_the_file_and_the_reason(settings, tmp_path):
    bad = tmp_path / "taxonomy.yaml"
    bad.write_text("version: 1\ntopics: {taiwan: [unclosed\n")
    story = tmp_path / "story.txt"
    story.write_text("A title\n\nSome text.\n")
    env = pipeline_env(settings, tmp_path, NEWSFLOW_TAXONOMY_FILE=str(bad))
    done = newsflow("run", "--once", "--ingest", str(story), env=env, timeout=60)
    assert done.returncode == 1
    assert f"{bad}: not valid YAML" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
