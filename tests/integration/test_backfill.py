"""Acceptance of backfill: 10,000 generated files (our own words) through the live pipeline,
twice: progress with its rate, the same ids published both times, each article stored once."""
from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from services.sink.store import open_store
from shared.kafka import high_watermarks
from tests.conftest import newsflow
from tests.integration.helpers import WORDS
from tests.integration.running import pipeline_env, read_all, running, wait_drained

pytestmark = pytest.mark.integration
FILES = 10_000


def _generate(folder, n: int) -> None:
    rng = random.Random(11)
    for i in range(n):
        sub = folder / f"{i // 1000:02d}"
        sub.mkdir(exist_ok=True)
        body = " ".join(rng.choice(WORDS) for _ in range(40))
        (sub / f"report-{i:05d}.txt").write_text(f"Archived report {i} on the {rng.choice(WORDS)}\n\n{body}.\n")


def _count(url: str) -> int:
    store = open_store(url)
    try:
        return store.count()
    finally:
        store.close()


@pytest.mark.timeout(900)  # three waits of up to 300 s each
def test_backfill_of_10000_files_shows_progress_and_stores_each_once(settings, store_url, tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    _generate(archive, FILES)
    env = pipeline_env(settings, tmp_path, NEWSFLOW_DB_URL=store_url)
    with running(env, tmp_path) as run:
        first = newsflow("backfill", str(archive), env=env, timeout=300)
        assert first.returncode == 0, first.stderr[-3000:]
        assert "published 10,000 article(s) from 10,000 file(s)" in first.stdout
        assert "0 could not be read" in first.stdout
        progress = [line for line in first.stderr.splitlines() if line.startswith("backfill: ")]
        assert progress, first.stderr[-2000:]
        assert progress[-1].startswith("backfill: 10,000/10,000 files (100%)")
        assert all(line.endswith("articles/s") for line in progress)

        second = newsflow("backfill", str(archive), env=env, timeout=300)
        assert second.returncode == 0, second.stderr[-3000:]
        assert "published 10,000 article(s)" in second.stdout

        wait_drained(settings, run, 280)
        assert _count(store_url) == FILES
    keys = Counter(r.key for r in read_all(settings, settings.raw_topic))
    assert len(keys) == FILES and set(keys.values()) == {2}  # the same ids, twice
    assert sum(high_watermarks(settings, settings.raw_topic).values()) == 2 * FILES


def test_backfill_rate_limit_and_bad_files(settings, tmp_path):
    archive = tmp_path / "archive"
    archive.mkdir()
    _generate(archive, 30)
    (archive / "empty.txt").write_text("   \n")
    (archive / "picture.png").write_bytes(b"\x89PNG")
    env = pipeline_env(settings, tmp_path)
    out = newsflow("backfill", str(archive), "--rate", "20", env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "published 30 article(s) from 32 file(s)" in out.stdout
    assert "2 could not be read" in out.stdout
    assert "empty file" in out.stderr and "unsupported file type '.png'" in out.stderr
    rate = float(re.search(r"\(([\d,.]+) articles/s\)", out.stdout).group(1).replace(",", ""))
    assert rate <= 21  # limited: 30 articles take at least ~1.5 s at 20/s
    assert sum(high_watermarks(settings, settings.raw_topic).values()) == 30


def test_backfill_without_a_broker_says_what_to_do(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env["NEWSFLOW_DATA_DIR"] = str(tmp_path / "data")
    out = newsflow("backfill", str(tmp_path), env=env)
    assert out.returncode == 1
    assert "NEWSFLOW_KAFKA_BOOTSTRAP is not set and no `newsflow run` is running" in out.stderr
