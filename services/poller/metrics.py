from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.metrics import StageMetrics


class PollerMetrics(StageMetrics):
    def __init__(self, registry: CollectorRegistry):
        super().__init__("poller", registry)
        self.fetches = Counter(
            "newsflow_poller_fetches_total",
            "Feed fetches by outcome: 200, 304, 4xx, 5xx, timeout, too_large, refused, parse_error, error.",
            ["outcome"], registry=registry,
        )
        self.fetch_seconds = Histogram(
            "newsflow_poller_fetch_seconds", "Seconds to fetch one feed.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30), registry=registry,
        )
        self.fetched_bytes = Counter(
            "newsflow_poller_fetched_bytes_total", "Bytes of feed bodies received.", registry=registry
        )
        self.parses_skipped = Counter(
            "newsflow_poller_parses_skipped_total",
            "200 responses whose body was byte-identical to the last one parsed (a server ignoring validators).",
            registry=registry,
        )
        self.entries = Counter(
            "newsflow_poller_entries_total", "Feed entries by status: new, updated, unchanged.", ["status"],
            registry=registry,
        )
        self.bozo = Counter(
            "newsflow_poller_malformed_feeds_total", "Feeds feedparser found malformed, by reason.", ["reason"],
            registry=registry,
        )
        self.fulltext = Counter(
            "newsflow_poller_fulltext_total", "Linked-page fetches for short entries, by outcome (ok, refused, timeout, over_budget, ...).", ["outcome"],
            registry=registry,
        )
        self.feeds = Gauge(
            "newsflow_poller_feeds", "Feeds by state: ok, failing, disabled.", ["state"], registry=registry
        )
        self.last_success = Gauge(
            "newsflow_poller_last_success_timestamp_seconds", "When a feed was last fetched successfully.",
            ["feed"], registry=registry,
        )
        self.feed_errors = Gauge(
            "newsflow_poller_feed_consecutive_errors", "Failed fetches of a feed in a row (0 once one succeeds).",
            ["feed"], registry=registry,
        )
        self.ingest_errors = Counter(
            "newsflow_poller_ingest_errors_total", "Files or lines that could not be ingested.", registry=registry
        )
