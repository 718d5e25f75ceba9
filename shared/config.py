"""Every setting of newsflow, in one typed object read from NEWSFLOW_* variables.

Command-line flags override these by setting the same field (see services/cli.py).
"""
from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.pipeline.topology import CLEAN, DLQ, DLQ_REPLAYED, RAW, TAG_TOPIC, TAGGED

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = PROJECT_ROOT / "samples"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEWSFLOW_", extra="ignore")

    # Kafka. Empty bootstrap = embedded mode: `newsflow run` starts a local broker (see `broker`).
    kafka_bootstrap: str = ""
    topic_prefix: str = "news"
    group_prefix: str = "newsflow"  # consumer groups are <group_prefix>-<stage>
    partitions: int = Field(default=4, ge=1)
    # The largest message a stage takes (an article as JSON; ~100 KB is a long one); a larger
    # one is dead-lettered as too_large. Producers and the topics newsflow creates allow
    # max_request_bytes, room for a stage's output (the cleaner adds the text beside the content).
    max_message_bytes: int = Field(default=1024 * 1024, ge=1024)
    # A stage stops (exit 65, not restarted) past this many dead letters in a row, or past this
    # share of letters among its last 1,000 messages; 0 and 1 turn each check off.
    dlq_max_consecutive: int = Field(default=100, ge=0)
    dlq_max_ratio: float = Field(default=0.5, gt=0, le=1)
    replication_factor: int = Field(default=1, ge=1)
    # Group timeouts: with client defaults a join takes ~23 s on Tansu, ~3 s with these. 6 s is the
    # least Apache Kafka accepts (group.min.session.timeout.ms).
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 1000
    broker_port: int = 0  # embedded broker port; 0 picks a free one
    # The embedded broker (services/broker/): auto = Apache Kafka when Java 17+ and its jars (`make
    # install`) are here, else Tansu, memory-only and only for trying newsflow out.
    broker: Literal["auto", "kafka", "tansu"] = "auto"
    kafka_home: Path | None = None  # an unpacked Kafka distribution to run instead of `make install`'s jars
    kafka_heap_mb: int = Field(default=512, ge=128)  # the embedded Kafka's JVM heap (fixed: -Xms = -Xmx)
    # Retention of the embedded Kafka's topics: history older than this, or beyond this many bytes
    # per partition (-1: no size limit), is deleted. Replay reaches back this far.
    kafka_retention_hours: float = Field(default=168.0, gt=0)
    kafka_retention_bytes: int = Field(default=1024**3, ge=-1)
    # How long a consumer's fetch may wait for records: Tansu always waits this long
    # (shared/stream.py), so it is added to the latency of every hop.
    fetch_max_wait_ms: int = Field(default=100, ge=1)
    # Producer batching: a batch goes when it holds this many bytes or has waited this long
    # (the linger: kafka-python producers, and the stages' aiokafka producers except on Tansu, see shared/stream.py).
    producer_batch_bytes: int = Field(default=256 * 1024, ge=16 * 1024)
    producer_linger_ms: int = Field(default=10, ge=0)
    # Kafka security, for a production cluster: every kafka-python client and the Faust stages use it
    # (shared/kafka.py). SASL_* needs the username and password; SSL/SASL_SSL check the brokers'
    # certificates against kafka_ssl_cafile (default: the system's CAs), and send a client
    # certificate when kafka_ssl_certfile is set (mutual TLS).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")  # never in repr(), logs or errors
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None  # the client certificate's key, when not in the certfile
    kafka_ssl_key_password: SecretStr = SecretStr("")
    kafka_ssl_check_hostname: bool = True

    # Where things live.
    data_dir: Path = Path("data")
    db_url: str = Field(default="", repr=False)  # default: sqlite:///<data_dir>/newsflow.db; may hold a password
    feeds_file: Path = SAMPLES / "feeds.yaml"  # YAML or OPML; the default is the bundled demo feeds
    taxonomy_file: Path = PROJECT_ROOT / "services" / "tagger" / "taxonomy.yaml"
    taxonomy_reload_s: float = Field(default=5.0, ge=0)  # the tagger re-reads a changed taxonomy file; 0: never

    # Poller.
    poll_interval_s: float = Field(default=900.0, gt=0)  # per feed, unless the feed sets its own
    max_backoff_s: float = Field(default=6 * 3600.0, gt=0)  # cap of the backoff of a failing feed
    connect_timeout_s: float = Field(default=10.0, gt=0)
    fetch_timeout_s: float = Field(default=30.0, gt=0)  # total per fetch, body included
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    fetch_concurrency: int = Field(default=20, ge=1)  # fetches at once, all hosts
    # processes parsing feeds (default: one core left for the poller itself); 0: a thread of the poller
    parse_workers: int = Field(default_factory=lambda: max(1, (os.cpu_count() or 2) - 1), ge=0)
    # Bounds of one parse in a parser process (not in the thread of parse_workers=0): a longer parse is
    # stopped by the process (SIGALRM; one that does not stop has its process replaced), and a parser
    # process may not grow past parse_memory_mb (0: no cap).
    parse_timeout_s: float = Field(default=60.0, gt=0)
    parse_memory_mb: int = Field(default=1024, ge=0)
    # An entry, file or page whose message would be larger is not published (counted); the cleaner's
    # message carries the raw content and the clean text, so keep it under half the broker's
    # message.max.bytes (1 MB by default on Apache Kafka).
    max_article_bytes: int = Field(default=400_000, ge=1000)
    host_concurrency: int = Field(default=2, ge=1)  # fetches at once to one host
    host_min_gap_s: float = Field(default=1.0, ge=0)  # between two requests to one host
    fulltext_min_chars: int = Field(default=400, ge=0)  # shorter entries get their page fetched; 0: never
    fulltext_max_per_poll: int = Field(default=20, ge=0)  # page fetches per feed and poll; the rest keep the summary
    allow_private_hosts: str = ""  # comma list of hosts, addresses or networks the SSRF guard lets through
    publish_timeout_s: float = Field(default=60.0, ge=1)  # broker acknowledgement of a feed's entries; then exit 75
    seen_ids_per_feed: int = Field(default=5000, ge=100)  # entry ids remembered per feed (oldest forgotten)

    # The cleaner and the tagger take events in batches of this many, or what came within this
    # many milliseconds; offsets advance past a batch once all of it is handled.
    stream_batch_size: int = Field(default=500, ge=1)
    stream_batch_ms: int = Field(default=20, ge=1)
    # Events a Faust stage holds read and not yet handled (Faust's stream_buffer_maxsize, 4096 by
    # default): 64 whole HTML pages are ~17 MB; 4096 let the cleaner hold ~35 MB more (BENCHMARKS.md).
    stream_buffer_events: int = Field(default=64, ge=1)

    # Sink batching: a transaction per this many messages or this many milliseconds.
    # 250, not more: a batch loads the index entries of its story candidates at once (measured
    # with 20,000 articles indexed: 36 MB at its peak for 250, 56 MB for 500).
    sink_batch_size: int = Field(default=250, ge=1)
    sink_batch_ms: int = Field(default=200, ge=1)
    # A failing database write is retried (backoff up to 10 s) this long, then the sink exits.
    sink_retry_s: float = Field(default=60.0, ge=0)

    # Metrics: each process serves /metrics on metrics_port (0 = off when run alone).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    metrics_base_port: int = 9300  # `newsflow run` gives service i the port base+i

    # Supervisor.
    restart_limit: int = Field(default=5, ge=1)  # deaths within restart_window_s before giving up
    restart_window_s: float = 60.0
    # Processes per stage under `newsflow run`, e.g. "cleaner=2,tagger=2" (one each if not named).
    # Workers of a stage share its consumer group and split its input topic's partitions.
    workers: str = ""

    log_level: str = "INFO"

    @field_validator("workers")
    @classmethod
    def _workers_format(cls, value: str) -> str:
        parse_worker_counts(value)
        return value

    @property
    def worker_counts(self) -> dict[str, int]:
        return parse_worker_counts(self.workers)

    @property
    def max_request_bytes(self) -> int:
        return max(8 * 1024 * 1024, 4 * self.max_message_bytes)

    @model_validator(mode="after")
    def _kafka_security_complete(self) -> "Settings":
        # mode="after": a failure shows this model's repr, where secrets are masked, not the raw input.
        sasl = self.kafka_security_protocol.startswith("SASL")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password.get_secret_value()):
            raise ValueError(f"NEWSFLOW_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                             "NEWSFLOW_KAFKA_SASL_USERNAME and NEWSFLOW_KAFKA_SASL_PASSWORD")
        for name in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"NEWSFLOW_{name.upper()}: no such file {path}")
        if self.kafka_ssl_keyfile and not self.kafka_ssl_certfile:
            raise ValueError("NEWSFLOW_KAFKA_SSL_KEYFILE is the key of NEWSFLOW_KAFKA_SSL_CERTFILE, which is not set")
        return self

    @cached_property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{(self.data_dir / 'newsflow.db').resolve()}"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"

    @property
    def raw_topic(self) -> str:
        return self.topic(RAW)

    @property
    def clean_topic(self) -> str:
        return self.topic(CLEAN)

    @property
    def tagged_topic(self) -> str:
        return self.topic(TAGGED)

    @property
    def dlq_topic(self) -> str:
        return self.topic(DLQ)

    @property
    def dlq_replayed_topic(self) -> str:
        """Which dead letters `newsflow dlq replay` has sent back (one record per letter)."""
        return self.topic(DLQ_REPLAYED)

    def tag_topic(self, tag: str) -> str:
        return self.topic(TAG_TOPIC.format(tag=tag))

    def group(self, stage: str) -> str:
        return f"{self.group_prefix}-{stage}"


