from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.metrics import StageMetrics
from shared import metric_names as names


class TaggerMetrics(StageMetrics):
    def __init__(self, registry: CollectorRegistry, taxonomy_version: str):
        super().__init__("tagger", registry, consumes=True)
        self.articles_tagged = Counter(
            names.ARTICLES_TAGGED, "Articles that got a tag, by tag.", ["tag"], registry=registry
        )
        self.taxonomy_info = Gauge(
            names.TAXONOMY_INFO, "Taxonomy version in use (always 1).", ["version"], registry=registry
        )
        self.set_taxonomy(taxonomy_version)

    def set_taxonomy(self, version: str) -> None:
        """After a reload: only the version in use is exported."""
        self.taxonomy_info.clear()
        self.taxonomy_info.labels(version).set(1)
