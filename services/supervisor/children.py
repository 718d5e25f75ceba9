"""The processes `newsflow run` supervises: one Child per worker, named from the topology."""
from __future__ import annotations

import logging
import subprocess
from collections import deque
from dataclasses import dataclass, field

from shared.config import Settings
from shared.pipeline.topology import PRODUCER, SERVICES, STAGES
from shared.procs import die_with_parent

log = logging.getLogger("newsflow.supervisor")


@dataclass
class Child:
    name: str  # the stage; a stage's further workers are <stage>-2, <stage>-3...
    command: list[str]
    env: dict[str, str]
    metrics_port: int
    process: subprocess.Popen | None = None
    deaths: deque = field(default_factory=deque)
    restart_at: float | None = None
    finished: bool = False  # a --once poller that exited 0 is done, not dead
    paused_until: float | None = None  # paused through the control channel (replay), until then at most

    @property
    def stage(self) -> str:
        return self.name.split("-", 1)[0]

    def start(self) -> None:
        # A session of its own: the terminal's Ctrl-C reaches only the supervisor, which then
        # stops the services before the broker they need to flush and commit.
        self.process = subprocess.Popen(
            self.command, env=self.env, preexec_fn=die_with_parent, start_new_session=True
        )
        self.restart_at = None
        log.info(
            "started %-7s pid %-7d metrics http://127.0.0.1:%d/metrics",
            self.name, self.process.pid, self.metrics_port,
        )


def worker_names(settings: Settings) -> list[str]:
    """One name per process: the stage, then <stage>-2, <stage>-3... for NEWSFLOW_WORKERS."""
    counts = settings.worker_counts
    scalable = [s.name for s in STAGES if s.scales]
    unknown = sorted(set(counts) - set(SERVICES))
    if unknown:
        raise ValueError(f"NEWSFLOW_WORKERS names no stage {', '.join(unknown)} (stages: {', '.join(scalable)})")
    if counts.get(PRODUCER, 1) != 1:
        raise ValueError(f"NEWSFLOW_WORKERS: one {PRODUCER} only (two would poll every feed twice)")
    single = [name for name, n in counts.items() if n > 1 and name in SERVICES and name not in scalable + [PRODUCER]]
    if single:
        raise ValueError(f"NEWSFLOW_WORKERS: {', '.join(single)} cannot run more than one worker")
    names = []
    for stage in SERVICES:
        names += [stage] + [f"{stage}-{i}" for i in range(2, counts.get(stage, 1) + 1)]
    return names


def state_of(child: Child) -> str:
    if child.finished:
        return "finished"
    if child.paused_until is not None:
        return "paused"
    if child.restart_at is not None:
        return "restarting"
    return "running" if child.process and child.process.poll() is None else "stopped"
