"""The Faust side of the pipeline: one app per stage, and the per-event loop the
cleaner and the tagger share (decode, transform, emit; bad input to the dead letters)."""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable

import faust
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor

from shared.config import Settings
from shared.kafka import bootstrap_servers, ssl_context
from shared.logs import hold_back_client_repeats
from shared.metrics import StageMetrics
from shared.exits import EX_DATAERR, EX_TEMPFAIL
from shared.pipeline.limit import DeadLetterLimit, DlqLimit
from shared.pipeline.step import Origin, Transform, log_letter, step
from shared.schema import Article, encode
from shared import metric_names as names

log = logging.getLogger(__name__)


def leave_groups_from_generation_zero() -> None:
    """Make a stopping Faust worker leave its consumer group on Tansu too.

    aiokafka sends LeaveGroup on close only when its generation is above 0. Kafka numbers a
    group's generations from 1, Tansu from 0: a worker stopped in the first generation stays
    listed as a member until Tansu evicts it lazily, at the next join (measured: still listed
    90 s later). `newsflow replay` waits for the group to be empty before moving offsets, so
    we leave from generation 0 as well. The LeaveGroup request carries no generation, and on
    Kafka a generation is never 0, so nothing changes there.
    """
    from aiokafka.consumer.group_coordinator import GroupCoordinator

    original = GroupCoordinator._maybe_leave_group
    if getattr(original, "newsflow", False):
        return

    async def _maybe_leave_group(self):
        if self.generation == 0:
            self.generation = 1  # read only by aiokafka's check; reset right after the leave
        await original(self)

    _maybe_leave_group.newsflow = True
    GroupCoordinator._maybe_leave_group = _maybe_leave_group


def shorten_fetch_wait(max_wait_ms: int) -> None:
    """Make Faust's consumers ask for fetches that wait at most `max_wait_ms`.

    Faust creates its aiokafka consumer with fetch_max_wait_ms=1500, fixed. Tansu
    holds a fetch for the whole wait even when records arrive sooner: a message every 100 ms
    reached a consumer 0.38 s late at the median with 1500 ms, 0.12 s with 500, 4 ms with 100
    (measured here; DESIGN.md does not list it). A three-hop pipeline pays that per hop.
    On Apache Kafka a fetch returns as soon as there is data, so a shorter wait changes nothing
    but a few more empty fetches of an idle consumer.
    """
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    _FETCH_MAX_WAIT_MS[0] = max_wait_ms
    original = AIOKafkaConsumerThread._create_worker_consumer
    if getattr(original, "newsflow", False):
        return

    def _create_worker_consumer(self, transport):
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = _FETCH_MAX_WAIT_MS[0]  # read when the consumer starts its fetcher
        return consumer

    _create_worker_consumer.newsflow = True
    AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer


_FETCH_MAX_WAIT_MS = [500]


def make_app(settings: Settings, stage: str, metrics: StageMetrics) -> faust.App:
    """The Faust app of a stage, with Faust's own Prometheus sensors on the stage's registry
    (`newsflow_faust_*`) and the stage's consumer lag measured every second."""
    leave_groups_from_generation_zero()
    shorten_fetch_wait(settings.fetch_max_wait_ms)
    brokers = ";".join(f"kafka://{s}" for s in bootstrap_servers(settings))
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # Faust makes its datadir, not the parents
    app = faust.App(
        settings.group(stage),
        broker=brokers,
        broker_credentials=faust_credentials(settings),
        # ~3 s group joins on Tansu instead of ~23 s (DESIGN.md); 6 s is the least Kafka allows.
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.heartbeat_interval_ms / 1000,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # No tables, no leader topic, no web server: state lives in the database, metrics
        # are served by prometheus_client, and we create our topics ourselves.
        store="memory://",
        topic_disable_leader=True,
        topic_allow_declare=False,
        web_enabled=False,
        datadir=str(settings.data_dir / f"faust-{stage}"),
        topic_partitions=settings.partitions,
        stream_buffer_maxsize=settings.stream_buffer_events,
        producer_max_request_size=settings.max_request_bytes,  # Faust's 1 MB would refuse a large letter
        # Faust's 16 KB batches hold four of our articles: a produce request every four sends.
        # The linger saves ~0.1 ms of CPU an article here and ~0.24 ms in the broker. Not on Tansu:
        # there aiokafka's sender, once the tagger sent to a topic created while it ran
        # (news.topic.<new tag>), waited on metadata updates and never sent that batch
        # (test_retag hangs on Tansu with a linger, passes on Apache Kafka).
        producer_max_batch_size=settings.producer_batch_bytes,
        producer_linger=0.0 if settings.broker == "tansu" else settings.producer_linger_ms / 1000,
    )
    # Faust's sensor API, without Faust's web server: the registry is served by prometheus_client.
    app.monitor = PrometheusMonitor(metrics=FaustMetrics.create(metrics.registry, names.FAUST_PREFIX))
    if metrics.lag is not None:
        _measure_lag(app, metrics)
    return app


def faust_credentials(settings: Settings) -> faust.auth.Credentials | None:
    """NEWSFLOW_KAFKA_SECURITY_PROTOCOL and its companions for Faust (aiokafka); the kafka-python
    clients get the same from shared.kafka.security_config."""
    protocol = settings.kafka_security_protocol
    context = ssl_context(settings) if protocol in ("SSL", "SASL_SSL") else None
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username, password=settings.kafka_sasl_password.get_secret_value(),
            ssl_context=context, mechanism=settings.kafka_sasl_mechanism,
        )
    return faust.SSLCredentials(context) if context else None