def parse_worker_counts(spec: str) -> dict[str, int]:
    """"cleaner=2,tagger=2" -> {"cleaner": 2, "tagger": 2}; ValueError saying what is wrong."""
    counts: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, number = part.partition("=")
        if not sep or not name.strip() or not number.strip().isdigit() or int(number) < 1:
            raise ValueError(f"NEWSFLOW_WORKERS: {part!r} is not STAGE=N with N >= 1 (e.g. cleaner=2,tagger=2)")
        counts[name.strip()] = int(number)
    return counts


# password=/sslpassword= in a URL's query or a libpq connection string
_PARAM_PASSWORD = re.compile(r"(?i)\b((?:ssl)?password)=[^&\s]*")


def redact_url(url: str) -> str:
    """A database or broker URL fit for logs and error messages: every password replaced by ***.
    The user part ends at the last "@" before the query, so a password holding "@" goes whole."""
    scheme, sep, rest = url.partition("://")
    if sep:
        query = rest.find("?")
        at = rest.rfind("@", 0, query if query != -1 else len(rest))
        at = at if at != -1 else rest.rfind("@")  # a "?" in the password: over-redacting is the safe side
        if at != -1 and ":" in rest[:at]:
            rest = rest[:at].split(":", 1)[0] + ":***" + rest[at:]
    return _PARAM_PASSWORD.sub(r"\1=***", scheme + sep + rest)


def load_settings(**overrides) -> Settings:
    """Settings from the environment, with explicit (non-None) overrides on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
