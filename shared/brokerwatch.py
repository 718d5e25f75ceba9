"""Each service's view of the broker: is it reachable, and are our topics still the ones we
started with.

Apache Kafka keeps its topics through an outage and its clients reconnect by themselves. The
fallback broker (Tansu) is memory-only: after a restart every topic and committed offset is gone,
and clients that knew the old ones misbehave (DESIGN.md: kafka-python's idempotent producer
fails for good, an aiokafka consumer hangs, in-memory positions point past the new topics'
ends). So a service watches from a thread, every second:

- the broker unreachable: `newsflow_kafka_up` 0, the outage counted and logged, and the
  service waits (its clients retry on their own);
- a topic it uses missing, or back under another topic id (KIP-516): the broker lost its
  state. The service recreates its topics and exits with EX_TEMPFAIL (75), so that the
  supervisor (or the container runtime) starts it again with new clients, reading the new
  topics from their committed offsets (none: from the start).

On Apache Kafka topic ids survive a broker restart, so an outage there restarts nothing.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from shared.config import Settings
from shared.exits import EX_TEMPFAIL
from shared.kafka import RECONNECT_BACKOFF_MAX_MS, bootstrap_servers, ensure_topics, make_admin
from shared.metrics import StageMetrics

log = logging.getLogger(__name__)
UNKNOWN_TOPIC = 3  # UNKNOWN_TOPIC_OR_PARTITION


def reachable(settings: Settings, timeout_s: float = 1.0) -> bool:
    """True when some bootstrap server accepts a TCP connection (fast to say no, unlike a client)."""
    for server in bootstrap_servers(settings):
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=timeout_s):
                return True
        except (OSError, ValueError):
            continue
    return False


def exit_for_restart() -> None:
    """Leave at once with EX_TEMPFAIL: nothing is committed on the way out (at-least-once)."""
    logging.shutdown()
    os._exit(EX_TEMPFAIL)


def wait_for_broker(settings: Settings, topics: Iterable[str], metrics: StageMetrics | None = None) -> None:
    """Block until the broker answers and `topics` exist (made if missing).

    A service that starts during an outage waits here, serving its metrics (kafka_up 0),
    instead of dying and being restarted over and over.
    """
    names = list(topics)
    started, last_log = time.monotonic(), 0.0
    while True:
        try:
            if reachable(settings):
                ensure_topics(settings, names)
                if metrics is not None:
                    metrics.kafka_up.set(1)
                if last_log:
                    log.warning("Kafka broker %s answers again after %.1f s", settings.kafka_bootstrap,
                                time.monotonic() - started)
                return
            problem = "unreachable"
        except KafkaError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if metrics is not None:
            metrics.kafka_up.set(0)
        if time.monotonic() - last_log >= 10:
            log.warning("waiting for the Kafka broker %s (%s, for %.0f s)", settings.kafka_bootstrap, problem,
                        time.monotonic() - started)
            last_log = time.monotonic()
        time.sleep(0.5)


class BrokerWatch:
    """Checks the broker every `interval_s` from a daemon thread (see the module's doc)."""

    def __init__(self, settings: Settings, metrics: StageMetrics, topics: Iterable[str], *,
                 interval_s: float = 1.0, on_lost: Callable[[], None] = exit_for_restart):
        self.settings = settings
        self.metrics = metrics
        self.topics = list(dict.fromkeys(topics))
        self.interval_s = interval_s
        self.on_lost = on_lost
        self.up: bool | None = None
        self.down_since = 0.0
        self.topic_ids: dict[str, str] = {}  # what each topic's id was when we first saw it
        self._admin: KafkaAdminClient | None = None
        self._lock = threading.Lock()  # the admin client is not shared between threads
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "BrokerWatch":
        self.check()  # the topics' ids now, before the service sends anything
        self._thread = threading.Thread(target=self._run, name="broker-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            self._close_admin()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                lost = self.check()
            except Exception:  # noqa: BLE001 - the watch must outlive any surprise of the client
                log.exception("broker check failed")
                continue
            if lost:
                self._recreate_and_restart(lost)
                return

    def unchanged(self) -> bool:
        """True when the broker answers now and every watched topic has the id it had when first
        seen: what it acknowledged since then is in our topics, not in ones it made anew
        (Tansu creates a missing topic when a message is produced to it)."""
        with self._lock:
            ids = self._topic_ids() if reachable(self.settings) else None
        if ids is None or len(ids) < len(self.topics):
            return False
        return all(now is not None and self.topic_ids.get(name, now) == now for name, now in ids.items())

    def check(self) -> list[str]:
        """One check: updates the metrics and logs; returns the topics the broker lost (if any)."""
        with self._lock:
            if self.up is False:
                self._close_admin()  # a new client asks at once; the old one backs off reconnecting
            ids = self._topic_ids() if reachable(self.settings) else None
        if ids is None:
            if self.up is not False:
                self.down_since = time.monotonic()
                self.metrics.kafka_outages.inc()
                log.warning("Kafka broker %s unreachable; waiting for it", self.settings.kafka_bootstrap)
            self.up = False
            self.metrics.kafka_up.set(0)
            return []
        if self.up is False:
            log.warning("Kafka broker %s answers again after %.1f s", self.settings.kafka_bootstrap,
                        time.monotonic() - self.down_since)
        self.up = True
        self.metrics.kafka_up.set(1)
        lost = []
        for name, now in ids.items():
            if now is None:
                lost.append(name)
            elif self.topic_ids.setdefault(name, now) != now:
                lost.append(name)
        return lost

    def _topic_ids(self) -> dict[str, str | None] | None:
        """{topic: its id, or None if it does not exist} for the watched topics the broker could
        describe; None when the broker does not answer."""
        try:
            if self._admin is None:
                self._admin = make_admin(
                    self.settings, request_timeout_ms=5000, reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
                )
            described = self._admin.describe_topics(self.topics)
        except KafkaError:
            return None
        ids = {}
        for topic in described:
            if topic.get("error_code") == UNKNOWN_TOPIC:
                ids[topic["name"]] = None
            elif topic.get("error_code") == 0 and topic.get("topic_id"):
                ids[topic["name"]] = str(topic["topic_id"])
        return ids  # other errors (a leader being elected...): nothing concluded this time

    def _close_admin(self) -> None:
        if self._admin is not None:
            try:
                self._admin.close()
            except Exception:  # noqa: BLE001 - closing a client of a broker that is gone
                pass
            self._admin = None

    def _recreate_and_restart(self, lost: list[str]) -> None:
        log.error(
            "the Kafka broker lost topic(s) %s (a memory-only broker restarted?): recreating this service's "
            "topics and restarting with new clients", ", ".join(lost),
        )
        with self._lock:
            self._close_admin()
        try:
            ensure_topics(self.settings, self.topics)
        except KafkaError as exc:  # the restarted service waits for the broker and makes them itself
            log.warning("could not recreate the topics now (%s); the restarted service will", exc)
        self.on_lost()
