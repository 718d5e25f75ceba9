"""The one message type of newsflow, and its (de)serialisation.

An Article travels news.raw -> news.clean -> news.tagged; each stage fills in more
fields. Messages are orjson-encoded JSON with a `schema` version field, keyed by the
article id. Anything that cannot be decoded raises BadMessage, which stages turn into
a DeadLetter on news.dlq.
"""
from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import asdict, dataclass, field, fields, replace

import orjson

SCHEMA_VERSION = 1
DLQ_SCHEMA_VERSION = 1
LETTER_KEEPS = 64 * 1024  # bytes of a too-large original a dead letter keeps


class BadMessage(ValueError):
    """Input a stage cannot handle. `kind` is a short, bounded label for metrics;
    the message is the full reason that goes on the dead letter."""

    def __init__(self, reason: str, kind: str = "bad_message"):
        super().__init__(reason)
        self.kind = kind


@dataclass(slots=True)
class Tag:
    name: str
    score: float
    evidence: list[dict] = field(default_factory=list)  # [{"phrase":..,"where":"title|body","pos":..}]


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    url: str
    source: str
    content: str  # raw body as fetched: text or HTML (see content_type); "" once cleaned (text holds it)
    content_type: str = "text/plain"
    title: str | None = None
    published_at: str | None = None  # ISO 8601
    authors: list[str] = field(default_factory=list)
    fetched_at: float = field(default_factory=time.time)  # epoch seconds, for end-to-end latency
    content_hash: str = ""  # hash of the raw content; a new hash under the same id is a new revision
    # Filled by the cleaner.
    text: str | None = None
    dateline: str | None = None
    language: str | None = None
    # Filled by the tagger.
    tags: list[Tag] = field(default_factory=list)
    taxonomy_version: str | None = None
    # Filled by the sink (its dedup and stories), in what it stores and reads back.
    duplicate_of: str | None = None
    story_id: str | None = None
    schema: int = SCHEMA_VERSION

    @property
    def key(self) -> bytes:
        return self.id.encode()


_ARTICLE_FIELDS = {f.name for f in fields(Article)}
_REQUIRED = ("id", "url", "source", "content")
_REQUIRED_CLEANED = ("id", "url", "source")
_STRINGS = ("content_type", "content_hash")
_OPTIONAL_STRINGS = (
    "title", "published_at", "text", "dateline", "language", "taxonomy_version", "duplicate_of", "story_id",
)


def encode(article: Article) -> bytes:
    return orjson.dumps(article)


def decode(raw: bytes | None, max_bytes: int | None = None) -> Article:
    """The article in `raw`; BadMessage saying why when there is none (or it is over max_bytes)."""
    if raw is None:
        raise BadMessage("empty message (tombstone)", "empty")
    if max_bytes is not None and len(raw) > max_bytes:
        raise BadMessage(
            f"too large: {len(raw):,} bytes, over the {max_bytes:,} a stage takes (NEWSFLOW_MAX_MESSAGE_BYTES)",
            "too_large",
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadMessage(f"not JSON: {exc}", "not_json") from None
    if not isinstance(data, dict):
        raise BadMessage(f"not a JSON object: {type(data).__name__}", "not_json")
    version = data.get("schema")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise BadMessage(
            f"unknown schema version {version!r} (this build reads {SCHEMA_VERSION})", "schema_version"
        )
    # The cleaner drops the raw body (later stages read `text`): a cleaned article needs no content.
    required = _REQUIRED_CLEANED if isinstance(data.get("text"), str) and data["text"] else _REQUIRED
    missing = [k for k in required if not isinstance(data.get(k), str) or not data.get(k)]
    if missing:
        raise BadMessage(f"missing or non-string field(s): {', '.join(missing)}", "missing_field")
    wrong = _wrongly_typed(data)
    if wrong:
        raise BadMessage(f"malformed field {wrong}", "malformed_field")
    try:
        tags = [Tag(**t) for t in data.get("tags") or []]
        kwargs = {k: v for k, v in data.items() if k in _ARTICLE_FIELDS and k != "tags"}
        if kwargs.get("authors", []) is None:  # null for an empty list, as the tags may be
            del kwargs["authors"]
        return Article(tags=tags, **kwargs)
    except TypeError as exc:
        raise BadMessage(f"malformed field: {exc}", "malformed_field") from None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _wrongly_typed(data: dict) -> str | None:
    """The first field whose JSON type is not the Article's (a reason), or None.

    Checked here, once, because every stage after this trusts the types: a `title` that is a list
    would pass the cleaner and the tagger and make the sink's database write fail for its whole batch.
    """
    for name in _STRINGS:
        if name in data and not isinstance(data[name], str):
            return f"{name!r}: a string, not {type(data[name]).__name__}"
    for name in _OPTIONAL_STRINGS:
        if data.get(name) is not None and not isinstance(data[name], str):
            return f"{name!r}: a string or null, not {type(data[name]).__name__}"
    if "fetched_at" in data and not _is_number(data["fetched_at"]):
        return f"'fetched_at': a number, not {type(data['fetched_at']).__name__}"
    authors = data.get("authors")
    if authors is not None and not (isinstance(authors, list) and all(isinstance(a, str) for a in authors)):
        return "'authors': a list of strings"
    tags = data.get("tags")
    if tags is None:
        return None
    if not isinstance(tags, list):
        return f"'tags': a list, not {type(tags).__name__}"
    for tag in tags:
        if not (isinstance(tag, dict) and isinstance(tag.get("name"), str) and _is_number(tag.get("score"))
                and isinstance(tag.get("evidence", []), list)):
            return "'tags': each a {name: string, score: number, evidence: list}"
    return None


def content_id(content: str | bytes) -> str:
    """Stable id from content (files, entries without guid or link)."""
    data = content.encode() if isinstance(content, str) else content
    return hashlib.sha256(data).hexdigest()[:24]


def hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(slots=True)
class DeadLetter:
    """What a stage could not handle, with enough to find and replay it."""

    stage: str
    reason: str
    original: bytes
    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    at: float = field(default_factory=time.time)
    schema: int = DLQ_SCHEMA_VERSION
    # Set when `original` keeps only the start of a message too large to carry whole: its size.
    # The whole message is still at topic/partition/offset (until the topic's retention).
    original_size: int | None = None

    def bounded(self, max_bytes: int) -> "DeadLetter":
        """This letter, keeping only the first LETTER_KEEPS bytes of an original over max_bytes."""
        if len(self.original) <= max_bytes:
            return self
        return replace(self, original=self.original[:LETTER_KEEPS], original_size=len(self.original))

    def encode(self) -> bytes:
        data = asdict(self)
        data["original"] = base64.b64encode(self.original).decode()
        data["key"] = base64.b64encode(self.key).decode() if self.key is not None else None
        return orjson.dumps(data)

    @classmethod
    def decode(cls, raw: bytes) -> "DeadLetter":
        data = orjson.loads(raw)
        data["original"] = base64.b64decode(data["original"])
        if data.get("key") is not None:
            data["key"] = base64.b64decode(data["key"])
        return cls(**data)
