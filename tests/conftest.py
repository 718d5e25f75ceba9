"""Shared fixtures: the real local broker, isolated settings, the seeds folder.

The broker is Apache Kafka (`make install` fetches it) unless NEWSFLOW_TEST_BROKER=tansu; `make
test` runs the whole suite on Kafka, then the tests marked `fallback` on Tansu.
"""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from shared.config import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SEEDS = SHARED / "seeds"
TESTDATA = SHARED / "testdata"
_counter = itertools.count()
# PostgreSQL on this machine (trust auth); each test gets a schema of its own inside `test`.
PG_BASE = os.environ.get("NEWSFLOW_TEST_PG", "postgresql://127.0.0.1:5432/test")
TEST_BROKER = os.environ.get("NEWSFLOW_TEST_BROKER", "kafka")
if TEST_BROKER not in ("kafka", "tansu"):
    raise pytest.UsageError(f"NEWSFLOW_TEST_BROKER={TEST_BROKER!r}: kafka or tansu")


def start_test_broker(data_dir: Path, port: int = 0):
    """A local broker of the kind under test (NEWSFLOW_TEST_BROKER), its files in data_dir.

    Kafka must be there when it is asked for: no silent fall back to Tansu (run `make install`).
    """
    from services.broker.main import start_broker

    return start_broker(Settings(broker=TEST_BROKER, partitions=1), data_dir, port, TEST_BROKER)


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """One broker for the session; tests isolate themselves by topic and group prefix."""
    local = start_test_broker(tmp_path_factory.mktemp("broker"))
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
        metrics_base_port=0,  # free ports: test runs side by side must not race for 9301-9304
        broker=broker.kind,  # a `newsflow run` that starts its own broker starts this kind
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that hands `settings` to a newsflow subprocess."""
    env = dict(os.environ)
    for name, value in settings.model_dump(exclude_defaults=True).items():
        env[f"NEWSFLOW_{name.upper()}"] = str(value)
    return env


def newsflow(*args: str, env: dict[str, str], timeout: float = 240, cwd: Path | None = None):
    """Run the real `newsflow` command line; returns the CompletedProcess. One that does not end
    within `timeout` fails the test with the end of what it printed (its services' logs)."""
    process = subprocess.Popen([sys.executable, "-m", "services.cli", *args], env=env, cwd=cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        from tests.integration.helpers import ask_for_stacks, tail_and_stacks

        ask_for_stacks(exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or ""))
        try:
            _, err = process.communicate(timeout=2)  # the stacks, written without stopping the services
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        raise AssertionError(f"`newsflow {' '.join(args)}` still running after {timeout:.0f} s; it printed, "
                             f"last:\n{tail_and_stacks(err)}") from None
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.fixture
def seeds() -> Path:
    if not SEEDS.is_dir():
        pytest.skip(f"seed articles not found at {SEEDS}")
    return SEEDS


def pg_unavailable() -> str | None:
    """Why PostgreSQL cannot be tested here, or None when a server answers."""
    try:
        import psycopg

        with psycopg.connect(PG_BASE, connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure means: no server to test against
        return f"no PostgreSQL at {PG_BASE}: {exc}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A database URL for one test, on SQLite and on PostgreSQL (a schema of its own, dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with pg_schema() as url:
        yield url


@contextmanager
def pg_schema():
    """The URL of a schema of its own in PostgreSQL's `test` database, dropped after (skips without a server)."""
    reason = pg_unavailable()
    if reason:
        pytest.skip(reason)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
