"""Generated raw articles of realistic size for the pipeline benchmark, in our own words.

Each article has ~4 KB of text drawn from the 5,000 most common English words, each as often
as in English at large (so function words abound, the cleaner finds the language, and two
articles share ordinary words but no 5-word runs), half of them as HTML paragraphs. About one
in twelve mentions a topic of the shipped taxonomy, one in thirty is a syndicated copy of an
earlier one with a credit line (a near duplicate for the sink to find).
"""
from __future__ import annotations

import itertools
import random

from wordfreq import top_n_list, word_frequency

from shared.schema import Article, content_id, encode

TOPIC_SENTENCES = (
    "Officials in Taipei said the Taiwan Strait had been calm for a week.",
    "The Pentagon said the spy balloon drifted over the airspace of Montana.",
    "Both militaries agreed to restore the hotline between their defense chiefs.",
)
CREDIT = "Reporting by the regional desk; editing by the night team."


def _paragraphs(rng: random.Random, words: list[str], weights: list[float], chars: int) -> list[str]:
    paragraphs, size = [], 0
    while size < chars:
        sentences = []
        for _ in range(rng.randint(3, 6)):
            sentence = " ".join(rng.choices(words, cum_weights=weights, k=rng.randint(8, 22)))
            sentences.append(sentence[0].upper() + sentence[1:] + ".")
        paragraph = " ".join(sentences)
        paragraphs.append(paragraph)
        size += len(paragraph) + 2
    return paragraphs


def generate(n: int, prefix: str = "bench", seed: int = 7, chars: int = 4000) -> list[Article]:
    rng = random.Random(seed)
    words = [w for w in top_n_list("en", 5000) if w.isalpha()]
    weights = list(itertools.accumulate(word_frequency(w, "en") for w in words))  # cumulative: fast choices()
    out: list[Article] = []
    for i in range(n):
        if out and i % 30 == 29:  # a syndicated copy of an earlier article
            original = out[rng.randrange(len(out))]
            content = original.content + ("\n\n<p>" if original.content_type == "text/html" else "\n\n") + CREDIT
            content_type = original.content_type
            title = f"{original.title} (wire copy)"
        else:
            paragraphs = _paragraphs(rng, words, weights, chars)
            if i % 12 == 5:
                paragraphs.insert(1, rng.choice(TOPIC_SENTENCES))
            html = i % 2 == 0
            content = "\n".join(f"<p>{p}</p>" for p in paragraphs) if html else "\n\n".join(paragraphs)
            content_type = "text/html" if html else "text/plain"
            title = " ".join(rng.choices(words, cum_weights=weights, k=7)).capitalize()
        out.append(Article(
            id=f"{prefix}-{i}", url=f"https://desk{i % 40}.example.org/{prefix}/{i}", source=f"desk-{i % 40}",
            content=content, content_type=content_type, title=title, content_hash=content_id(content),
            published_at=f"2026-11-{1 + i % 24:02d}T{i % 24:02d}:00:00+00:00",
        ))
    return out


def encoded(articles: list[Article]) -> list[tuple[bytes, bytes]]:
    return [(a.key, encode(a)) for a in articles]
