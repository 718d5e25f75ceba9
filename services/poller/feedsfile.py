"""`newsflow feeds import` and `newsflow feeds list`: the feeds file and each feed's health."""
from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import yaml

from services.poller.feeds import Feed, FeedsFileError, load_feeds
from services.poller.parse import canonical_url

NEW_FILE_HEADER = (
    "# newsflow feeds. Per feed: url (required), name, interval (seconds), headers, enabled, fulltext, folder.\n"
)


@dataclass
class Imported:
    added: list[Feed]
    already: int  # in the feeds file before
    repeated: int  # listed more than once in the OPML


def import_opml(opml: Path, feeds_file: Path) -> Imported:
    """Append the OPML's feeds that the YAML feeds file does not list yet (compared by canonical URL)."""
    incoming = _opml_feeds(opml)
    if not incoming:
        raise FeedsFileError(f"{opml}: no feed in it (no outline with an xmlUrl)")
    existing = load_feeds(feeds_file) if feeds_file.exists() else []
    known = {canonical_url(f.url) for f in existing}
    added, already, repeated, seen = [], 0, 0, set()
    for feed in incoming:
        key = canonical_url(feed.url)
        if key in known:
            already += 1
        elif key in seen:
            repeated += 1
        else:
            seen.add(key)
            added.append(feed)
    if added:
        _append(feeds_file, added, expected=len(existing) + len(added))
    return Imported(added, already, repeated)


def _opml_feeds(path: Path) -> list[Feed]:
    try:
        head = path.read_bytes()[:1000].lower()
    except OSError as exc:
        raise FeedsFileError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if b"<opml" not in head:
        raise FeedsFileError(f"{path}: not an OPML file (no <opml> element at its start)")
    return load_feeds(path)


def _entry(feed: Feed) -> dict:
    entry = {"name": feed.name, "url": feed.url}
    if feed.folder:
        entry["folder"] = feed.folder
    return entry


def _append(feeds_file: Path, feeds: list[Feed], expected: int) -> None:
    """Add entries at the end of the file's list as text, so its comments and layout stay; the
    result is read back before it replaces the file."""
    text = feeds_file.read_text() if feeds_file.exists() else ""
    if feeds_file.exists() and feeds_file.suffix.lower() not in (".yaml", ".yml"):
        raise FeedsFileError(f"{feeds_file}: import writes YAML feeds files; give --feeds FILE.yaml")
    data = yaml.safe_load(text) if text.strip() else None
    if data is None:
        text = (text or NEW_FILE_HEADER) + "feeds:\n"
        indent = "  "
    elif isinstance(data, dict) and isinstance(data.get("feeds"), list) and data["feeds"] and _last_key(text) == "feeds":
        indent = _list_indent(text)
    elif isinstance(data, list) and data:
        indent = ""
    else:
        raise FeedsFileError(f"{feeds_file}: cannot add to it (expected a list of feeds, or `feeds:` with a list)")
    block = yaml.safe_dump([_entry(f) for f in feeds], sort_keys=False, allow_unicode=True, width=1000)
    if not text.endswith("\n"):
        text += "\n"
    text += "".join(indent + line + "\n" for line in block.splitlines())
    tmp = feeds_file.with_name(f".{feeds_file.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    try:
        if len(load_feeds(tmp)) != expected:
            raise FeedsFileError(f"{feeds_file}: appending would not give {expected} feeds; file left as it was")
        tmp.replace(feeds_file)
    finally:
        tmp.unlink(missing_ok=True)


def _last_key(text: str) -> str | None:
    keys = [line.split(":", 1)[0] for line in text.splitlines() if line and not line[0].isspace() and
            not line.startswith(("#", "-")) and ":" in line]
    return keys[-1] if keys else None


def _list_indent(text: str) -> str:
    after = text[text.index("feeds:"):]
    for line in after.splitlines()[1:]:
        stripped = line.lstrip()
        if stripped.startswith("- "):
            return line[: len(line) - len(stripped)]
    return "  "


# -- feeds list ------------------------------------------------------------------------------

def feed_health(feeds: list[Feed], state_db: Path, now: float | None = None) -> list[dict]:
    """One row per feed: the feeds file's view joined with the poller's state database."""
    rows = _state_rows(state_db)
    now = now or time.time()
    out = []
    for feed in feeds:
        row = rows.get(feed.url, {})
        if not feed.enabled:
            state = "disabled"
        elif not row:
            state = "never polled"
        else:
            state = "failing" if row.get("error_count") else "ok"
        out.append({
            "name": feed.name, "url": feed.url, "current_url": row.get("current_url"), "state": state,
            "folder": feed.folder, "last_success": row.get("last_success"), "last_outcome": row.get("last_outcome"),
            "last_error": row.get("last_error"), "last_error_at": row.get("last_error_at"),
            "error_count": row.get("error_count", 0), "next_poll_at": row.get("next_poll_at"),
            "etag": row.get("etag"), "last_modified": row.get("last_modified"), "malformed": row.get("last_bozo"),
            "skipped": orjson.loads(row["last_skipped"]) if row.get("last_skipped") else {},
        })
    return out


def _state_rows(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)  # read-only: never creates it
    db.row_factory = sqlite3.Row
    try:
        return {r["feed"]: dict(r) for r in db.execute("SELECT * FROM feeds")}
    except sqlite3.OperationalError:  # a database the poller never finished creating
        return {}
    finally:
        db.close()


def ago(at: float | None, now: float) -> str:
    if not at:
        return "never"
    seconds = now - at
    return f"{_span(abs(seconds))} ago" if seconds >= 0 else f"in {_span(-seconds)}"


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def format_table(rows: list[dict], now: float) -> str:
    header = ("NAME", "STATE", "LAST SUCCESS", "NEXT POLL", "ERRORS", "VALIDATORS", "LAST ERROR")
    lines = [header]
    for r in rows:
        validators = ", ".join(n for n, v in (("etag", r["etag"]), ("last-modified", r["last_modified"])) if v) or "-"
        error = r["last_error"] or "-"
        if r["last_error_at"]:
            error = f"{ago(r['last_error_at'], now)}: {error}"
        lines.append((r["name"], r["state"], ago(r["last_success"], now),
                      ago(r["next_poll_at"], now) if r["next_poll_at"] else "-",
                      str(r["error_count"]), validators, error[:90]))
        if r["current_url"]:
            lines.append(("", f"moved to {r['current_url']}", "", "", "", "", ""))
        if r["skipped"]:
            reasons = ", ".join(f"{reason} {n}" for reason, n in r["skipped"].items())
            lines.append(("", f"last poll skipped: {reasons}", "", "", "", "", ""))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)) + "  " + line[-1] for line in lines)
