"""Which pipeline a command works on: the `newsflow run` of this data dir, or the configured broker.

In the embedded default only the running supervisor knows its broker's address, so replay,
retag, backfill and dlq read it (with the topics, groups and database the services use) from
the supervisor's control channel. With NEWSFLOW_KAFKA_BOOTSTRAP set to another broker the
supervisor found is not running that pipeline and is left alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.supervisor.control import SupervisorClient, find_supervisor
from shared.config import Settings
from shared.pipeline.topology import input_topic


class NoPipeline(RuntimeError):
    pass


@dataclass
class Pipeline:
    settings: Settings
    supervisor: SupervisorClient | None = None

    def runs(self, service: str) -> bool:
        """True when `newsflow run` runs this service (and so can pause it)."""
        if self.supervisor is None:
            return False
        state = self.supervisor.status()["services"].get(service, {}).get("state")
        return state in ("running", "restarting", "paused")

    def input_topic(self, stage: str) -> str:
        return input_topic(self.settings, stage)


def _servers(bootstrap: str) -> set[str]:
    return {s.strip() for s in bootstrap.split(",") if s.strip()}


def attach(settings: Settings) -> Pipeline:
    supervisor = find_supervisor(settings.data_dir)
    if supervisor is not None:
        running = supervisor.status()["settings"]
        if not settings.kafka_bootstrap or _servers(settings.kafka_bootstrap) == _servers(running["kafka_bootstrap"]):
            update = {k: running[k] for k in ("kafka_bootstrap", "topic_prefix", "group_prefix", "partitions", "db_url")}
            update["taxonomy_file"] = Path(running["taxonomy_file"])
            # a new object, not model_copy(): that would keep a cached database_url
            return Pipeline(Settings(**{**settings.model_dump(), **update}), supervisor)
    if not settings.kafka_bootstrap:
        raise NoPipeline(
            f"no broker to work on: NEWSFLOW_KAFKA_BOOTSTRAP is not set and no `newsflow run` is running "
            f"with the data dir {settings.data_dir.resolve()} (set NEWSFLOW_DATA_DIR to the one it uses)"
        )
    return Pipeline(settings)
