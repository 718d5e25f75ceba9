"""Whether the first line of a text is its headline: the rule the cleaner applies to every
article and the poller to an ingested text file, kept in one place."""
from __future__ import annotations

import re

MAX_TITLE_CHARS = 200
MAX_TITLE_WORDS = 25
OTHER_SPACES = r"\t\u00a0\u2000-\u200a\u202f\u205f\u3000"
SPACES = re.compile(rf"[ {OTHER_SPACES}]+")
SENTENCE_END = re.compile(r"[.;,:]$")
METADATA_START = re.compile(r"^(?:date|published|posted|updated|by)\b", re.IGNORECASE)
WIDGET_LINE = re.compile(
    r"""^(?:
        share\ this\b.* | share\ (?:on|via)\ (?:facebook|twitter|x|linkedin|whatsapp|email|reddit)\b.*
      | share(?:\ this\ (?:article|story))?:? | tweet | email\ this.* | print\ this.* | copy\ link
      | follow\ us\ on\b.* | follow\ @\w+.* | like\ us\ on\ facebook.*
      | follow\ [\w .'-]{1,40}\ on\ (?:twitter|x|facebook|instagram|linkedin|threads|bluesky|tiktok)\b.*
      | sign\ up\ (?:for|to)\ (?:our|the)\b.*newsletter.* | subscribe\ to\ (?:our|the)\b.*newsletter.*
      | (?:get|receive)\ (?:our|the)\b.*newsletter.* | subscribe(?:\ now|\ today)?!?
      | join\ our\ (?:whatsapp|telegram)\b.* | download\ (?:our|the)\ app\b.*
      | read\ more:? | read\ more:\ .* | (?:also\ read|read\ also|see\ also|watch|listen):\ .*
      | continue\ reading.* | click\ here\ to\b.* | advertisement | skip\ advertisement
      | story\ continues\ below(?:\ advertisement)? | sponsored(?:\ content)?
      | (?:photo|image|picture|file\ photo|photograph)(?:\ credit)?\s*:.* | \((?:photo|image)\b[^)]*\)
      | credit:\ .* | (?:photo\ by|pictured:)\ .* | \(?ap\ photo/[^)]*\)?
      | [^.!?]{0,80}(?:getty\ images|shutterstock|via\ reuters|/\ ?reuters|/\ ?afp)\)?
    )$""",
    re.IGNORECASE | re.VERBOSE,
)


def looks_like_headline(line: str) -> bool:
    words = line.split()
    return (
        2 <= len(words) <= MAX_TITLE_WORDS
        and len(line) <= MAX_TITLE_CHARS
        and not SENTENCE_END.search(line)
        and not METADATA_START.match(line)
        and not WIDGET_LINE.match(line)
    )


def split_title(text: str) -> tuple[str | None, str]:
    """The first line as title when it looks like a headline (skipping widget lines), and the rest."""
    lines = text.split("\n")
    for i, raw in enumerate(lines):
        line = SPACES.sub(" ", raw).strip()
        if not line or WIDGET_LINE.match(line):
            continue
        if looks_like_headline(line) and any(ln.strip() for ln in lines[i + 1:]):
            return line, "\n".join(lines[i + 1:])
        break
    return None, text
