"""Cleaner: news.raw -> clean text and metadata -> news.clean (Faust agent)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry

from services.cleaner.clean import clean_article
from services.cleaner.metrics import CleanerMetrics
from shared.config import Settings
from shared.brokerwatch import BrokerWatch, wait_for_broker
from shared.metrics import serve_metrics
from shared.schema import Article, encode
from shared.stream import make_app, process, raw_topic, run_worker


def build(settings: Settings, registry: CollectorRegistry | None = None):
    metrics = CleanerMetrics(registry or CollectorRegistry())
    app = make_app(settings, "cleaner", metrics)
    source = raw_topic(app, settings.raw_topic)
    clean = raw_topic(app, settings.clean_topic)
    dlq = raw_topic(app, settings.dlq_topic)

    async def emit(article: Article) -> list:
        sent = await clean.send(key=article.key, value=encode(article))
        metrics.messages_out.inc()
        return [sent]

    @app.agent(source, name="clean")
    async def clean_agent(stream):
        await process(stream, transform=clean_article, emit=emit, dlq=dlq, metrics=metrics, settings=settings)

    return app, metrics


def main(settings: Settings) -> None:
    topics = [settings.raw_topic, settings.clean_topic, settings.dlq_topic]
    app, metrics = build(settings)
    serve_metrics(settings, metrics.registry, "cleaner")
    wait_for_broker(settings, topics, metrics)
    BrokerWatch(settings, metrics, topics).start()
    run_worker(app, settings)
