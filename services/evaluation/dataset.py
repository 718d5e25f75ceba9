"""The labelled evaluation set (tests/eval/articles.yaml): entries to raw articles and expectations."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from shared.schema import Article

ENTRY_KEYS = {"id", "title", "body", "before", "after", "inside", "tags", "story", "copy_of", "edits",
              "credit", "duplicate", "published", "why"}


class DatasetError(ValueError):
    pass


@dataclass
class Case:
    id: str
    article: Article  # the raw article, as the poller would publish it
    body_lines: list[str]  # what cleaning must keep
    boilerplate_lines: list[str]  # what cleaning must remove
    tags: set[str]
    story: str
    duplicate_of: str | None
    why: str = ""
    extra: dict = field(default_factory=dict)


def _paragraphs(body: str) -> list[str]:
    return [" ".join(p.split()) for p in body.strip().split("\n\n") if p.strip()]


def load_cases(path: Path) -> list[Case]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DatasetError(f"{path}: {exc}") from None
    entries = data.get("articles") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise DatasetError(f"{path}: expected a mapping with a non-empty `articles` list")
    by_id: dict[str, dict] = {}
    cases = []
    for i, entry in enumerate(entries):
        where = f"{path}: articles[{i}]"
        if not isinstance(entry, dict) or "id" not in entry:
            raise DatasetError(f"{where}: an entry is a mapping with an id")
        unknown = set(entry) - ENTRY_KEYS
        if unknown:
            raise DatasetError(f"{where}: unknown key(s) {sorted(unknown)}")
        if entry["id"] in by_id:
            raise DatasetError(f"{where}: id {entry['id']!r} repeated")
        cases.append(_case(entry, by_id, where))
        by_id[entry["id"]] = entry
    return cases


def _case(entry: dict, by_id: dict[str, dict], where: str) -> Case:
    original = None
    if "copy_of" in entry:
        original = by_id.get(entry["copy_of"])
        if original is None:
            raise DatasetError(f"{where}: copy_of {entry['copy_of']!r} must name an earlier entry")
        body = original["body"]
        for old, new in entry.get("edits") or []:
            if old not in body:
                raise DatasetError(f"{where}: edit {old!r} not found in {entry['copy_of']}")
            body = body.replace(old, new, 1)
        entry.setdefault("story", original.get("story", original["id"]))
        entry.setdefault("tags", original.get("tags", []))
    elif "body" not in entry:
        raise DatasetError(f"{where}: needs a body or copy_of")
    else:
        body = entry["body"]
    paragraphs = _paragraphs(body)
    before, inside, after = (list(entry.get(k) or []) for k in ("before", "inside", "after"))
    credit = [entry["credit"]] if entry.get("credit") else []
    raw = before + paragraphs[:1] + inside + paragraphs[1:] + credit + after
    duplicate_of = entry["copy_of"] if original is not None and entry.get("duplicate", True) else None
    article = Article(
        id=entry["id"], url=f"https://eval.example/{entry['id']}", source="eval",
        content="\n\n".join(raw), title=entry.get("title"),
        published_at=f"{entry['published']}T12:00:00+00:00" if entry.get("published") else None,
    )
    return Case(
        id=entry["id"], article=article, body_lines=paragraphs, boilerplate_lines=before + inside + after,
        tags=set(entry.get("tags") or []), story=entry.get("story", entry["id"]), duplicate_of=duplicate_of,
        why=entry.get("why", ""),
    )
