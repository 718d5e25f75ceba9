"""Two workers of the cleaner and two of the tagger in one group (NEWSFLOW_WORKERS) share the
partitions; a rebalance in the middle of a run (one worker stopped, one killed, both started
again by the supervisor) loses and doubles nothing."""
from __future__ import annotations

import os
import signal

import pytest

from tests.conftest import settings_env
from tests.integration.helpers import metric_value, started_pids, wait_until, write_jsonl
from tests.integration.running import run_once
from tests.integration.test_faults import _stored_urls

pytestmark = pytest.mark.integration
TOTAL = 3000


def test_two_workers_per_stage_share_the_work_and_a_rebalance_loses_nothing(settings, tmp_path):
    settings = settings.model_copy(update={"partitions": 4})
    urls = write_jsonl(tmp_path / "bulk.jsonl", TOTAL, seed=11)
    env = settings_env(settings) | {"NEWSFLOW_METRICS_BASE_PORT": "0", "NEWSFLOW_WORKERS": "cleaner=2,tagger=2"}
    workers = ("cleaner", "cleaner-2", "tagger", "tagger-2")
    with run_once(env, tmp_path, tmp_path / "bulk.jsonl") as run:
        pids = wait_until(lambda: (p := started_pids(run.log())) and all(w in p for w in workers) and p,
                          60, what="two workers per stage")
        consumed = lambda name: metric_value(pids[name][1], "newsflow_messages_in_total") or 0  # noqa: E731
        # both workers of a stage at work: the group split the partitions between them
        wait_until(lambda: all(consumed(w) > 0 for w in workers), 120, interval_s=0.1, what="every worker at work")
        before = {w: consumed(w) for w in workers}
        assert sum(before.values()) < 2 * TOTAL, "the rebalance must come in the middle of the run"
        os.kill(pids["cleaner-2"][0], signal.SIGTERM)  # leaves the group
        os.kill(pids["tagger"][0], signal.SIGKILL)  # found gone when its session times out
        assert run.process.wait(timeout=300) == 0, run.log()[-4000:]
    text = run.log()
    assert "cleaner-2 exited with code 0; restarting" in text and "tagger exited with code -9; restarting" in text
    stored = _stored_urls(tmp_path / "news.db")
    assert len(stored) == TOTAL
    assert sorted(stored) == sorted(urls)
    print(f"\nmessages each worker had consumed when the rebalance began: {before}")
