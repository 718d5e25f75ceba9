"""The pipeline bench's figures: the summary with its targets, and the tables it prints."""
from __future__ import annotations

from pathlib import Path

from shared.pipeline.topology import STAGE_NAMES

STAGES = STAGE_NAMES
LATENCY_RATE = 100  # articles per second
TARGETS = {"pipeline_articles_per_s": 2000, "pipeline_to_noop_ratio": 0.5, "latency_p99_s": 1.0, "rss_mb": 200}


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def current_rss_mb(pid: int) -> float:
    return round(_status_mb(pid, "VmRSS"), 1)


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak since its exec (getrusage's ru_maxrss would count the peak of
    the process it was forked from)."""
    return _status_mb(pid, "VmHWM")


def side_by_side(per_broker: dict[str, dict]) -> str:
    kinds = list(per_broker)
    rows = [("", *kinds)]
    for label, get in (
        ("kafka-python pass-through msg/s", lambda f: f"{f['passthrough']['kafka_python_msgs_per_s']:,}"),
        ("aiokafka pass-through msg/s", lambda f: f"{f['passthrough']['aiokafka_msgs_per_s']:,}"),
        ("no-op topology articles/s", lambda f: f"{f['noop_pipeline_articles_per_s']:,}"),
        ("real pipeline articles/s", lambda f: f"{f['pipeline_articles_per_s']:,}"),
        ("real / no-op", lambda f: f"{f['pipeline_to_noop_ratio']:.2f}"),
        ("two workers a stage articles/s", lambda f: f"{f['two_workers']['articles_per_s']:,}"),
        ("HTML pages: cleaner articles/s", lambda f: f"{f['html_mix'].get('articles_per_s', '-')}"),
        ("broker CPU ms/article (pipeline)", lambda f: f"{f['pipeline']['broker_cpu_ms_per_article']}"),
        ("latency p50 / p99 s", lambda f: f"{f['latency_p50_s']} / {f['latency_p99_s']}"),
        ("broker peak RSS MB", lambda f: f"{f['broker_rss_mb']}"),
        ("broker RSS MB at the end", lambda f: f"{f['broker_rss_mb_along_the_run']['at the end']}"),
        ("largest service RSS MB", lambda f: f"{max(f['rss_mb'].values())}"),
    ):
        rows.append((label, *(get(per_broker[k]) for k in kinds)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)


def summarise(figures: dict) -> dict:
    real, noop = figures["pipeline"], figures["noop"]
    rss = {stage: max(real["stages"][stage]["rss_mb"], figures["latency"]["rss_mb"][stage]) for stage in STAGES}
    rss["poller"] = figures["poller"]["rss_mb"]
    figures.update(
        raw_passthrough_msgs_per_s=max(figures["passthrough"].values()),
        noop_pipeline_articles_per_s=noop["articles_per_s"],
        pipeline_articles_per_s=real["articles_per_s"],
        pipeline_to_noop_ratio=round(real["articles_per_s"] / noop["articles_per_s"], 3),
        two_workers_to_one_ratio=round(figures["two_workers"]["articles_per_s"] / real["articles_per_s"], 3),
        latency_p50_s=figures["latency"]["p50_s"],
        latency_p99_s=figures["latency"]["p99_s"],
        rss_mb=rss,
        targets=TARGETS,
    )
    figures["meets"] = {
        "pipeline_articles_per_s": figures["pipeline_articles_per_s"] >= TARGETS["pipeline_articles_per_s"],
        "pipeline_to_noop_ratio": figures["pipeline_to_noop_ratio"] >= TARGETS["pipeline_to_noop_ratio"],
        "latency_p99_s": figures["latency_p99_s"] < TARGETS["latency_p99_s"],
        "rss_mb": max(rss.values()) < TARGETS["rss_mb"],
    }
    print(f" {figures['broker']}:\n" + table(figures), flush=True)
    return figures


def table(f: dict) -> str:
    rows = [("kafka-python pass-through", f"{f['passthrough']['kafka_python_msgs_per_s']:,} msg/s"),
            ("aiokafka pass-through", f"{f['passthrough']['aiokafka_msgs_per_s']:,} msg/s"),
            ("no-op topology", f"{f['noop_pipeline_articles_per_s']:,} articles/s"),
            ("real pipeline", f"{f['pipeline_articles_per_s']:,} articles/s "
                              f"({f['pipeline_to_noop_ratio']:.2f} of no-op)")]
    for stage in STAGES:
        alone, within = f["alone"][stage], f["pipeline"]["stages"][stage]
        rows.append((f"  {stage} alone", f"{alone['articles_per_s']:,} articles/s, "
                                         f"{within['cpu_ms_per_article']} ms CPU/article in the pipeline"))
    rows.append(("  broker", f"{f['pipeline']['broker_cpu_ms_per_article']} ms CPU/article in the pipeline"))
    two = f["two_workers"]
    rows.append(("two workers a stage", f"{two['articles_per_s']:,} articles/s ({f['two_workers_to_one_ratio']:.2f} of one); "
                 + ", ".join(f"{s} {v['cpu_ms_per_article']}" for s, v in two["stages"].items()) + " ms CPU/article"))
    html = f["html_mix"]
    if "articles_per_s" in html:
        rows.append(("HTML pages, cleaner alone", f"{html['articles_per_s']:,} articles/s, "
                     f"{html['cleaner_cpu_ms_per_article']} ms CPU/article ({html['message_bytes_mean']:,} bytes each)"))
    rows.append((f"latency at {LATENCY_RATE}/s", f"p50 {f['latency_p50_s']} s, p99 {f['latency_p99_s']} s"))
    rows.append(("peak RSS", ", ".join(f"{k} {v} MB" for k, v in f["rss_mb"].items())
                  + f"; broker {f['broker_rss_mb']} MB"))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)
