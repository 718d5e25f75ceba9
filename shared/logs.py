import logging
import sys
import time


def setup_logging(level: str, name: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # kafka-python logs every reconnect attempt at INFO/WARNING; keep ours readable.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLogger().level))
    # but its group coordinator's few lines (joined, assigned, rebalancing) say where a consumer is
    logging.getLogger("kafka.coordinator").setLevel(logging.getLogger().level)
    # Closing a client while its metadata refresh is in flight logs "failed Cancelled" at ERROR.
    logging.getLogger("kafka.cluster").setLevel(logging.CRITICAL)
    hold_back_client_repeats(logging.getLogger())


class ClientRepeats(logging.Filter):
    """Lets each message of the Kafka clients through once per `every_s` (per logger and message
    template), saying how many like it were held back. During a broker outage aiokafka and
    kafka-python log every retry: about 70 lines a second from a pipeline, which would bury the
    one line per service that says the broker is unreachable (shared/brokerwatch.py)."""

    def __init__(self, every_s: float = 30.0, clients: tuple[str, ...] = ("kafka", "aiokafka")):
        super().__init__()
        self.every_s = every_s
        self.clients = clients
        self.prefixes = tuple(f"{c}." for c in clients)
        self.seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name not in self.clients and not record.name.startswith(self.prefixes):
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        last, held = self.seen.get(key, (None, 0))
        if last is not None and now - last < self.every_s:
            self.seen[key] = (last, held + 1)
            return False
        self.seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} [and {held} more like it in {now - last:.0f} s]"
        return True


def hold_back_client_repeats(root: logging.Logger, *_args) -> None:
    """Put ClientRepeats on every handler of `root` (also the handlers Faust installs)."""
    for handler in root.handlers:
        if not any(isinstance(f, ClientRepeats) for f in handler.filters):
            handler.addFilter(ClientRepeats())
