"""HTML-heavy raw articles for the pipeline bench: the extraction benchmark's whole news pages
(../shared/testdata/extraction/scrapinghub, read where it is, never copied), each published
several times under its own id, as a feed with full text on would publish them."""
from __future__ import annotations

import gzip
import statistics
from pathlib import Path

from services.cleaner.clean import clean_article
from shared.schema import Article, content_id, encode

PAGES = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "extraction" / "scrapinghub" / "html"

LARGEST = 400_000  # NEWSFLOW_MAX_ARTICLE_BYTES' default: the poller publishes no larger page


def _has_text(page: str) -> bool:
    try:
        return bool(clean_article(Article(id="p", url="p", source="p", content=page, content_type="text/html")).text)
    except ValueError:
        return False


def html_articles(n: int) -> list[tuple[bytes, bytes]] | None:
    """`n` encoded raw articles cycling through the benchmark's pages; None when it is absent."""
    files = sorted(PAGES.glob("*.html.gz")) if PAGES.is_dir() else []
    if not files:
        return None
    pages = [gzip.decompress(f.read_bytes()).decode("utf-8", errors="replace") for f in files]
    pages = [p for p in pages if len(p.encode()) < LARGEST and _has_text(p)]  # each gives one clean article
    out = []
    for i in range(n):
        page = pages[i % len(pages)]
        article = Article(id=f"html-{i}", url=f"https://pages.example.org/{i}", source=f"pages-{i % 20}",
                          content=page, content_type="text/html", content_hash=content_id(f"{i}:{page[:64]}"))
        out.append((article.key, encode(article)))
    return out


def html_mix(bench, n: int) -> dict:
    """The cleaner alone on whole HTML pages, one worker (`bench`: a bench.pipeline.PipelineBench)."""
    raw = html_articles(n)
    if raw is None:
        return {"skipped": f"no pages in {PAGES}"}
    settings = bench.fresh("html")
    bench.fill(settings, settings.raw_topic, raw)
    service = bench.start("cleaner", settings)
    try:
        times = bench.watch([service], n, "cleaner", timeout_s=max(180.0, n / 10))
        figures = bench._figures([service], times, n, first="cleaner", last="cleaner")
    finally:
        service.stop()
    cleaner = figures["stages"]["cleaner"]
    return {"articles": n, "message_bytes_mean": round(statistics.fmean(len(v) for _, v in raw)),
            "articles_per_s": figures["articles_per_s"], "cleaner_cpu_ms_per_article": cleaner["cpu_ms_per_article"],
            "cleaner_rss_mb": cleaner["rss_mb"]}
