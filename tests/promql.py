"""The PromQL of deploy/: every query of the dashboard, and each alert's expression cut into
the operands of its top-level comparisons and `and`/`or`/`unless` (an alert's full expression
is empty while all is well, but each side of it must find its series)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "newsflow.json"
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
# Grafana's variables, as Grafana would fill them in for a short time range.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
OPERATOR = re.compile(r"\s+(?:and|or|unless)\s+|==|!=|>=|<=|>|<|/|\*")
NUMBER = re.compile(r"^\s*-?\d+(?:\.\d+)?(?:e[+-]?\d+)?\s*$", re.IGNORECASE)
OPENING, CLOSING = "([{", ")]}"


def dashboard_queries(path: Path = DASHBOARD) -> list[tuple[str, str]]:
    """(panel title, PromQL with Grafana's variables filled in) for every target of every panel."""
    found = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for name, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(name, value)
                found.append((panel["title"], expr))
            walk(panel.get("panels", []))

    walk(json.loads(path.read_text())["panels"])
    return found


def alert_rules(path: Path = ALERTS) -> list[dict]:
    return [rule for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"] if "alert" in rule]


def top_level_operands(expr: str) -> list[str]:
    """The operands of `expr`'s binary operators outside any (), [], {} or quotes, numbers left out."""
    pieces, depth, quote, start, i = [], 0, None, 0, 0
    while i < len(expr):
        char = expr[i]
        if quote:
            quote = None if char == quote and expr[i - 1] != "\\" else quote
        elif char in "\"'`":
            quote = char
        elif char in OPENING:
            depth += 1
        elif char in CLOSING:
            depth -= 1
        elif depth == 0:
            match = OPERATOR.match(expr, i)
            if match:
                pieces.append(expr[start:i])
                start = i = match.end()
                continue
        i += 1
    pieces.append(expr[start:])
    return [p.strip() for p in pieces if p.strip() and not NUMBER.match(p)]
