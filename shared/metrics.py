"""Metrics building blocks every service uses. Each service declares its own metrics in
its own `metrics.py`, on a registry that tests can inject."""
from __future__ import annotations

import logging
import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

from shared.config import Settings
from shared.lag import ConsumerLag
from shared import metric_names as names

log = logging.getLogger(__name__)
# No `*_created` series beside every counter and histogram: they double what Prometheus stores
# and nothing here reads them.
disable_created_metrics()

# Seconds a single message spends in a stage: sub-millisecond to a few seconds.
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class StageMetrics:
    """The counters every stage has: in, out, failed, dead-lettered, and time per message.
    Stages that consume a topic also report their lag (`consumes=True`)."""

    def __init__(self, stage: str, registry: CollectorRegistry, *, consumes: bool = False):
        self.stage = stage
        self.registry = registry
        self.lag = ConsumerLag(stage, registry) if consumes else None
        self.messages_in = Counter(
            names.MESSAGES_IN, "Messages a stage consumed.", ["stage"], registry=registry
        ).labels(stage)
        self.messages_out = Counter(
            names.MESSAGES_OUT, "Messages a stage produced or stored.", ["stage"], registry=registry
        ).labels(stage)
        self._failed = Counter(
            names.MESSAGES_FAILED,
            "Messages a stage could not handle, by reason kind.",
            ["stage", "reason"],
            registry=registry,
        )
        self._dead_lettered = Counter(
            names.MESSAGES_DEAD_LETTERED,
            "Messages a stage sent to the dead-letter topic, by reason kind.",
            ["stage", "reason"],
            registry=registry,
        )
        self.processing_seconds = Histogram(
            names.PROCESSING_SECONDS,
            "Seconds a stage spent on one message.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        ).labels(stage)
        self._last_failure = Gauge(
            names.LAST_FAILURE,
            "When a stage last failed, by reason kind (bad input, or a fault it retries).",
            ["stage", "reason"],
            registry=registry,
        )
        # The broker as this process sees it (shared/brokerwatch.py): up now, and how often lost.
        self.kafka_up = Gauge(
            names.KAFKA_UP,
            "1 when this process reached the Kafka broker at its last check (every second), else 0.",
            ["stage"], registry=registry,
        ).labels(stage)
        self.kafka_outages = Counter(
            names.KAFKA_OUTAGES, "Times this process found the Kafka broker unreachable after reaching it.",
            ["stage"], registry=registry,
        ).labels(stage)
        Gauge(
            names.BUILD_INFO, "Version of the running process (always 1).", ["stage", "version"],
            registry=registry,
        ).labels(stage, version()).set(1)

    def dead_lettered(self, reason_kind: str) -> None:
        self._failed.labels(self.stage, reason_kind).inc()
        self._dead_lettered.labels(self.stage, reason_kind).inc()
        self.failure(reason_kind)

    def failure(self, reason_kind: str) -> None:
        """Remember when this stage last failed for this reason (for `newsflow status`)."""
        self._last_failure.labels(self.stage, reason_kind).set(time.time())


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("newsflow")
    except PackageNotFoundError:
        return "dev"


def serve_metrics(settings: Settings, registry: CollectorRegistry, name: str) -> None:
    """Serve /metrics on settings.metrics_port (0 = do not serve)."""
    if not settings.metrics_port:
        return
    start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    log.info("%s metrics on http://%s:%d/metrics", name, settings.metrics_host, settings.metrics_port)