def _measure_lag(app: faust.App, metrics: StageMetrics) -> None:
    lag = metrics.lag

    @app.timer(interval=1.0, name=f"{metrics.stage}-lag")
    async def measure_lag() -> None:
        consumer = app.consumer
        try:
            owned = consumer.assignment()
            # aiokafka's highwater is the one fetch responses carry: right on Tansu (DESIGN.md).
            highwaters = {tp: consumer.highwater(tp) for tp in owned}
        except Exception:  # noqa: BLE001 - not started yet, or in a rebalance: measure next time
            return
        positions = {}
        for tp in lag.unconsumed(owned):
            try:
                positions[tp] = await asyncio.wait_for(consumer.position(tp), timeout=1.0)
            except Exception:  # noqa: BLE001 - no position yet
                pass
        lag.update(highwaters, positions)


def raw_topic(app: faust.App, name: str) -> faust.TopicT:
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


OnOutput = Callable[[Article], None]  # a stage's own metrics for an article it sent on


async def process(
    stream: faust.StreamT,
    *,
    app: faust.App,
    transform: Transform,
    metrics: StageMetrics,
    settings: Settings,
    on_output: OnOutput | None = None,
) -> None:
    """Run every event through the shared step (shared/pipeline/step.py) and send what it says.

    Events come in batches (NEWSFLOW_STREAM_BATCH_SIZE, or what arrived within
    NEWSFLOW_STREAM_BATCH_MS): Faust acknowledges a batch's events, and so lets their offsets be
    committed, only once the whole batch is handled (measured on a no-op cleaner: 0.27 ms of CPU
    per message against 0.30 event by event).

    Bad input becomes a dead letter and the loop goes on, until the dead-letter limit: then the
    process exits with EX_DATAERR before the batch is acknowledged. A failed send is an
    infrastructure fault and exits too (`_or_die`), so its offset is never committed and the
    event is processed again.
    """
    send = _sender(app)
    limit = DlqLimit.from_settings(settings)
    async for events in stream.take_events(settings.stream_batch_size, within=settings.stream_batch_ms / 1000):
        for event in events:
            dead = await _handle(event, transform, send, metrics, settings, on_output)
            try:
                limit.record(dead)
            except DeadLetterLimit as exc:
                log.critical("%s stops: %s", metrics.stage, exc)
                os._exit(EX_DATAERR)


def _sender(app: faust.App):
    """send(topic name, key, value) -> delivery future; a topic met for the first time (a new tag's)
    gets its Faust topic then."""
    topics: dict[str, faust.TopicT] = {}

    async def send(name: str, key: bytes | None, value: bytes):
        if name not in topics:
            topics[name] = raw_topic(app, name)
        return await topics[name].send(key=key, value=value)

    return send


async def _handle(event: faust.EventT, transform: Transform, send, metrics: StageMetrics, settings: Settings,
                  on_output: OnOutput | None) -> bool:
    """One event through the step; True when it was dead-lettered."""
    metrics.messages_in.inc()
    started = time.perf_counter()
    msg = event.message
    if metrics.lag is not None:
        metrics.lag.consumed(msg.tp, msg.offset, msg.timestamp)
    origin = Origin(msg.topic, msg.partition, msg.offset, event.key)
    outcome = step(metrics.stage, event.value, origin, transform, settings.max_message_bytes)
    if outcome.dead:
        log_letter(outcome.letter)
        await _or_die(send(settings.dlq_topic, event.key, outcome.letter.encode()))
        metrics.dead_lettered(outcome.kind)
        return True
    sent = []
    for topic, article in outcome.outputs:
        sent.append(send(topic, article.key, encode(article)))
    await _or_die(_all(sent))
    if outcome.outputs:
        article = outcome.outputs[0][1]
        if on_output is not None:
            on_output(article)
        metrics.messages_out.inc()
    metrics.processing_seconds.observe(time.perf_counter() - started)
    return False


async def _all(sends: list) -> list:
    return [await s for s in sends]


async def _or_die(send: Awaitable) -> None:
    """Await a send; if Kafka fails us, exit the process with EX_TEMPFAIL.

    Letting the exception escape would only restart the agent and leave this event
    unacknowledged, which stalls every later commit. Exiting loses nothing: the event's
    offset is not committed, so the restarted worker (by the supervisor or the container
    runtime) processes it again.

    A send only queues the message; the broker may still refuse it later (Faust then just logs
    a warning and commits the offset anyway). So a failed delivery exits too: that happens
    when the producer flushes before a commit, before the commit is sent.
    """
    try:
        sent = await send
    except Exception:  # noqa: BLE001
        log.critical("cannot produce to Kafka; exiting so the worker is restarted", exc_info=True)
        os._exit(EX_TEMPFAIL)
    for delivery in sent if isinstance(sent, list) else [sent]:
        if isinstance(delivery, asyncio.Future):
            delivery.add_done_callback(_exit_if_undelivered)


def _exit_if_undelivered(delivery: asyncio.Future) -> None:
    if delivery.cancelled() or delivery.exception() is None:
        return
    log.critical("Kafka did not take a message (%r); exiting so the worker is restarted", delivery.exception())
    os._exit(EX_TEMPFAIL)


def run_worker(app: faust.App, settings: Settings) -> None:
    """Run a Faust worker in the foreground until SIGINT/SIGTERM (which it handles cleanly)."""
    from faust.worker import Worker

    # Faust narrates every service start at INFO; below DEBUG we keep it to warnings.
    level = "debug" if settings.log_level.upper() == "DEBUG" else "warn"
    worker = Worker(app, loglevel=level, quiet=True)
    worker.spinner = None  # its cursor codes garble the shared terminal of `newsflow run`
    worker.on_setup_root_logger = hold_back_client_repeats  # Faust installs handlers of its own
    worker.execute_from_commandline()
