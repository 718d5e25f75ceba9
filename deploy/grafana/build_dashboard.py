"""Builds deploy/grafana/dashboards/newsflow.json, the newsflow dashboard, from the rows below.

    .venv/bin/python deploy/grafana/build_dashboard.py          # rewrite the JSON
    .venv/bin/python deploy/grafana/build_dashboard.py --check  # exit 1 if the JSON is stale

Edit the rows here, not the JSON: a test fails when the committed JSON differs from what this
script writes, and another runs every query against a live pipeline through Prometheus.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from shared import metric_names as names

OUT = Path(__file__).resolve().parent / "dashboards" / "newsflow.json"
DATASOURCE = {"type": "prometheus", "uid": "newsflow-prometheus"}  # provisioning/datasources
RATE = "[$__rate_interval]"


@dataclass
class Panel:
    title: str
    description: str
    queries: list[tuple[str, str]]  # (PromQL, legend)
    unit: str = "short"
    kind: str = "timeseries"  # or "stat", "bargauge", "table"
    extra: dict = field(default_factory=dict)


def quantiles(metric: str, by: str = "") -> list[tuple[str, str]]:
    group = f"{by}, le" if by else "le"
    prefix = f"{{{{{by}}}}} " if by else ""
    return [
        (f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{RATE})))", f"{prefix}p{round(q * 100)}")
        for q in (0.5, 0.95, 0.99)
    ]


def per_s(metric: str, by: str) -> str:
    return f"sum by ({by}) (rate({metric}{RATE}))"


ROWS: list[tuple[str, list[Panel]]] = [
    ("Throughput", [
        Panel("Consumed per stage", "Messages each stage read per second (the poller reads none).",
              [(per_s(names.MESSAGES_IN, "stage"), "{{stage}}")], "suffix: msg/s"),
        Panel("Produced per stage", "Messages each stage published per second; for the sink, articles stored.",
              [(per_s(names.MESSAGES_OUT, "stage"), "{{stage}}")], "suffix: msg/s"),
    ]),
    ("Lag", [
        Panel("Lag in messages", "Messages behind the high watermark, per stage (all its workers together).",
              [(f"sum by (stage) ({names.CONSUMER_LAG_MESSAGES})", "{{stage}}")]),
        Panel("Lag in seconds", "Now minus the timestamp of the last consumed message on the partition furthest "
              "behind (0 when caught up), the worst worker per stage.",
              [(f"max by (stage) ({names.CONSUMER_LAG_SECONDS})", "{{stage}}")], "s"),
    ]),
    ("Latency", [
        Panel("End to end, fetch to stored", "Seconds from the poller's fetch to the sink's database commit.",
              quantiles(names.END_TO_END_SECONDS), "s"),
        Panel("Processing time per message (p95)", "Seconds a stage spends on one message (sink: a batch's time "
              "shared by its messages).",
              [(f"histogram_quantile(0.95, sum by (stage, le) (rate({names.PROCESSING_SECONDS}_bucket{RATE})))",
                "{{stage}}")], "s"),
    ]),
    ("Errors and dead letters", [
        Panel("Failures by stage and reason", "Messages a stage could not handle, per second.",
              [(per_s(names.MESSAGES_FAILED, "stage, reason"), "{{stage}} {{reason}}")], "suffix: msg/s"),
        Panel("Dead letters by stage", "Messages sent to the dead-letter topic per second.",
              [(per_s(names.MESSAGES_DEAD_LETTERED, "stage"), "{{stage}}")], "suffix: msg/s"),
        Panel("Dead-letter share of input", "Dead letters over messages consumed; the alert fires above 5%.",
              [(f"{per_s(names.MESSAGES_DEAD_LETTERED, 'stage')} / "
                f"{per_s(names.MESSAGES_IN, 'stage')}", "{{stage}}")], "percentunit"),
        Panel("Sink write errors", "Failed database transactions per second (each is retried).",
              [(f"sum(rate({names.SINK_WRITE_ERRORS}{RATE}))", "errors")], "suffix: /s"),
    ]),
    ("Feeds", [
        Panel("Feeds by state", "Feeds the poller polls: ok, failing (last fetch failed), disabled.",
              [(f"sum by (state) ({names.POLLER_FEEDS})", "{{state}}")], kind="stat"),
        Panel("Fetches by outcome", "Feed fetches per second: 200, 304, 4xx, 5xx, timeout, refused, parse_error…",
              [(per_s(names.POLLER_FETCHES, "outcome"), "{{outcome}}")], "suffix: /s"),
        Panel("Failed fetches in a row, per feed", "0 for a healthy feed; the alert fires at 3 for 30 minutes.",
              [(f"max by (feed) ({names.POLLER_FEED_ERRORS})", "{{feed}}")], kind="bargauge"),
        Panel("Since the last successful fetch", "Per feed.",
              [(f"time() - max by (feed) ({names.POLLER_LAST_SUCCESS})", "{{feed}}")], "s"),
        Panel("Feed fetch time", "Seconds per feed fetch.", quantiles(names.POLLER_FETCH_SECONDS), "s"),
        Panel("Entries", "Feed entries per second: new, updated (published again), unchanged (skipped).",
              [(per_s(names.POLLER_ENTRIES, "status"), "{{status}}")], "suffix: /s"),
    ]),
    ("Topics, duplicates and stories", [
        Panel("Articles per tag", "Articles tagged per hour, by tag.",
              [(f"{per_s(names.ARTICLES_TAGGED, 'tag')} * 3600", "{{tag}}")], "suffix: /h"),
        Panel("Duplicates", "Articles stored as a duplicate of an earlier one, per hour.",
              [(f"sum(rate({names.SINK_DUPLICATES}{RATE})) * 3600", "duplicates")], "suffix: /h"),
        Panel("Stories", "Articles that started a new story or joined one, per hour.",
              [(f"{per_s(names.SINK_STORIES, 'kind')} * 3600", "{{kind}}")], "suffix: /h"),
        Panel("Stories formed", "Stories that came to hold two or more reports of one event, per hour.",
              [(f"sum(rate({names.SINK_STORIES_FORMED}{RATE})) * 3600", "stories formed")], "suffix: /h"),
    ]),
    ("Sink", [
        Panel("Database write time", "Seconds per transaction (one batch).",
              quantiles(names.SINK_DB_WRITE_SECONDS), "s"),
        Panel("Rows written", "Article rows inserted and updated per second.",
              [(per_s(names.SINK_ROWS, "op"), "{{op}}")], "suffix: rows/s"),
        Panel("Messages per transaction", "Average batch size (NEWSFLOW_SINK_BATCH_SIZE at most).",
              [(f"sum(rate({names.SINK_BATCH_MESSAGES}_sum{RATE})) / "
                f"sum(rate({names.SINK_BATCH_MESSAGES}_count{RATE}))", "messages")]),
    ]),
    ("Processes", [
        Panel("Up", "1 when Prometheus scraped the process at its last try.",
              [('up{job=~"newsflow-.*"}', "{{job}} {{instance}}")], kind="stat"),
        Panel("Kafka reachable", "1 when the process reached the Kafka broker at its last check (every second).",
              [(f"min by (job, instance) ({names.KAFKA_UP})", "{{job}} {{instance}}")], kind="stat"),
        Panel("Versions", "newsflow version per stage and the tagger's taxonomy version.",
              [(f"max by (stage, version) ({names.BUILD_INFO})", "{{stage}} {{version}}"),
               (f"max by (version) ({names.TAXONOMY_INFO})", "taxonomy {{version}}")], kind="table",
              extra={"instant": True}),
        Panel("Faust event time (p95)", "Faust's own sensor: milliseconds per event in the cleaner and tagger.",
              [(f"histogram_quantile(0.95, sum by (job, le) (rate({names.FAUST_PREFIX}_events_runtime_ms_bucket{RATE})))",
                "{{job}}")], "ms"),
        Panel("Faust rebalances", "Faust's own sensor: consumer-group rebalances seen by each worker.",
              [(f"max by (job, instance) ({names.FAUST_PREFIX}_total_rebalances)", "{{job}} {{instance}}")]),
    ]),
]


def panel_json(panel: Panel, panel_id: int, grid: dict) -> dict:
    targets = []
    for i, (expr, legend) in enumerate(panel.queries):
        target = {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
        if panel.kind == "table" or panel.extra.get("instant"):
            target.update(instant=True, range=False, format="table")
        targets.append(target)
    out = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": grid,
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "targets": targets,
    }
    if panel.kind == "timeseries":
        out["options"] = {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}}
    elif panel.kind == "bargauge":
        out["options"] = {"orientation": "horizontal", "displayMode": "basic"}
    return out


def dashboard() -> dict:
    panels, y, next_id = [], 0, 1
    for title, row in ROWS:
        panels.append({"id": next_id, "type": "row", "title": title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        next_id, y = next_id + 1, y + 1
        per_line = min(len(row), 3)
        width = 24 // per_line
        for i, panel in enumerate(row):
            grid = {"h": 8, "w": width, "x": (i % per_line) * width, "y": y + (i // per_line) * 8}
            panels.append(panel_json(panel, next_id, grid))
            next_id += 1
        y += 8 * ((len(row) + per_line - 1) // per_line)
    return {
        "uid": "newsflow",
        "title": "newsflow",
        "description": "The newsflow pipeline: throughput, lag, latency, errors, feeds, topics, the sink.",
        "tags": ["newsflow"],
        "timezone": "",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "schemaVersion": 39,
        "version": 1,
        "annotations": {"list": []},
        "templating": {"list": []},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT} is stale: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
