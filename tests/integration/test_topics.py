"""`newsflow topics`, the one-shot topic creation of docker-compose.yml, on the real broker."""
from __future__ import annotations

import pytest

from shared.kafka import ensure_topics
from tests.conftest import newsflow, settings_env

pytestmark = pytest.mark.integration


def test_creates_what_is_missing_and_reports_fewer_partitions(settings):
    env = settings_env(settings)
    narrow = settings.model_copy(update={"partitions": 1})
    ensure_topics(narrow, [settings.clean_topic])  # made earlier with one partition

    first = newsflow("topics", env=env, timeout=60)
    assert first.returncode == 0, first.stderr
    lines = {line.split()[0]: line for line in first.stdout.splitlines()}
    expected = [settings.raw_topic, settings.clean_topic, settings.tagged_topic, settings.dlq_topic] + [
        settings.tag_topic(t) for t in ("taiwan", "balloon", "hotline")]
    assert sorted(lines) == sorted(expected)
    assert lines[settings.raw_topic].split()[1:] == ["3", "partitions", "(created)"]
    assert lines[settings.clean_topic].split()[1:] == ["1", "partitions"]
    assert f"note: {settings.clean_topic} has fewer partitions than NEWSFLOW_PARTITIONS=3" in first.stderr

    again = newsflow("topics", env=env, timeout=60)
    assert again.returncode == 0 and "(created)" not in again.stdout


def test_without_a_broker_it_says_so(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    done = newsflow("topics", env=env, timeout=60)
    assert done.returncode == 1
    assert "NEWSFLOW_KAFKA_BOOTSTRAP is not set" in done.stderr and "Traceback" not in done.stderr
