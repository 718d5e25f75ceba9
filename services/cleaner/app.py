"""Cleaner: news.raw -> clean text and metadata -> news.clean (Faust agent)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry

from services.cleaner.metrics import CleanerMetrics
from shared.brokerwatch import BrokerWatch, wait_for_broker
from shared.config import Settings
from shared.metrics import serve_metrics
from shared.pipeline.topology import input_topic, service_topics, stage
from shared.stream import make_app, process, raw_topic, run_worker

STAGE = stage("cleaner")


def build(settings: Settings, registry: CollectorRegistry | None = None):
    metrics = CleanerMetrics(registry or CollectorRegistry())
    app = make_app(settings, STAGE.name, metrics)
    source = raw_topic(app, input_topic(settings, STAGE.name))
    transform = STAGE.load_transform(settings)

    @app.agent(source, name="clean")
    async def clean_agent(stream):
        await process(stream, app=app, transform=transform, metrics=metrics, settings=settings)

    return app, metrics


def main(settings: Settings) -> None:
    topics = service_topics(settings, STAGE.name)
    app, metrics = build(settings)
    serve_metrics(settings, metrics.registry, "cleaner")
    wait_for_broker(settings, topics, metrics)
    BrokerWatch(settings, metrics, topics).start()
    run_worker(app, settings)
