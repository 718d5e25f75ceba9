"""Publication dates written near the top of an article's text."""
from __future__ import annotations

import re
from datetime import timezone

from dateutil import parser as dateparser

MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
TIME = r"(?:,?\s*(?:at\s+)?\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AaPp]\.?[Mm]\.?)?(?:\s*(?:UTC|GMT|Z|[+-]\d{2}:?\d{2}))?)?"
DATE = (
    rf"(?:\d{{4}}-\d{{2}}-\d{{2}}(?:[T ]\d{{2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)?(?:Z|[+-]\d{{2}}:?\d{{2}})?)?"
    rf"|\d{{1,2}}\s+{MONTH},?\s+\d{{4}}{TIME}"
    rf"|{MONTH}\s+\d{{1,2}},?\s+\d{{4}}{TIME})"
)
LABEL = r"(?P<label>published|posted|first published|date|updated|last updated|modified)"
# "Published : 13 Nov 2023, 01:34 AM", "date 2023-11-17 In a bid ...", "Updated 2023-11-13T10:00:00Z"
LABELLED = re.compile(rf"^{LABEL}\s*(?:on)?\s*:?\s*(?P<date>{DATE})", re.IGNORECASE)
ALONE = re.compile(rf"^(?P<date>{DATE})$", re.IGNORECASE)
TOP_LINES = 8


def to_iso(value: str) -> str | None:
    """ISO 8601 in UTC ("2023-11-13T01:34:00+00:00"); naive times are taken as UTC."""
    try:
        parsed = dateparser.parse(value.replace("at ", ""), dayfirst=False)
    except (ValueError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat()


def find_date(lines: list[str]) -> tuple[str | None, list[str]]:
    """The publication date among the first lines, and the lines with its metadata removed.

    A "published" or bare "date" label wins over "updated"; a line that is nothing but a
    date counts when no label is found. Dates inside the story are never looked at.
    """
    found: dict[str, tuple[str, int, str]] = {}
    checked = 0
    for i, line in enumerate(lines):
        if checked >= TOP_LINES:
            break
        text = line.strip()
        if not text:
            continue
        checked += 1
        labelled = LABELLED.match(text)
        if labelled:
            kind = "updated" if labelled["label"].lower() in ("updated", "last updated", "modified") else "published"
            rest = text[labelled.end():].strip()
            found.setdefault(kind, (labelled["date"], i, rest))
        elif ALONE.match(text):
            found.setdefault("alone", (text, i, ""))
    cleaned = list(lines)
    chosen = None
    for kind in ("published", "updated", "alone"):
        if kind in found and chosen is None:
            iso = to_iso(found[kind][0])
            if iso:
                chosen = iso
    # Metadata lines go whatever their kind; text after a label on the same line stays.
    for _date, i, rest in found.values():
        cleaned[i] = rest
    return chosen, cleaned
