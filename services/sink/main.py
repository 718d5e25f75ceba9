"""Sink: news.tagged -> upsert into the database; offsets committed only after the DB commit.

One transaction per batch: up to NEWSFLOW_SINK_BATCH_SIZE messages, or what arrived within
NEWSFLOW_SINK_BATCH_MS of the batch's first message. A failing transaction is retried with
backoff for NEWSFLOW_SINK_RETRY_S, then the sink exits (and is restarted) without committing.
"""
from __future__ import annotations

import logging
import signal
import sys
import time

from kafka import ConsumerRebalanceListener, OffsetAndMetadata, TopicPartition
from kafka.errors import CommitFailedError, RebalanceInProgressError, RetriableError
from prometheus_client import CollectorRegistry

from services.sink.membership import Membership, settle_limit_s
from services.sink.metrics import SinkMetrics
from services.sink.store import Store, UpsertResult, open_store
from shared.brokerwatch import BrokerWatch, wait_for_broker
from shared.config import Settings, redact_url
from shared.kafka import make_consumer, make_producer, subscribe
from shared.metrics import serve_metrics
from shared.pipeline import topology
from shared.exits import EX_DATAERR, EX_TEMPFAIL
from shared.pipeline.limit import DeadLetterLimit, DlqLimit
from shared.pipeline.publish import CheckedPublisher, DeliveryFailed
from shared.pipeline.step import Origin, Outcome, log_letter, step
from shared.schema import Article

log = logging.getLogger(__name__)
MAX_RETRY_DELAY_S = 10.0
STAGE = "sink"


