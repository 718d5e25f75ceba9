from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.metrics import StageMetrics
from shared import metric_names as names

# Fetched -> stored: from a fraction of a second (a live run) to half an hour (a backlog).
END_TO_END_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800)


class SinkMetrics(StageMetrics):
    def __init__(self, registry: CollectorRegistry):
        super().__init__("sink", registry, consumes=True)
        self.end_to_end_seconds = Histogram(
            names.END_TO_END_SECONDS,
            "Seconds from an article's fetch by the poller to its database commit.",
            buckets=END_TO_END_BUCKETS,
            registry=registry,
        )
        self.rows = Counter(
            names.SINK_ROWS, "Article rows written, by operation.", ["op"], registry=registry
        )
        self.duplicates = Counter(
            names.SINK_DUPLICATES,
            "Stored articles found to duplicate an earlier one, by kind (exact or near).",
            ["kind"], registry=registry,
        )
        self.stories = Counter(
            names.SINK_STORIES,
            "Stored articles that are not duplicates, by story: the first of a new story or joining one.",
            ["kind"], registry=registry,
        )
        self.stories_formed = Counter(
            names.SINK_STORIES_FORMED,
            "Stories that came to hold two or more articles (one event reported twice or more).",
            registry=registry,
        )
        for kind in ("exact", "near"):
            self.duplicates.labels(kind)
        for kind in ("new", "joined"):
            self.stories.labels(kind)
        self.db_write_seconds = Histogram(
            names.SINK_DB_WRITE_SECONDS,
            "Seconds per database transaction (one batch).",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.batch_size = Histogram(
            names.SINK_BATCH_MESSAGES,
            "Messages per database transaction.",
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500),
            registry=registry,
        )
        self.write_errors = Counter(  # no label: the series exists (at 0) before the first error
            names.SINK_WRITE_ERRORS,
            "Database transactions that failed and were retried (the error type is in the log).",
            registry=registry,
        )
        for op in ("insert", "update"):
            self.rows.labels(op)
