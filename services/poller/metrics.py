from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.metrics import StageMetrics


class PollerMetrics(StageMetrics):
    def __init__(self, registry: CollectorRegistry):
        super().__init__("poller", registry)
        self.fetches = Counter(
            "newsflow_poller_fetches_total", "Feed fetches, by outcome.", ["outcome"], registry=registry
        )
        self.fetch_seconds = Histogram(
            "newsflow_poller_fetch_seconds",
            "Seconds to fetch one feed.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30),
            registry=registry,
        )
        self.entries = Counter(
            "newsflow_poller_entries_total", "Feed entries seen, by status.", ["status"], registry=registry
        )
        self.ingest_errors = Counter(
            "newsflow_poller_ingest_errors_total", "Files or lines that could not be ingested.", registry=registry
        )
