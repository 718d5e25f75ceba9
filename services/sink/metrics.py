from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.metrics import StageMetrics

# Fetched -> stored: from a fraction of a second (a live run) to half an hour (a backlog).
END_TO_END_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800)


class SinkMetrics(StageMetrics):
    def __init__(self, registry: CollectorRegistry):
        super().__init__("sink", registry, consumes=True)
        self.end_to_end_seconds = Histogram(
            "newsflow_end_to_end_seconds",
            "Seconds from an article's fetch by the poller to its database commit.",
            buckets=END_TO_END_BUCKETS,
            registry=registry,
        )
        self.rows = Counter(
            "newsflow_sink_rows_total", "Article rows written, by operation.", ["op"], registry=registry
        )
        self.duplicates = Counter(
            "newsflow_sink_duplicates_total",
            "Stored articles found to duplicate an earlier one, by kind (exact or near).",
            ["kind"], registry=registry,
        )
        self.stories = Counter(
            "newsflow_sink_stories_total",
            "Stored articles that are not duplicates, by story: the first of a new story or joining one.",
            ["kind"], registry=registry,
        )
        for kind in ("exact", "near"):
            self.duplicates.labels(kind)
        for kind in ("new", "joined"):
            self.stories.labels(kind)
        self.db_write_seconds = Histogram(
            "newsflow_sink_db_write_seconds",
            "Seconds per database transaction (one batch).",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.batch_size = Histogram(
            "newsflow_sink_batch_messages",
            "Messages per database transaction.",
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
            registry=registry,
        )
        self.write_errors = Counter(  # no label: the series exists (at 0) before the first error
            "newsflow_sink_write_errors_total",
            "Database transactions that failed and were retried (the error type is in the log).",
            registry=registry,
        )
        for op in ("insert", "update"):
            self.rows.labels(op)
