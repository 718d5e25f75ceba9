"""The local broker of the embedded mode: Apache Kafka where Java 17+ and its jars are present,
else Tansu (memory-only, for trying newsflow out). NEWSFLOW_BROKER=auto|kafka|tansu chooses.

`newsflow run` starts it (services/supervisor/main.py), `newsflow broker` runs it in the
foreground, and the tests start one per session (tests/conftest.py).
"""
from __future__ import annotations

import logging
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from services.broker import kafka, tansu
from shared.config import Settings
from shared.procs import die_with_parent, free_port, port_open

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
START_TIMEOUT_S = 90.0  # a JVM's start on a loaded 2-core machine, plus log recovery after a kill -9
STOP_TIMEOUT_S = 30.0  # Kafka's controlled shutdown flushes and closes every log segment
TANSU_WARNING = ("the local broker is Tansu: MEMORY-ONLY, every message and offset is lost when it stops, "
                 "no retention, no replay of history; only for trying newsflow out. Install Java 17+ and run "
                 "`make install` to get Apache Kafka")


@dataclass
class LocalBroker:
    process: subprocess.Popen
    port: int
    kind: str  # "kafka" or "tansu"
    version: str
    data_dir: Path

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def durable(self) -> bool:
        """Its topics and offsets survive a restart (Kafka's log on disk; Tansu keeps nothing)."""
        return self.kind == "kafka"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("the local broker did not stop within %.0f s; killing it", timeout_s)
                self.process.kill()
                self.process.wait()


def choose_broker(settings: Settings) -> str:
    """"kafka" or "tansu" for NEWSFLOW_BROKER; auto takes Kafka when it can run here."""
    if settings.broker == "tansu":
        return "tansu"
    try:
        kafka.find_kafka(settings)
        return "kafka"
    except kafka.KafkaUnavailable as exc:
        if settings.broker == "kafka":
            raise RuntimeError(f"NEWSFLOW_BROKER=kafka, but Apache Kafka cannot run here: {exc}") from None
        log.warning("Apache Kafka cannot run here (%s)", exc)
        return "tansu"


def broker_command(settings: Settings, kind: str, data_dir: Path, port: int) -> tuple[list[str], str]:
    """The command that runs the broker, and the version it will run."""
    if kind == "kafka":
        _, controller_port = kafka.previous_ports(data_dir / "kafka")
        if not controller_port or port_open(HOST, controller_port) or controller_port == port:
            controller_port = free_port(HOST)
        install, command = kafka.prepare(settings, data_dir / "kafka", port, controller_port)
        return command, install.version
    return tansu.tansu_command(port), "0.6"


def choose_port(kind: str, data_dir: Path) -> int:
    """A Kafka log folder's previous port when it is free (clients, and the broker's own record
    of where it listens, stay right across restarts), else a free one."""
    if kind == "kafka":
        previous, _ = kafka.previous_ports(data_dir / "kafka")
        if previous and not port_open(HOST, previous):
            return previous
    return free_port(HOST)


def start_broker(settings: Settings, data_dir: Path, port: int = 0, kind: str | None = None) -> LocalBroker:
    """Start the local broker (its files under data_dir) and return once it serves clients."""
    kind = kind or choose_broker(settings)
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or choose_port(kind, data_dir)
    command, version = broker_command(settings, kind, data_dir, port)
    with open(data_dir / "broker.log", "ab") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
            start_new_session=True,  # Ctrl-C must not stop it before the services have committed
        )
    broker = LocalBroker(process, port, kind, version, data_dir)
    try:
        wait_ready(broker, settings)
    except (TimeoutError, RuntimeError) as exc:
        broker.stop(5)
        raise RuntimeError(f"the local broker did not start on port {port}: {exc} (log: {broker.log_file})") from None
    if kind == "kafka":
        log.info("local broker: Apache Kafka %s (KRaft, log kept in %s) on %s, pid %d", version,
                 data_dir / "kafka" / "log", broker.bootstrap, process.pid)
    else:
        log.warning("%s", TANSU_WARNING)
        log.info("local broker: Tansu %s (memory-only) on %s, pid %d", version, broker.bootstrap, process.pid)
    return broker


def wait_ready(broker: LocalBroker, settings: Settings, timeout_s: float = START_TIMEOUT_S) -> None:
    """Until the broker answers a metadata request naming itself, unfenced, at its own port
    (Kafka: registered anew with its controller, not the address an earlier start recorded in
    its log); a listening port alone is not enough."""
    from kafka.errors import KafkaError

    from shared.kafka import make_admin

    ready_settings = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
    deadline = time.monotonic() + timeout_s
    problem = "no answer"
    while time.monotonic() < deadline:
        if broker.process.poll() is not None:
            raise RuntimeError(f"it exited with code {broker.process.returncode}")
        if port_open(HOST, broker.port):
            try:
                admin = make_admin(ready_settings, request_timeout_ms=5000)
                try:
                    brokers = admin.describe_cluster().get("brokers") or []
                    if any(b.get("port") == broker.port and not b.get("is_fenced") for b in brokers):
                        return
                    problem = f"brokers described: {brokers}"
                finally:
                    admin.close()
            except KafkaError as exc:
                problem = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    raise TimeoutError(f"not ready within {timeout_s:.0f} s ({problem})")


def main(settings: Settings) -> None:
    """`newsflow broker`: the local broker in the foreground, on NEWSFLOW_BROKER_PORT (9092)."""
    kind = choose_broker(settings)
    port = settings.broker_port or 9092
    command, version = broker_command(settings, kind, settings.data_dir.resolve(), port)
    if kind == "tansu":
        log.warning("%s", TANSU_WARNING)
    log.info("%s %s on %s:%d: exec %s", "Apache Kafka" if kind == "kafka" else "Tansu", version, HOST, port,
             " ".join(command))
    os.execv(command[0], command)
