"""Kafka plumbing shared by every service: clients with the right settings, topics,
and offsets measured in a way that is right on Apache Kafka and on Tansu."""
from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Iterable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from shared.config import Settings

log = logging.getLogger(__name__)
# kafka-python backs off reconnecting up to 30 s by default: after an outage of the broker a
# client would take that long to notice it is back. 2 s at most.
RECONNECT_BACKOFF_MAX_MS = 2000


def bootstrap_servers(settings: Settings) -> list[str]:
    if not settings.kafka_bootstrap:
        raise RuntimeError("NEWSFLOW_KAFKA_BOOTSTRAP is not set (run under `newsflow run` or set it)")
    return [s.strip() for s in settings.kafka_bootstrap.split(",") if s.strip()]


def security_config(settings: Settings) -> dict:
    """kafka-python's settings for NEWSFLOW_KAFKA_SECURITY_PROTOCOL and its companions; every
    client newsflow makes takes them (Faust's stages: faust_credentials below)."""
    protocol = settings.kafka_security_protocol
    config: dict = {"security_protocol": protocol}
    if protocol.startswith("SASL"):
        config.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            # kafka-python takes these for SCRAM too
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password.get_secret_value(),
        )
    if protocol in ("SSL", "SASL_SSL"):
        config.update(
            ssl_cafile=_path(settings.kafka_ssl_cafile),
            ssl_certfile=_path(settings.kafka_ssl_certfile),
            ssl_keyfile=_path(settings.kafka_ssl_keyfile),
            ssl_password=settings.kafka_ssl_key_password.get_secret_value() or None,
            ssl_check_hostname=settings.kafka_ssl_check_hostname,
        )
    return config


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """The TLS context of NEWSFLOW_KAFKA_SSL_* (for aiokafka, which takes a context, not files)."""
    context = ssl.create_default_context(cafile=_path(settings.kafka_ssl_cafile))
    context.check_hostname = settings.kafka_ssl_check_hostname
    if settings.kafka_ssl_certfile:
        context.load_cert_chain(
            _path(settings.kafka_ssl_certfile), _path(settings.kafka_ssl_keyfile),
            settings.kafka_ssl_key_password.get_secret_value() or None,
        )
    return context


def _path(path) -> str | None:
    return str(path) if path else None


def make_admin(settings: Settings, cls: type = KafkaAdminClient, **overrides) -> KafkaAdminClient:
    return cls(**{"bootstrap_servers": bootstrap_servers(settings), **security_config(settings), **overrides})


def make_producer(settings: Settings, **overrides) -> KafkaProducer:
    config = dict(
        **security_config(settings),
        bootstrap_servers=bootstrap_servers(settings),
        acks="all",
        linger_ms=settings.producer_linger_ms,
        batch_size=settings.producer_batch_bytes,
        # Idempotence off: on Tansu a restart makes an idempotent producer fail
        # for good (DESIGN.md). Duplicates from retries are harmless: the sink upserts by id.
        enable_idempotence=False,
        retries=5,
        max_request_size=settings.max_request_bytes,
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
    )
    config.update(overrides)
    return KafkaProducer(**config)


def make_consumer(settings: Settings, group: str | None, *topics: str, listener=None, **overrides) -> KafkaConsumer:
    config = dict(
        **security_config(settings),
        bootstrap_servers=bootstrap_servers(settings),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
    )
    config.update(overrides)
    if not (group and topics):
        return KafkaConsumer(*topics, **config)
    # kafka-python 3.0.12 can join a group before it has its topics' metadata: the leader then
    # assigns no partition at all and, the metadata arriving meanwhile, never sees a reason to
    # rebalance (measured: 1 consumer in ~10 of a new group on a new topic got nothing, for
    # good). So the topics' partitions are known first, then it subscribes.
    consumer = KafkaConsumer(**config)
    subscribe(consumer, topics, listener)
    return consumer