class Sink:
    def __init__(self, settings: Settings, store: Store, registry: CollectorRegistry | None = None,
                 metrics: SinkMetrics | None = None):
        self.settings = settings
        self.store = store
        self.metrics = metrics or SinkMetrics(registry or CollectorRegistry())
        self.uncommitted: dict[TopicPartition, OffsetAndMetadata] = {}  # stored, not yet committed
        self.commits_held = False  # the last commit failed for want of the broker (logged once)
        self.listener = ResumeWhereStored(self)
        self.consumer = self.new_consumer()
        self.letters = CheckedPublisher(make_producer(settings))
        self.transform = topology.stage(STAGE).load_transform(settings)
        self.limit = DlqLimit.from_settings(settings)
        self.membership = Membership(settle_limit_s(settings.session_timeout_ms))
        self.stopping = False

    def new_consumer(self):
        return make_consumer(
            self.settings, self.settings.group(STAGE), topology.input_topic(self.settings, STAGE),
            listener=self.listener, max_poll_records=self.settings.sink_batch_size,
        )

    def run(self) -> None:
        log.info("sink consuming %s into %s", self.settings.tagged_topic, redact_url(self.settings.database_url))
        try:
            while not self.stopping:
                self.step()
        finally:
            self.consumer.close(autocommit=False)
            self.letters.close()
            self.store.close()

    def step(self) -> None:
        """One batch stored and committed, or, idle, the lag measured and held-back offsets
        committed; then the group membership checked."""
        records = self.collect()
        self.measure_lag()
        if records:
            self.write(records)
        elif self.uncommitted:
            self.commit({})
        self.settle()

    def settle(self) -> None:
        """A new client for a membership that has not settled in its limit (membership.py)."""
        state = self.consumer.group_metadata().state
        if self.membership.overdue(state):
            log.warning("the sink's place in its group has not settled in %.0f s (%s): joining it with a "
                        "new client", self.membership.limit_s, state)
            self.consumer.close(autocommit=False)
            self.consumer = self.new_consumer()  # what it stored and did not commit: the listener seeks past it

    def collect(self) -> list:
        """The records of one transaction: at most batch_size, or what came within batch_ms of the first."""
        size, window_s = self.settings.sink_batch_size, self.settings.sink_batch_ms / 1000
        records: list = []
        deadline = None
        while len(records) < size and not self.stopping:
            wait_s = window_s if deadline is None else deadline - time.monotonic()
            if wait_s <= 0:
                break
            polled = self.consumer.poll(timeout_ms=int(wait_s * 1000), max_records=size - len(records))
            for tp_records in polled.values():
                records.extend(tp_records)
            if not records:
                break  # idle: go back to measure the lag and look at `stopping`
            if deadline is None:
                deadline = time.monotonic() + window_s
        return records

    def measure_lag(self) -> None:
        owned = self.consumer.assignment()
        self.metrics.lag.update(
            {tp: self.consumer.highwater(tp) for tp in owned},  # from fetch responses (DESIGN.md)
            {tp: self.consumer.position(tp, timeout_ms=200) for tp in owned},
        )

    def write(self, records: list) -> None:
        """Store a batch, its letters confirmed by the broker, then commit; DeadLetterLimit or
        DeliveryFailed leave the batch uncommitted."""
        started = time.perf_counter()
        articles: list[Article] = []
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for record in records:
            self.metrics.messages_in.inc()
            outcome = step(STAGE, record.value, Origin.of(record), self.transform, self.settings.max_message_bytes)
            if outcome.dead:
                self.dead_letter(outcome)
            articles.extend(article for _store, article in outcome.outputs)
            self.limit.record(outcome.dead)
            tp = TopicPartition(record.topic, record.partition)
            offsets[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
            self.metrics.lag.consumed(tp, record.offset, record.timestamp / 1000 if record.timestamp else None)
        if articles:
            self.store_batch(articles)
        self.letters.confirm()  # the broker took every letter before we move past them
        self.commit(offsets)
        share = (time.perf_counter() - started) / len(records)
        for _ in records:
            self.metrics.processing_seconds.observe(share)

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        """Commit what was stored, with what a rebalance held back before, for the partitions
        this sink owns."""
        self.uncommitted.update(offsets)
        owned = self.consumer.assignment()
        pending = {tp: offset for tp, offset in self.uncommitted.items() if tp in owned}
        if not pending:
            return  # between a revocation and an assignment: the listener settles them
        try:
            self.consumer.commit(pending)
            for tp in pending:
                del self.uncommitted[tp]
            self.commits_held = False
        except RebalanceInProgressError:
            log.info("the group is rebalancing; %d offset(s) committed after it", len(pending))
            self.rejoin()
        except CommitFailedError as exc:
            # A rebalance gave these partitions to another sink before we committed: it stores
            # the same messages again, which the upsert by id absorbs.
            log.warning("offsets not committed (%s); the new owner of the partitions replays them", exc)
            self.uncommitted.clear()
        except RetriableError as exc:
            # The broker or the group's coordinator does not answer (an outage, which the broker
            # watch logs): the offsets stay held and a later step commits them once it answers.
            if not self.commits_held:
                log.warning("offsets not committed (%s: %s); %d held until the broker answers",
                            type(exc).__name__, exc, len(pending))
            self.commits_held = True

    def rejoin(self) -> None:
        """Join the group afresh, keeping our place in the partitions we get back.

        kafka-python 3.0.12 can be left "rebalancing" with no join under way (seen after the
        first join, when a poll's timeout cut short the rejoin its metadata asked for): every
        commit is then refused, for good. Subscribing again starts a clean join; the listener
        puts each partition we keep where the stored rows end, so nothing is read twice. (A
        membership that does not settle at all gets a new client: step, membership.py.)"""
        self.consumer.unsubscribe()
        subscribe(self.consumer, [topology.input_topic(self.settings, STAGE)], self.listener)

    def store_batch(self, articles: list[Article]) -> UpsertResult:
        """Upsert in one transaction, retrying a failing database until sink_retry_s has passed."""
        delay, give_up_at = 0.5, time.monotonic() + self.settings.sink_retry_s
        while True:
            started = time.perf_counter()
            try:
                result = self.store.upsert(articles)
                break
            except Exception as exc:  # noqa: BLE001 - the database, not the input: retried, then fatal
                self.metrics.write_errors.inc()
                self.metrics.failure(f"db_{type(exc).__name__}")
                if self.stopping or time.monotonic() + delay > give_up_at:
                    raise
                log.error("database write of %d articles failed (%s); retrying in %.1f s", len(articles), exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY_S)
        stored_at = time.time()
        self.metrics.db_write_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_size.observe(len(articles))
        self.metrics.rows.labels("insert").inc(result.inserted)
        self.metrics.rows.labels("update").inc(result.updated)
        self.metrics.duplicates.labels("exact").inc(result.exact_duplicates)
        self.metrics.duplicates.labels("near").inc(result.near_duplicates)
        self.metrics.stories.labels("new").inc(result.stories_new)
        self.metrics.stories.labels("joined").inc(result.stories_joined)
        self.metrics.stories_formed.inc(result.stories_formed)
        self.metrics.messages_out.inc(len(articles))
        for article in articles:
            self.metrics.end_to_end_seconds.observe(max(0.0, stored_at - article.fetched_at))
        return result

    def dead_letter(self, outcome: Outcome) -> None:
        log_letter(outcome.letter)
        self.letters.send(self.settings.dlq_topic, outcome.letter.key, outcome.letter.encode())
        self.metrics.dead_lettered(outcome.kind)


class ResumeWhereStored(ConsumerRebalanceListener):
    """After a rejoin, start each partition we own after what this sink already stored."""

    def __init__(self, sink: Sink):
        self.sink = sink

    def on_partitions_revoked(self, revoked) -> None:
        pass

    def on_partitions_assigned(self, assigned) -> None:
        held = self.sink.uncommitted
        for tp in list(held):
            if tp in assigned:
                self.sink.consumer.seek(tp, held[tp].offset)
            else:
                del held[tp]  # its new owner reads these again; the upsert by id absorbs them


def main(settings: Settings) -> None:
    topics = topology.service_topics(settings, STAGE)
    metrics = SinkMetrics(CollectorRegistry())
    serve_metrics(settings, metrics.registry, "sink")
    wait_for_broker(settings, topics, metrics)
    sink = Sink(settings, open_store(settings.database_url), metrics=metrics)
    BrokerWatch(settings, metrics, topics).start()

    def stop(signum, _frame):
        log.info("sink stopping (%s): finishing the current batch", signal.Signals(signum).name)
        sink.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        sink.run()
    except DeadLetterLimit as exc:
        log.critical("sink stops: %s", exc)
        sys.exit(EX_DATAERR)
    except DeliveryFailed as exc:
        log.critical("a dead letter was not delivered (%s); exiting without committing past it", exc)
        sys.exit(EX_TEMPFAIL)
