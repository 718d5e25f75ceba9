"""Tagger: news.clean -> topic tags -> news.tagged, plus a copy per tag to news.topic.<tag>."""
from __future__ import annotations

from functools import partial

from prometheus_client import CollectorRegistry

from services.tagger.metrics import TaggerMetrics
from services.tagger.tag import tag_article
from services.tagger.taxonomy import Taxonomy, load_taxonomy
from shared.config import Settings
from shared.kafka import ensure_topics
from shared.metrics import serve_metrics
from shared.schema import Article, encode
from shared.stream import make_app, process, raw_topic, run_worker


def build(settings: Settings, taxonomy: Taxonomy, registry: CollectorRegistry | None = None):
    metrics = TaggerMetrics(registry or CollectorRegistry(), taxonomy.version)
    app = make_app(settings, "tagger", metrics)
    source = raw_topic(app, settings.clean_topic)
    tagged = raw_topic(app, settings.tagged_topic)
    dlq = raw_topic(app, settings.dlq_topic)
    per_tag = {t.name: raw_topic(app, settings.tag_topic(t.name)) for t in taxonomy.topics}

    async def emit(article: Article) -> None:
        value = encode(article)
        await tagged.send(key=article.key, value=value)
        for tag in article.tags:
            await per_tag[tag.name].send(key=article.key, value=value)
            metrics.articles_tagged.labels(tag.name).inc()
        metrics.messages_out.inc()

    @app.agent(source, name="tag")
    async def tag_agent(stream):
        await process(
            stream, transform=partial(tag_article, taxonomy=taxonomy), emit=emit, dlq=dlq, metrics=metrics
        )

    return app, metrics


def main(settings: Settings) -> None:
    taxonomy = load_taxonomy(settings.taxonomy_file)
    ensure_topics(
        settings,
        [settings.clean_topic, settings.tagged_topic, settings.dlq_topic]
        + [settings.tag_topic(t.name) for t in taxonomy.topics],
    )
    app, metrics = build(settings, taxonomy)
    serve_metrics(settings, metrics.registry, "tagger")
    run_worker(app, settings)