def subscribe(consumer: KafkaConsumer, topics: Iterable[str], listener=None) -> None:
    """Subscribe once the topics' partitions are known (see make_consumer)."""
    topics = list(topics)
    for topic in topics:
        partitions_of(consumer, topic)
    if listener is None:
        consumer.subscribe(topics)
    else:
        consumer.subscribe(topics, listener=listener)


def ensure_topics(settings: Settings, names: Iterable[str]) -> list[str]:
    """Create the topics that do not exist yet; returns the ones created."""
    admin = make_admin(settings)
    try:
        existing = set(admin.list_topics())
        wanted = [n for n in dict.fromkeys(names) if n not in existing]
        created = []
        for name in wanted:
            try:
                admin.create_topics([NewTopic(
                    name, settings.partitions, settings.replication_factor,
                    # Apache Kafka refuses messages over ~1 MB unless the topic allows more.
                    topic_configs={"max.message.bytes": str(settings.max_request_bytes)},
                )])
                created.append(name)
            except TopicAlreadyExistsError:
                pass  # another process won the race
        if created:
            wait_until_described(admin, created)
            log.info("created topics: %s", ", ".join(created))
        return created
    finally:
        admin.close()


def wait_until_described(admin: KafkaAdminClient, names: list[str], timeout_s: float = 30.0) -> None:
    """Until the broker describes each new topic with its partitions. Kafka answers CreateTopics
    once its controller has the topic, and the broker's metadata follows a moment later: a
    client asking in between is told the topic does not exist (which BrokerWatch would take for
    a lost topic)."""
    deadline = time.monotonic() + timeout_s
    while True:
        described = admin.describe_topics(names)
        if all(t.get("error_code") == 0 and t.get("partitions") for t in described):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {names} not described by the broker within {timeout_s:.0f} s")
        time.sleep(0.05)


def partition_counts(settings: Settings, names: Iterable[str]) -> dict[str, int]:
    """How many partitions each topic has (0: it does not exist)."""
    consumer = make_consumer(settings, None)
    try:
        consumer.topics()  # a metadata request for every topic
        return {name: len(consumer.partitions_for_topic(name) or ()) for name in names}
    finally:
        consumer.close(autocommit=False)


def partitions_of(consumer: KafkaConsumer, topic: str, timeout_s: float = 10.0) -> list[TopicPartition]:
    deadline = time.monotonic() + timeout_s
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic!r} has no partitions (does it exist?)")
        time.sleep(0.1)


def high_watermarks(settings: Settings, topic: str, timeout_s: float = 10.0) -> dict[int, int]:
    """Offset after the last record of each partition.

    Not end_offsets(): on Tansu ListOffsets answers the base offset of the last
    record batch + 1 (DESIGN.md). A fetch response carries the true high watermark, so we
    fetch from that (possibly low) estimate and read the watermark off the response.
    Correct on Apache Kafka too, where the estimate is already exact.
    """
    consumer = make_consumer(settings, None, fetch_max_wait_ms=50, max_partition_fetch_bytes=1024)
    try:
        tps = partitions_of(consumer, topic, timeout_s)
        consumer.assign(tps)
        consumer.seek_to_end(*tps)
        deadline = time.monotonic() + timeout_s
        while any(consumer.highwater(tp) is None for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no fetch response for {topic} within {timeout_s}s")
            consumer.poll(timeout_ms=100)
        return {tp.partition: consumer.highwater(tp) for tp in tps}
    finally:
        consumer.close(autocommit=False)


def committed_offsets(settings: Settings, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition (0 where it never committed)."""
    consumer = make_consumer(settings, group)
    try:
        out = {}
        for tp in partitions_of(consumer, topic):
            out[tp.partition] = consumer.committed(tp) or 0
        return out
    finally:
        consumer.close(autocommit=False)


def backlog(settings: Settings, group: str, topic: str) -> int:
    """Messages in `topic` the group has not committed yet."""
    ends = high_watermarks(settings, topic)
    done = committed_offsets(settings, group, topic)
    return sum(max(0, end - done.get(p, 0)) for p, end in ends.items())
