"""Acceptance of retag, on the real broker and on both databases: the seeds, then a taxonomy
with a `pelosi` topic; the dry run lists exactly 002 and 003 and changes nothing; the retag
stores the tag on those two through the live tagger and sink, and the row count stays 5."""
from __future__ import annotations

import os
import re

import pytest

from services.sink.store import open_store
from shared.config import Settings
from shared.kafka import high_watermarks
from tests.conftest import newsflow
from tests.integration.helpers import metric_value, wait_until
from tests.integration.running import drained, pipeline_env, running

pytestmark = pytest.mark.integration
PELOSI = """
  pelosi:
    description: Nancy Pelosi
    threshold: 1.0
    phrases:
      - Nancy Pelosi
      - text: Pelosi
        weight: 1.0
"""


def _rows(url: str) -> dict[str, dict]:
    store = open_store(url)
    try:
        return {os.path.basename(r.url)[:3]: r for r in store.list_articles()}
    finally:
        store.close()


def _with_pelosi(default: str) -> str:
    text = re.sub(r'^version: "([^"]+)"', 'version: "pelosi-2"', default, count=1, flags=re.MULTILINE)
    assert text != default
    return text.rstrip("\n") + "\n" + PELOSI


def test_retag_adds_pelosi_to_002_and_003_only(settings, seeds, store_url, tmp_path):
    default = Settings().taxonomy_file.read_text()
    live = tmp_path / "taxonomy.yaml"
    live.write_text(default)
    new = tmp_path / "with-pelosi.yaml"
    new.write_text(_with_pelosi(default))
    env = pipeline_env(settings, tmp_path, NEWSFLOW_DB_URL=store_url, NEWSFLOW_TAXONOMY_FILE=str(live))

    with running(env, tmp_path, "--ingest", str(seeds)) as run:
        wait_until(lambda: len(_rows(store_url)) == 5 and drained(settings), 180, interval_s=0.5,
                   what="the five seeds stored")
        before = _rows(store_url)
        assert not any("pelosi" in r.tags for r in before.values())

        dry = newsflow("retag", "--taxonomy", str(new), "--dry-run", env=env)
        assert dry.returncode == 0, dry.stderr
        changed = [line for line in dry.stdout.splitlines() if line.startswith("  +") or line.startswith("  -")]
        assert len(changed) == 2, dry.stdout
        assert sorted(re.search(r"/(\d{3})_[^/]*$", line).group(1) for line in changed) == ["002", "003"]
        assert all(line.split()[0] == "+pelosi" for line in changed)
        assert "per tag: pelosi +2 -0" in dry.stdout
        assert "2 of 5 article(s) would change" in dry.stdout
        # nothing changed: rows, the live taxonomy, the topics
        assert _rows(store_url) == before
        assert live.read_text() == default
        assert settings.tag_topic("pelosi") not in _topics(settings)

        done = newsflow("retag", "--taxonomy", str(new), env=env, timeout=300)
        assert done.returncode == 0, done.stderr + done.stdout
        assert "stored articles 5 before, 5 after" in done.stdout
        after = _rows(store_url)
        assert len(after) == 5
        assert {k for k, r in after.items() if "pelosi" in r.tags} == {"002", "003"}
        for key, row in after.items():
            assert set(row.tags) - {"pelosi"} == set(before[key].tags), key  # the rest is as it was
            assert row.taxonomy_version == "pelosi-2"
        assert live.read_text() == new.read_text()
        # the per-tag topic and the tagger's metrics reflect it
        assert sum(high_watermarks(settings, settings.tag_topic("pelosi")).values()) == 2
        port = run.service("tagger")[1]
        assert metric_value(port, 'newsflow_articles_tagged_total{tag="pelosi"}') == 2
        assert metric_value(port, 'newsflow_taxonomy_info{version="pelosi-2"}') == 1


def test_retag_refuses_a_broken_file_and_a_reused_version(settings, tmp_path):
    live = tmp_path / "taxonomy.yaml"
    live.write_text(Settings().taxonomy_file.read_text())
    env = pipeline_env(settings, tmp_path, NEWSFLOW_TAXONOMY_FILE=str(live))
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: '9'\ntopics:\n  Pelosi: {threshold: 1, phrases: [Pelosi]}\n")
    out = newsflow("retag", "--taxonomy", str(broken), "--dry-run", env=env)
    assert out.returncode == 1
    assert "does not load" in out.stderr and "Pelosi" in out.stderr
    same_version = tmp_path / "same.yaml"
    same_version.write_text(live.read_text().rstrip("\n") + "\n" + PELOSI)
    out = newsflow("retag", "--taxonomy", str(same_version), env=env)
    assert out.returncode == 1
    assert "bump its `version`" in out.stderr
    assert "Traceback" not in out.stderr


def _topics(settings) -> set[str]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=[settings.kafka_bootstrap])
    try:
        return set(admin.list_topics())
    finally:
        admin.close()
