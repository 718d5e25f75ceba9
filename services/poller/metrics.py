from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.metrics import StageMetrics
from shared import metric_names as names


class PollerMetrics(StageMetrics):
    def __init__(self, registry: CollectorRegistry):
        super().__init__("poller", registry)
        self.fetches = Counter(
            names.POLLER_FETCHES,
            "Feed fetches by outcome: 200, 304, 4xx, 5xx, timeout, too_large, refused, parse_error, error.",
            ["outcome"], registry=registry,
        )
        self.fetch_seconds = Histogram(
            names.POLLER_FETCH_SECONDS, "Seconds to fetch one feed.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30), registry=registry,
        )
        self.fetched_bytes = Counter(
            names.POLLER_FETCHED_BYTES, "Bytes of feed bodies received.", registry=registry
        )
        self.parses_skipped = Counter(
            names.POLLER_PARSES_SKIPPED,
            "200 responses whose body was byte-identical to the last one parsed (a server ignoring validators).",
            registry=registry,
        )
        self.entries = Counter(
            names.POLLER_ENTRIES, "Feed entries by status: new, updated, unchanged.", ["status"],
            registry=registry,
        )
        self.entries_skipped = Counter(
            names.POLLER_ENTRIES_SKIPPED,
            "Feed entries not published for want of anything to read, by reason: empty, enclosure_only, "
            "link_only (full text off), link_only_no_text (its page gave none).", ["reason"], registry=registry,
        )
        for reason in ("empty", "enclosure_only", "link_only", "link_only_no_text"):
            self.entries_skipped.labels(reason)
        self.bozo = Counter(
            names.POLLER_MALFORMED_FEEDS, "Feeds feedparser found malformed, by reason.", ["reason"],
            registry=registry,
        )
        self.fulltext = Counter(
            names.POLLER_FULLTEXT, "Linked-page fetches for short entries, by outcome (ok, refused, timeout, over_budget, ...).", ["outcome"],
            registry=registry,
        )
        self.feeds = Gauge(
            names.POLLER_FEEDS, "Feeds by state: ok, failing, disabled.", ["state"], registry=registry
        )
        self.last_success = Gauge(
            names.POLLER_LAST_SUCCESS, "When a feed was last fetched successfully.",
            ["feed"], registry=registry,
        )
        self.feed_errors = Gauge(
            names.POLLER_FEED_ERRORS, "Failed fetches of a feed in a row (0 once one succeeds).",
            ["feed"], registry=registry,
        )
        self.ingest_errors = Counter(
            names.POLLER_INGEST_ERRORS, "Files or lines that could not be ingested.", registry=registry
        )
