"""The embedded Apache Kafka: one KRaft node (broker and controller in one JVM) on 127.0.0.1.

Its jars come from Maven Central through `make install` (deploy/kafka/pom.xml, copied into
<venv>/kafka/libs), or from an unpacked distribution named by NEWSFLOW_KAFKA_HOME. Its log lives
under <data dir>/kafka: formatted on the first start, kept across restarts, with retention by
time and size from the settings. Nothing is downloaded at run time.
"""
from __future__ import annotations

import base64
import logging
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shared.config import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)
MIN_JAVA = 17  # Kafka 4.x brokers need Java 17 or later
LOG4J_CONFIG = PROJECT_ROOT / "deploy" / "kafka" / "log4j2.properties"
_JAR_VERSION = re.compile(r"^kafka_2\.\d+-(\d[\w.\-]*)\.jar$")


class KafkaUnavailable(RuntimeError):
    """Java or the broker's jars are missing: says which, and how to get them."""


@dataclass(frozen=True)
class KafkaInstall:
    java: str
    libs: Path
    version: str

    def classpath(self) -> str:
        return str(self.libs / "*")


def java_major(java: str) -> int | None:
    """The major version of a `java` executable (None if it does not run)."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major  # "1.8" is Java 8


@lru_cache(maxsize=1)
def find_java() -> str | None:
    """A java of version >= 17: JAVA_HOME's, the one on PATH, then any under /usr/lib/jvm."""
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    if shutil.which("java"):
        candidates.append(shutil.which("java"))
    candidates += sorted(str(p) for p in Path("/usr/lib/jvm").glob("*/bin/java"))
    for java in candidates:
        major = java_major(java)
        if major is not None and major >= MIN_JAVA:
            return java
    return None


def default_libs() -> list[Path]:
    """Where `make install` puts the jars: the running virtual environment's kafka/libs."""
    return [Path(sys.prefix) / "kafka" / "libs", PROJECT_ROOT / ".venv" / "kafka" / "libs"]


def kafka_libs(settings: Settings) -> Path | None:
    if settings.kafka_home:
        libs = Path(settings.kafka_home) / "libs"
        return libs if jar_version(libs) else None
    return next((libs for libs in default_libs() if jar_version(libs)), None)


def jar_version(libs: Path) -> str | None:
    """The Kafka version of a libs folder, from its kafka_2.13-<version>.jar."""
    if not libs.is_dir():
        return None
    for jar in libs.iterdir():
        found = _JAR_VERSION.match(jar.name)
        if found:
            return found.group(1)
    return None


def find_kafka(settings: Settings) -> KafkaInstall:
    """Java >= 17 and the broker's jars, or KafkaUnavailable saying what is missing."""
    java = find_java()
    if java is None:
        raise KafkaUnavailable(f"no Java {MIN_JAVA} or later (JAVA_HOME, PATH, /usr/lib/jvm)")
    libs = kafka_libs(settings)
    if libs is None:
        where = (f"NEWSFLOW_KAFKA_HOME={settings.kafka_home} has no libs/kafka_2.13-*.jar" if settings.kafka_home
                 else f"no Kafka jars in {' or '.join(map(str, default_libs()))} (run `make install`)")
        raise KafkaUnavailable(where)
    return KafkaInstall(java, libs, jar_version(libs) or "?")


def server_properties(settings: Settings, log_dir: Path, port: int, controller_port: int) -> str:
    """The broker's configuration: one node, loopback only, the retention the settings ask for."""
    host = "127.0.0.1"
    retention_ms = int(settings.kafka_retention_hours * 3600 * 1000)
    lines = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": str(settings.partitions),
        # newsflow creates its topics (shared/kafka.py), as in production (docker-compose.yml)
        "auto.create.topics.enable": "false",
        "log.retention.ms": str(retention_ms),
        "log.retention.bytes": str(settings.kafka_retention_bytes),
        # retention drops whole segments: keep them small beside the size limit
        "log.segment.bytes": str(_segment_bytes(settings.kafka_retention_bytes)),
        "log.retention.check.interval.ms": "60000",
        "message.max.bytes": str(settings.max_request_bytes),
        "replica.fetch.max.bytes": str(settings.max_request_bytes),
        # one node: every internal topic has one replica
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # a group's first member starts at once instead of waiting 3 s for others
        "group.initial.rebalance.delay.ms": "0",
    }
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def _segment_bytes(retention_bytes: int) -> int:
    if retention_bytes <= 0:
        return 256 * 1024 * 1024
    return max(16 * 1024 * 1024, min(256 * 1024 * 1024, retention_bytes // 4))


def previous_ports(kafka_dir: Path) -> tuple[int | None, int | None]:
    """(broker port, controller port) of the configuration the last start wrote, if any."""
    try:
        text = (kafka_dir / "server.properties").read_text()
    except OSError:
        return None, None
    found = re.search(r"^listeners=PLAINTEXT://[^:]+:(\d+),CONTROLLER://[^:]+:(\d+)$", text, re.M)
    return (int(found.group(1)), int(found.group(2))) if found else (None, None)


def formatted(log_dir: Path) -> bool:
    return (log_dir / "meta.properties").is_file()


def new_cluster_id() -> str:
    """A cluster id as Kafka makes them: 16 random bytes in URL-safe base64. Never one that
    starts with "-", which the storage tool's command line would read as an option."""
    while True:
        cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster.startswith("-"):
            return cluster


def format_log_dir(install: KafkaInstall, config: Path, log_dir: Path) -> None:
    """Give a new log folder its cluster id and metadata (kafka-storage.sh format)."""
    cluster = new_cluster_id()
    result = subprocess.run(
        [install.java, "-cp", install.classpath(), f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
         "kafka.tools.StorageTool", "format", "--cluster-id", cluster, "--config", str(config)],
        capture_output=True, text=True, timeout=120,
    )
    if result.returncode != 0 or not formatted(log_dir):
        raise RuntimeError(f"formatting the Kafka log {log_dir} failed: {(result.stderr or result.stdout)[-2000:]}")
    log.info("formatted a new Kafka log in %s (cluster id %s)", log_dir, cluster)


def broker_command(install: KafkaInstall, settings: Settings, config: Path) -> list[str]:
    heap = f"{settings.kafka_heap_mb}m"
    return [
        install.java, f"-Xms{heap}", f"-Xmx{heap}",
        "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:+ExplicitGCInvokesConcurrent",
        # the JVM's own memory beside the heap: bounded, so the broker's RSS stays flat
        "-XX:MaxDirectMemorySize=256m", "-XX:MaxMetaspaceSize=256m", "-Xss512k",
        # IPv4 sockets: the listeners are 127.0.0.1, and should show as such, not as ::ffff:127.0.0.1
        "-Djava.net.preferIPv4Stack=true",
        "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        "-cp", install.classpath(), "kafka.Kafka", str(config),
    ]


def prepare(settings: Settings, kafka_dir: Path, port: int, controller_port: int) -> tuple[KafkaInstall, list[str]]:
    """Write the configuration, format a new log folder, and return the command that starts it."""
    install = find_kafka(settings)
    log_dir = kafka_dir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    config = kafka_dir / "server.properties"
    config.write_text(
        "# Written by newsflow at each start (services/broker/kafka.py); edits are overwritten.\n"
        + server_properties(settings, log_dir, port, controller_port)
    )
    if not formatted(log_dir):
        format_log_dir(install, config, log_dir)
    return install, broker_command(install, settings, config)
