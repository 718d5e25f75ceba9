"""A consumer -> producer loop with no work, with kafka-python and with aiokafka (Faust's client):
the most our clients get out of a broker on this machine."""
from __future__ import annotations

import asyncio
import time

from shared.config import Settings
from shared.kafka import make_consumer, make_producer


def passthrough_kafka_python(settings: Settings, source: str, target: str, n: int) -> float:
    consumer = make_consumer(settings, settings.group("pt-kafka-python"), source, max_poll_records=1000)
    producer = make_producer(settings, linger_ms=20, batch_size=256 * 1024)
    done, started = 0, None
    while done < n:
        polled = consumer.poll(timeout_ms=1000)
        if polled and started is None:
            started = time.perf_counter()
        for records in polled.values():
            for record in records:
                producer.send(target, key=record.key, value=record.value)
            done += len(records)
        if polled:
            producer.flush()
            consumer.commit()
    seconds = time.perf_counter() - started
    consumer.close(autocommit=False)
    producer.close()
    return n / seconds


async def passthrough_aiokafka(settings: Settings, source: str, target: str, n: int) -> float:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    consumer = AIOKafkaConsumer(
        source, bootstrap_servers=settings.kafka_bootstrap, group_id=settings.group("pt-aiokafka"),
        enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=1000,
        session_timeout_ms=settings.session_timeout_ms, heartbeat_interval_ms=settings.heartbeat_interval_ms)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20,
                                max_batch_size=256 * 1024, enable_idempotence=False)
    await consumer.start()
    await producer.start()
    done, started = 0, None
    try:
        while done < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=1000)
            if batches and started is None:
                started = time.perf_counter()
            deliveries = []
            for records in batches.values():
                for record in records:
                    deliveries.append(await producer.send(target, key=record.key, value=record.value))
                done += len(records)
            if deliveries:
                await asyncio.gather(*deliveries)
                await consumer.commit()
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()
