from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.metrics import StageMetrics


class TaggerMetrics(StageMetrics):
    def __init__(self, registry: CollectorRegistry, taxonomy_version: str):
        super().__init__("tagger", registry, consumes=True)
        self.articles_tagged = Counter(
            "newsflow_articles_tagged_total", "Articles that got a tag, by tag.", ["tag"], registry=registry
        )
        self.taxonomy_info = Gauge(
            "newsflow_taxonomy_info", "Taxonomy version in use (always 1).", ["version"], registry=registry
        )
        self.set_taxonomy(taxonomy_version)

    def set_taxonomy(self, version: str) -> None:
        """After a reload: only the version in use is exported."""
        self.taxonomy_info.clear()
        self.taxonomy_info.labels(version).set(1)
