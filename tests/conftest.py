"""Shared fixtures: the real local broker (Tansu), isolated settings, the seeds folder."""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SEEDS = SHARED / "seeds"
TESTDATA = SHARED / "testdata"
_counter = itertools.count()


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """One Tansu broker for the session; tests isolate themselves by topic and group prefix."""
    from services.broker.main import start_broker

    log_file = tmp_path_factory.mktemp("broker") / "broker.log"
    local = start_broker(0, log_file)
    yield local
    local.stop()


@pytest.fixture
def settings(broker, tmp_path) -> Settings:
    """Settings for one test: its own topics, groups, data folder and SQLite database."""
    n = next(_counter)
    return Settings(
        kafka_bootstrap=broker.bootstrap,
        topic_prefix=f"t{n}-{os.getpid()}",
        group_prefix=f"g{n}-{os.getpid()}",
        data_dir=tmp_path / "data",
        db_url=f"sqlite:///{tmp_path / 'news.db'}",
        partitions=3,
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that hands `settings` to a newsflow subprocess."""
    env = dict(os.environ)
    for name, value in settings.model_dump(exclude_defaults=True).items():
        env[f"NEWSFLOW_{name.upper()}"] = str(value)
    return env


def newsflow(*args: str, env: dict[str, str], timeout: float = 240, cwd: Path | None = None):
    """Run the real `newsflow` command line; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture
def seeds() -> Path:
    if not SEEDS.is_dir():
        pytest.skip(f"seed articles not found at {SEEDS}")
    return SEEDS
