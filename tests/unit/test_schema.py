import orjson
import pytest

from shared.schema import Article, BadMessage, DeadLetter, Tag, content_id, decode, encode


def _article(**kw) -> Article:
    base = dict(id="a1", url="https://example.org/a", source="demo", content="Body text.")
    base.update(kw)
    return Article(**base)


def test_round_trip_keeps_every_field():
    art = _article(title="T", tags=[Tag("taiwan", 2.5, [{"phrase": "Taiwan", "where": "body", "pos": 3}])])
    back = decode(encode(art))
    assert back == art
    assert orjson.loads(encode(art))["schema"] == 1


@pytest.mark.parametrize(
    "raw, kind",
    [
        (b"{not json", "not_json"),
        (b"[1, 2]", "not_json"),
        (None, "empty"),
        (orjson.dumps({"schema": 99, "id": "x", "url": "u", "source": "s", "content": "c"}), "schema_version"),
        (orjson.dumps({"schema": 1, "id": "x", "url": "u", "source": "s"}), "missing_field"),
        (orjson.dumps({"schema": 1, "id": "x", "url": "u", "source": "s", "content": "", "text": ""}), "missing_field"),
        (orjson.dumps({"schema": 1, "id": "x", "url": "u", "source": "s", "content": "c", "tags": [{"x": 1}]}),
         "malformed_field"),
    ],
)
def test_bad_input_is_a_bad_message_with_a_kind(raw, kind):
    with pytest.raises(BadMessage) as info:
        decode(raw)
    assert info.value.kind == kind
    assert str(info.value)


def test_a_cleaned_article_travels_without_its_raw_content():
    from services.cleaner.clean import clean_article

    raw = Article(id="x", url="u", source="s", content="<p>The harbour reopened on Tuesday.</p>", content_type="text/html")
    cleaned = clean_article(raw)
    assert cleaned.content == "" and cleaned.text == "The harbour reopened on Tuesday."
    assert decode(encode(cleaned)) == cleaned
    assert len(encode(cleaned)) < len(encode(raw)) + len(cleaned.text)


def test_unknown_fields_from_a_newer_writer_are_ignored():
    data = orjson.loads(encode(_article()))
    data["something_new"] = 1
    assert decode(orjson.dumps(data)).id == "a1"


def test_content_id_is_stable_and_content_sensitive():
    assert content_id("abc") == content_id(b"abc")
    assert content_id("abc") != content_id("abd")
    assert len(content_id("abc")) == 24


def test_dead_letter_round_trip_keeps_original_bytes():
    letter = DeadLetter("cleaner", "not_json: x", b"\xff\x00raw", "news.raw", 2, 41, key=b"k")
    back = DeadLetter.decode(letter.encode())
    assert back == letter


@pytest.mark.parametrize("field, value", [
    ("title", []), ("published_at", 1700000000), ("text", {"p": 1}), ("content_type", None), ("fetched_at", "now"),
    ("fetched_at", True), ("authors", "Ann Lee"), ("authors", [1]), ("tags", {"taiwan": 1}),
    ("tags", [{"name": 1, "score": 1.0}]), ("tags", [{"name": "t", "score": "high"}]), ("schema", True),
])
def test_a_field_of_the_wrong_type_is_a_bad_message(field, value):
    """Stages after decode trust the types: a list as title would make the sink's write fail for its batch."""
    data = orjson.loads(encode(_article()))
    data[field] = value
    with pytest.raises(BadMessage) as info:
        decode(orjson.dumps(data))
    assert info.value.kind in ("malformed_field", "schema_version")
    assert field in str(info.value) or info.value.kind == "schema_version"


def test_null_authors_and_tags_read_as_empty():
    data = orjson.loads(encode(_article()))
    data.update(authors=None, tags=None)
    back = decode(orjson.dumps(data))
    assert back.authors == [] and back.tags == []


def test_a_message_over_the_limit_is_too_large_and_says_its_size():
    raw = encode(_article(content="x" * 5000))
    assert decode(raw, max_bytes=len(raw)).id == "a1"
    with pytest.raises(BadMessage) as caught:
        decode(raw, max_bytes=len(raw) - 1)
    assert caught.value.kind == "too_large" and f"{len(raw):,} bytes" in str(caught.value)


def test_invalid_utf8_is_not_json():
    with pytest.raises(BadMessage) as caught:
        decode(b'{"schema": 1, "id": "\xff", "url": "u", "source": "s", "content": "c"}')
    assert caught.value.kind == "not_json"


def test_a_bounded_letter_keeps_the_start_and_the_whole_size():
    letter = DeadLetter(stage="cleaner", reason="too_large", original=b"x" * 200_000, topic="t", partition=0, offset=9)
    assert letter.bounded(200_000) is letter and letter.original_size is None
    cut = DeadLetter.decode(letter.bounded(1000).encode())
    assert cut.original_size == 200_000 and cut.original == b"x" * 65536 and cut.offset == 9
