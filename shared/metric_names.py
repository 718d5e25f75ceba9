"""Every newsflow metric's name, declared once. The declaring modules (shared/metrics.py,
shared/lag.py, each service's metrics.py), `newsflow status`, the bench and the dashboard
builder import these; a test checks that the alert rules name only these.

Prometheus naming: the newsflow_ prefix, base units (seconds, bytes), _total on counters, and
no per-article label. Histograms are exposed with _bucket, _sum and _count after the name.
"""
from __future__ import annotations

# Every stage (shared/metrics.py)
MESSAGES_IN = "newsflow_messages_in_total"
MESSAGES_OUT = "newsflow_messages_out_total"
MESSAGES_FAILED = "newsflow_messages_failed_total"
MESSAGES_DEAD_LETTERED = "newsflow_messages_dead_lettered_total"
PROCESSING_SECONDS = "newsflow_processing_seconds"
LAST_FAILURE = "newsflow_last_failure_timestamp_seconds"
KAFKA_UP = "newsflow_kafka_up"
KAFKA_OUTAGES = "newsflow_kafka_outages_total"
BUILD_INFO = "newsflow_build_info"
FAUST_PREFIX = "newsflow_faust"  # Faust's own sensors, newsflow_faust_*

# Consumer lag (shared/lag.py)
CONSUMER_LAG_MESSAGES = "newsflow_consumer_lag_messages"
CONSUMER_LAG_SECONDS = "newsflow_consumer_lag_seconds"

# Poller
POLLER_FETCHES = "newsflow_poller_fetches_total"
POLLER_FETCH_SECONDS = "newsflow_poller_fetch_seconds"
POLLER_FETCHED_BYTES = "newsflow_poller_fetched_bytes_total"
POLLER_PARSES_SKIPPED = "newsflow_poller_parses_skipped_total"
POLLER_ENTRIES = "newsflow_poller_entries_total"
POLLER_ENTRIES_SKIPPED = "newsflow_poller_entries_skipped_total"
POLLER_MALFORMED_FEEDS = "newsflow_poller_malformed_feeds_total"
POLLER_FULLTEXT = "newsflow_poller_fulltext_total"
POLLER_FEEDS = "newsflow_poller_feeds"
POLLER_LAST_SUCCESS = "newsflow_poller_last_success_timestamp_seconds"
POLLER_FEED_ERRORS = "newsflow_poller_feed_consecutive_errors"
POLLER_INGEST_ERRORS = "newsflow_poller_ingest_errors_total"

# Tagger
ARTICLES_TAGGED = "newsflow_articles_tagged_total"
TAXONOMY_INFO = "newsflow_taxonomy_info"

# Sink
END_TO_END_SECONDS = "newsflow_end_to_end_seconds"
SINK_ROWS = "newsflow_sink_rows_total"
SINK_DUPLICATES = "newsflow_sink_duplicates_total"
SINK_STORIES = "newsflow_sink_stories_total"
SINK_STORIES_FORMED = "newsflow_sink_stories_formed_total"
SINK_DB_WRITE_SECONDS = "newsflow_sink_db_write_seconds"
SINK_BATCH_MESSAGES = "newsflow_sink_batch_messages"
SINK_WRITE_ERRORS = "newsflow_sink_write_errors_total"

ALL: frozenset[str] = frozenset(
    value for name, value in dict(globals()).items() if name.isupper() and name not in ("FAUST_PREFIX",)
    and isinstance(value, str)
)
HISTOGRAMS = frozenset({PROCESSING_SECONDS, POLLER_FETCH_SECONDS, END_TO_END_SECONDS, SINK_DB_WRITE_SECONDS,
                        SINK_BATCH_MESSAGES})


def exposed(series: str) -> bool:
    """True when `series` is one of ours as Prometheus shows it (a histogram's _bucket, _sum or
    _count, or Faust's newsflow_faust_*)."""
    if series in ALL or series.startswith(FAUST_PREFIX + "_"):
        return True
    return any(series == h + suffix for h in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count"))
