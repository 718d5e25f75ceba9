import logging
import sys


def setup_logging(level: str, name: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # kafka-python logs every reconnect attempt at INFO/WARNING; keep ours readable.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLogger().level))
    # Closing a client while its metadata refresh is in flight logs "failed Cancelled" at ERROR.
    logging.getLogger("kafka.cluster").setLevel(logging.CRITICAL)
