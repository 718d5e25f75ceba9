"""Tagger: news.clean -> topic tags -> news.tagged, plus a copy per tag to news.topic.<tag>."""
from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry

from services.tagger.metrics import TaggerMetrics
from services.tagger.reload import TaxonomyWatcher
from services.tagger.taxonomy import Taxonomy, load_taxonomy
from shared.brokerwatch import BrokerWatch, wait_for_broker
from shared.config import Settings
from shared.kafka import ensure_topics
from shared.metrics import serve_metrics
from shared.pipeline.topology import input_topic, service_topics, stage
from shared.schema import Article
from shared.stream import make_app, process, raw_topic, run_worker

log = logging.getLogger(__name__)
STAGE = stage("tagger")


def build(settings: Settings, taxonomy: Taxonomy, registry: CollectorRegistry | None = None):
    metrics = TaggerMetrics(registry or CollectorRegistry(), taxonomy.version)
    app = make_app(settings, STAGE.name, metrics)
    source = raw_topic(app, input_topic(settings, STAGE.name))
    live = {"taxonomy": taxonomy}  # swapped by the reload timer
    transform = STAGE.load_transform(settings, taxonomy=lambda: live["taxonomy"])

    def count_tags(article: Article) -> None:
        for tag in article.tags:
            metrics.articles_tagged.labels(tag.name).inc()

    @app.agent(source, name="tag")
    async def tag_agent(stream):
        await process(stream, app=app, transform=transform, metrics=metrics, settings=settings, on_output=count_tags)

    if settings.taxonomy_reload_s > 0:
        watcher = TaxonomyWatcher(settings.taxonomy_file)
        watcher.accept(taxonomy)

        @app.timer(interval=settings.taxonomy_reload_s)
        async def reload_taxonomy():
            new = watcher.changed()
            if new is None:
                return
            names = [settings.tag_topic(t.name) for t in new.topics]
            try:  # the topics of new tags exist before the first article is routed to one
                await asyncio.get_running_loop().run_in_executor(None, ensure_topics, settings, names)
            except Exception:  # noqa: BLE001 - the broker is down: keep the old taxonomy, try again
                log.exception("cannot create the topics of taxonomy %s; will try again", new.version)
                watcher.retry()
                return
            old = live["taxonomy"]
            live["taxonomy"] = new
            watcher.accept(new)
            metrics.set_taxonomy(new.version)
            added = sorted({t.name for t in new.topics} - {t.name for t in old.topics})
            log.info("taxonomy reloaded: version %s -> %s%s", old.version, new.version,
                     f" (new tags: {', '.join(added)})" if added else "")

    return app, metrics


def main(settings: Settings) -> None:
    taxonomy = load_taxonomy(settings.taxonomy_file)
    topics = service_topics(settings, STAGE.name, [t.name for t in taxonomy.topics])
    app, metrics = build(settings, taxonomy)
    serve_metrics(settings, metrics.registry, "tagger")
    wait_for_broker(settings, topics, metrics)
    BrokerWatch(settings, metrics, topics).start()
    run_worker(app, settings)
