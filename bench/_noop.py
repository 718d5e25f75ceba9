"""No-op stages with the pipeline's own plumbing: what the topology costs without our work.

    python -m bench._noop cleaner|tagger|sink      (settings from NEWSFLOW_* like the real ones)

cleaner and tagger: the real Faust app (shared.stream.make_app, same settings and sensors)
whose agent forwards each message's bytes to the next topic. sink: the real sink's consumer
settings, committing each batch, storing nothing.
"""
from __future__ import annotations

import signal
import sys

from kafka.errors import CommitFailedError, RebalanceInProgressError
from prometheus_client import CollectorRegistry

from shared.config import load_settings
from shared.kafka import make_consumer
from shared.metrics import StageMetrics, serve_metrics
from shared.stream import make_app, raw_topic, run_worker


def faust_stage(stage: str, source: str, target: str) -> None:
    settings = load_settings()
    metrics = StageMetrics(stage, CollectorRegistry(), consumes=True)
    app = make_app(settings, stage, metrics)
    inbound, outbound = raw_topic(app, source), raw_topic(app, target)

    @app.agent(inbound, name=f"noop-{stage}")
    async def forward(stream):  # batched as shared.stream.process does
        async for events in stream.take_events(settings.stream_batch_size, within=settings.stream_batch_ms / 1000):
            metrics.messages_in.inc(len(events))
            for event in events:
                await outbound.send(key=event.key, value=event.value)
            metrics.messages_out.inc(len(events))

    serve_metrics(settings, metrics.registry, stage)
    run_worker(app, settings)


def sink_stage() -> None:
    settings = load_settings()
    metrics = StageMetrics("sink", CollectorRegistry(), consumes=True)
    serve_metrics(settings, metrics.registry, "sink")
    consumer = make_consumer(settings, settings.group("sink"), settings.tagged_topic,
                             max_poll_records=settings.sink_batch_size)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    while not stopping:
        polled = consumer.poll(timeout_ms=settings.sink_batch_ms)
        count = sum(len(records) for records in polled.values())
        if count:
            metrics.messages_in.inc(count)
            try:
                consumer.commit()
            except (CommitFailedError, RebalanceInProgressError):
                continue  # the group is rebalancing (as the real sink, services/sink/main.py): delivered again
            metrics.messages_out.inc(count)
    consumer.close(autocommit=False)


def main(stage: str) -> None:
    settings = load_settings()
    if stage == "cleaner":
        faust_stage(stage, settings.raw_topic, settings.clean_topic)
    elif stage == "tagger":
        faust_stage(stage, settings.clean_topic, settings.tagged_topic)
    elif stage == "sink":
        sink_stage()
    else:
        raise SystemExit(f"unknown stage {stage!r}")


if __name__ == "__main__":
    main(sys.argv[1])
