from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.metrics import StageMetrics


class TaggerMetrics(StageMetrics):
    def __init__(self, registry: CollectorRegistry, taxonomy_version: str):
        super().__init__("tagger", registry, consumes=True)
        self.articles_tagged = Counter(
            "newsflow_articles_tagged_total", "Articles that got a tag, by tag.", ["tag"], registry=registry
        )
        Gauge(
            "newsflow_taxonomy_info", "Taxonomy version in use (always 1).", ["version"], registry=registry
        ).labels(taxonomy_version).set(1)
