"""The feeds file: YAML (a list of feeds with options) or OPML (what feed readers export)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse
from xml.etree import ElementTree

import yaml

FEED_KEYS = {"name", "url", "interval", "interval_s", "headers", "enabled", "fulltext", "folder"}


class FeedsFileError(ValueError):
    pass


@dataclass
class Feed:
    name: str
    url: str
    interval_s: float | None = None
    headers: dict[str, str] = field(default_factory=dict)
    enabled: bool = True
    fulltext: bool = True  # fetch the linked page when an entry carries only a short summary
    folder: str | None = None  # where a feed reader filed it ("News/Tech"); informational


def load_feeds(path: str | Path) -> list[Feed]:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FeedsFileError(f"{path}: cannot read the feeds file: {exc}") from None
    if path.suffix.lower() == ".opml" or b"<opml" in raw[:1000].lower():
        return _from_opml(raw, path)
    return _from_yaml(raw, path)


def resolve_url(url: str, base: Path) -> str:
    """http(s) and file URLs as they are; a plain path is taken relative to the feeds file."""
    scheme = urlparse(url).scheme.lower()
    if scheme in ("http", "https", "file"):
        return url
    return (base.parent / url).resolve().as_uri()


def _from_yaml(raw: bytes, path: Path) -> list[Feed]:
    try:
        data = yaml.safe_load(raw) or []
    except yaml.YAMLError as exc:
        raise FeedsFileError(f"{path}: not valid YAML: {exc}") from None
    if isinstance(data, dict):
        data = data.get("feeds") or []
    if not isinstance(data, list):
        raise FeedsFileError(f"{path}: expected a list of feeds (or `feeds:` with a list)")
    feeds = []
    for i, entry in enumerate(data):
        where = f"{path}: feed #{i + 1}"
        if isinstance(entry, str):
            entry = {"url": entry}
        if not isinstance(entry, dict):
            raise FeedsFileError(f"{where}: expected a URL or a mapping, got {entry!r}")
        unknown = set(entry) - FEED_KEYS
        if unknown:
            raise FeedsFileError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(FEED_KEYS)}")
        url = entry.get("url")
        if not isinstance(url, str) or not url.strip():
            raise FeedsFileError(f"{where}: missing url")
        interval = entry.get("interval_s", entry.get("interval"))
        if interval is not None and (isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0):
            raise FeedsFileError(f"{where}: interval must be a positive number of seconds, got {interval!r}")
        headers = entry.get("headers") or {}
        if not isinstance(headers, dict):
            raise FeedsFileError(f"{where}: headers must be a mapping")
        if isinstance(entry.get("name"), bool):  # YAML reads a bare on/off/yes/no as a boolean
            raise FeedsFileError(f"{where}: name {entry['name']!r} is a YAML boolean; quote it (name: \"off\")")
        for flag in ("enabled", "fulltext"):
            if not isinstance(entry.get(flag, True), bool):
                raise FeedsFileError(f"{where}: {flag} must be true or false, got {entry[flag]!r}")
        feeds.append(
            Feed(
                name=str(entry.get("name") or urlparse(url).netloc or Path(url).stem),
                url=resolve_url(url.strip(), path),
                interval_s=float(interval) if interval is not None else None,
                headers={str(k): str(v) for k, v in headers.items()},
                enabled=bool(entry.get("enabled", True)),
                fulltext=bool(entry.get("fulltext", True)),
                folder=str(entry["folder"]) if entry.get("folder") else None,
            )
        )
    return feeds


def _from_opml(raw: bytes, path: Path) -> list[Feed]:
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError as exc:
        raise FeedsFileError(f"{path}: not valid OPML: {exc}") from None
    if root.tag.lower() != "opml":
        raise FeedsFileError(f"{path}: not an OPML file (its root element is <{root.tag}>, not <opml>)")
    body = root.find("body")
    return list(_outlines(body if body is not None else root, ()))


def _outlines(parent, folders: tuple[str, ...]):
    """Feeds in document order; an outline without xmlUrl is a folder, and folders nest."""
    for outline in parent.findall("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        label = (outline.get("title") or outline.get("text") or "").strip()
        if url:
            yield Feed(name=label or urlparse(url).netloc or url, url=url, folder="/".join(folders) or None)
        yield from _outlines(outline, folders + ((label,) if label and not url else ()))
