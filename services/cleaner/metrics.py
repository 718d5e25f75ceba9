from prometheus_client import CollectorRegistry

from shared.metrics import StageMetrics


class CleanerMetrics(StageMetrics):
    def __init__(self, registry: CollectorRegistry):
        super().__init__("cleaner", registry, consumes=True)
