"""`newsflow explain`: why an article got, or did not get, each tag, in words."""
from __future__ import annotations

from services.tagger.tag import TopicVerdict, explain
from services.tagger.taxonomy import Taxonomy
from shared.schema import Article


def _where(item: dict, text: str, title: str | None) -> str:
    source = title if item["where"] == "title" else text
    start = max(0, item["pos"] - 40)
    end = item["pos"] + len(item["phrase"]) + 40
    snippet = " ".join((source or "")[start:end].split())
    return f'{item["where"]} @{item["pos"]}: "…{snippet}…"'


def _verdict_lines(v: TopicVerdict, text: str, title: str | None) -> list[str]:
    head = "TAGGED" if v.matched else "not tagged"
    lines = [f"{v.name}: {head} (score {v.score:g}, threshold {v.threshold:g})"]
    for item in v.evidence:
        context = f', context "{item["context"]}"' if item.get("context") else ""
        lines.append(f'  + "{item["phrase"]}"{context}  [{_where(item, text, title)}]')
    for item in v.vetoed:
        lines.append(f'  - "{item["phrase"]}" vetoed by "{item["veto"]}"  [{_where(item, text, title)}]')
    for item in v.lacking_context:
        lines.append(f'  - "{item["phrase"]}" ambiguous, no context in its sentence  [{_where(item, text, title)}]')
    if not (v.evidence or v.vetoed or v.lacking_context):
        lines.append("  no phrase or pattern of this topic in the title or text")
    return lines


def render_explanation(article: Article, taxonomy: Taxonomy) -> str:
    """Re-run the tagger's pure function on the stored clean text and say what it found."""
    title, text = article.title, article.text or ""
    stored = {t.name for t in article.tags}
    out = [
        f"article {article.id}: {title or '(no title)'}",
        f"  stored tags: {', '.join(sorted(stored)) or 'none'} (taxonomy {article.taxonomy_version or '?'});"
        f" explaining with taxonomy {taxonomy.version}",
    ]
    for verdict in explain(title, text, taxonomy):
        out += _verdict_lines(verdict, text, title)
        if verdict.matched != (verdict.name in stored):
            out.append(f"  note: the stored verdict differs (taxonomy {article.taxonomy_version}); `retag` would change it")
    return "\n".join(out)
