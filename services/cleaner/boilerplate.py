"""Boilerplate in article text: widget lines, and tails of links that follow the story.

Rules work on lines. A whole-line rule drops only short lines that are nothing but a widget;
a tail rule cuts from a marker to the end only in the back part of the text, so a story that
mentions "you may also like" early on is never cut in half. When unsure, keep the text.
"""
from __future__ import annotations

import re

from shared.headline import WIDGET_LINE

MAX_WIDGET_LINE = 120
# A tail marker must start after this share of the text's characters.
TAIL_MIN_SHARE = 0.35

TAIL_MARKER = re.compile(
    r"""^(?:
        you\ (?:may|might)\ also\ (?:like|enjoy) | related(?:\ (?:articles|stories|news|content|coverage))?
      | recommended(?:\ (?:for\ you|stories|articles|reading))? | more\ from\b.* | read\ next
      | most\ (?:popular|read) | trending(?:\ now)? | more\ (?:stories|news|on\ this\ story)
      | also\ read | don't\ miss | top\ stories | latest\ news | editor'?s\ picks | popular\ now
      | what\ to\ read\ next | up\ next | sponsored\ stories | related\ (?:topics|links|reading)
      | more\ to\ explore | read\ more\ (?:stories|news)
    ):?$""",
    re.IGNORECASE | re.VERBOSE,
)

# A headline in a trailing list of links: "Some Headline Here -" (a separator dash at the end).
# Not a table row ("| Red Hat | 8417 | 38.0% |"): those start with a bar or hold two or more.
LINKED_HEADLINE = re.compile(r"^(?![|])(?!(?:[^|]*\|){2}).{8,200}\s[-–|]$")
LONE_SEPARATOR = re.compile(r"^[-–—|*•·]+$")
MIN_LINK_RUN = 3
# A headline of a trailing link list with no marker and no separator: 3 to 16 words, a capital
# or a digit first, no bullet, no sentence punctuation at the end.
BARE_HEADLINE = re.compile(r"^[A-Z0-9‘'\"“][^.!?:;…]*[^\s.!?:;…\"'”’)]$")
BARE_HEADLINE_WORDS = (3, 16)


def drop_widget_lines(lines: list[str]) -> list[str]:
    return [ln for ln in lines if not (len(ln) <= MAX_WIDGET_LINE and WIDGET_LINE.match(ln))]


def cut_tail(lines: list[str]) -> list[str]:
    """Cut a trailing "You may also like"-style section and trailing lists of linked headlines."""
    total = sum(len(ln) for ln in lines) or 1
    seen = 0
    for i, line in enumerate(lines):
        if seen / total >= TAIL_MIN_SHARE and len(line) <= 60 and TAIL_MARKER.match(line.strip()):
            return _strip_trailing_separators(lines[:i])
        seen += len(line)
    return _cut_bare_headlines(_cut_link_run(lines, total), total)


def _cut_link_run(lines: list[str], total: int) -> list[str]:
    """Cut from the first run of MIN_LINK_RUN+ "Headline -" lines in the back part to the end."""
    run_start, run_len = None, 0
    for i, line in enumerate(lines):
        if LINKED_HEADLINE.match(line.strip()):
            if run_start is None:
                run_start = i
            run_len += 1
            before = sum(len(ln) for ln in lines[:run_start])
            if run_len >= MIN_LINK_RUN and before / total >= TAIL_MIN_SHARE:
                return _strip_trailing_separators(lines[:run_start])
        elif line.strip():
            run_start, run_len = None, 0
    return _strip_trailing_separators(lines)


def _cut_bare_headlines(lines: list[str], total: int) -> list[str]:
    """Cut MIN_LINK_RUN+ headline-shaped lines that end the text after a sentence-ended body."""
    start, run = len(lines), 0
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i].strip()
        if not line:
            continue
        low, high = BARE_HEADLINE_WORDS
        if BARE_HEADLINE.match(line) and low <= len(line.split()) <= high:
            start, run = i, run + 1
            continue
        if run >= MIN_LINK_RUN and re.search(r"[.!?…\"'”’)]$", line):
            before = sum(len(ln) for ln in lines[:start])
            if before / total >= TAIL_MIN_SHARE:
                return _strip_trailing_separators(lines[:start])
        break
    return lines


def _strip_trailing_separators(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and (not lines[end - 1].strip() or LONE_SEPARATOR.match(lines[end - 1].strip())):
        end -= 1
    return lines[:end]
