"""deploy/: Prometheus configuration and rules checked by promtool, every alert unit-tested,
the dashboard JSON in step with its generator, the Grafana provisioning consistent."""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.promql import ALERTS, DASHBOARD, REPO, alert_rules, dashboard_queries

PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
GRAFANA_DIR = REPO / "deploy" / "grafana"


def promtool(*args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("promtool")
    if not binary:
        pytest.skip("promtool not installed (.ci/run installs Debian's prometheus package)")
    return subprocess.run([binary, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [
    ("check", "config", "prometheus.yml"),
    ("check", "rules", "alerts.yml"),
    ("test", "rules", "alerts_test.yml"),
], ids=" ".join)
def test_promtool(args):
    done = promtool(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_every_alert_is_tested_firing_and_quiet():
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts_test.yml").read_text())
    assert tests["rule_files"] == [ALERTS.name]
    fires, quiet = set(), set()
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {r["alert"] for r in alert_rules()}
    assert names == fires, "every alert must have a case where it fires"
    assert names == quiet, "every alert must have a case where it stays quiet"
    assert len(names) == 7


def test_the_dashboard_json_is_what_its_script_builds():
    spec = importlib.util.spec_from_file_location("build_dashboard", GRAFANA_DIR / "build_dashboard.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    assert DASHBOARD.read_text() == module.render(), "run: .venv/bin/python deploy/grafana/build_dashboard.py"


def test_the_dashboard_covers_what_the_issue_asks_for():
    rows = [p["title"] for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] == "row"]
    assert rows == ["Throughput", "Lag", "Latency", "Errors and dead letters", "Feeds",
                    "Topics, duplicates and stories", "Sink", "Processes"]
    exprs = " ".join(expr for _, expr in dashboard_queries())
    for needed in ("newsflow_consumer_lag_messages", "newsflow_consumer_lag_seconds", "histogram_quantile(0.99",
                   "newsflow_messages_dead_lettered_total", "newsflow_poller_fetches_total",
                   "newsflow_articles_tagged_total", "newsflow_sink_duplicates_total", "newsflow_sink_stories_total",
                   "newsflow_sink_db_write_seconds_bucket"):
        assert needed in exprs


def test_the_panels_use_the_provisioned_datasource():
    datasources = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = datasources["datasources"][0]["uid"]

    def refs(node):
        if isinstance(node, dict):
            if "datasource" in node:
                yield node["datasource"]["uid"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    assert set(refs(json.loads(DASHBOARD.read_text()))) == {uid}


def test_every_metric_the_deploy_files_use_is_documented_in_the_readme():
    readme = (REPO / "README.md").read_text()
    text = DASHBOARD.read_text() + ALERTS.read_text()
    used = {re.sub(r"_(bucket|sum|count)$", "", m) for m in re.findall(r"newsflow_[a-z_]+", text)}
    used = {m for m in used if not m.startswith("newsflow_faust_")}  # Faust's own, documented as a family
    missing = sorted(m for m in used if f"`{m}" not in readme)
    assert missing == []


def _metric_tokens(text: str) -> set[str]:
    return set(re.findall(r"\bnewsflow_[a-z_]+", text))


def test_the_alerts_and_the_dashboard_name_only_declared_metrics():
    """shared/metric_names.py is the list: a rule or a panel that names anything else (a typo,
    a renamed metric) would watch nothing and never fire."""
    from shared.metric_names import exposed

    used = set()
    for path in (PROMETHEUS_DIR / "alerts.yml", PROMETHEUS_DIR / "alerts_test.yml", DASHBOARD):
        used |= _metric_tokens(path.read_text())
    assert len(used) > 15
    unknown = sorted(t for t in used if not exposed(t))
    assert not unknown, f"not in shared/metric_names.py: {unknown}"
    assert not exposed("newsflow_messages_inn_total")


def test_every_declared_metric_is_registered_by_a_service_and_no_other():
    from prometheus_client import CollectorRegistry

    from services.cleaner.metrics import CleanerMetrics
    from services.poller.metrics import PollerMetrics
    from services.sink.metrics import SinkMetrics
    from services.tagger.metrics import TaggerMetrics
    from shared.metric_names import ALL

    registered = set()
    for make in (CleanerMetrics, PollerMetrics, SinkMetrics, lambda r: TaggerMetrics(r, "v1")):
        registry = CollectorRegistry()
        make(registry)
        registered |= {family.name for family in registry.collect()}
    # prometheus_client names a counter's family without its _total
    assert registered == {name.removesuffix("_total") for name in ALL}
