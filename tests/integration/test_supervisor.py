"""`newsflow run` as a user runs it: Ctrl-C leaves nothing behind; a service that keeps dying ends the run."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from tests.integration.helpers import metric_value, started_pids, wait_until

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] != "Z"


def _clean_env(tmp_path, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env.update(NEWSFLOW_DATA_DIR=str(tmp_path / "data"), NEWSFLOW_METRICS_BASE_PORT="0", **extra)
    return env


def test_ctrl_c_stops_every_process_it_started(tmp_path):
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log:
        run = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run"], env=_clean_env(tmp_path),
            stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        pids = wait_until(lambda: len(started_pids(log_path.read_text())) == 4, 60, what="four services")
        pids = started_pids(log_path.read_text())
        broker_pid = int(re.search(r"local broker .* pid (\d+)", log_path.read_text()).group(1))
        # every service serves /metrics
        for name, (_pid, port) in pids.items():
            wait_until(lambda: metric_value(port, "newsflow_build_info"), 60, what=f"{name} /metrics")
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=60) == 0, log_path.read_text()[-3000:]
    finally:
        if run.poll() is None:
            run.kill()
    for name, (pid, _port) in pids.items():
        assert not _alive(pid), f"{name} (pid {pid}) is still running"
    assert not _alive(broker_pid), "the local broker is still running"
    assert "local broker stopped" in log_path.read_text()


def test_a_service_that_keeps_dying_ends_the_run_saying_why(tmp_path):
    env = _clean_env(tmp_path, NEWSFLOW_DB_URL="nosuchdb://x", NEWSFLOW_RESTART_LIMIT="3")
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "run"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "sink died 3 times" in done.stderr
    assert "giving up" in done.stderr
