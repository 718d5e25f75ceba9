"""One live pipeline, watched as a user would: Debian's Prometheus scrapes it with the project's
own scrape configuration and rules, every dashboard and alert query must find data, and
`newsflow status` reports on it.

The pipeline is `newsflow run` on its embedded default, polling a real HTTP feed server: one
feed gains an entry at every fetch (articles flow through every stage all along), one answers
503. A few undecodable messages are published to news.raw once Prometheus scrapes, so the
failure and dead-letter series exist.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from shared.procs import free_port
from tests.feedserver import FeedServer, Reply
from tests.integration.helpers import metric_value, wait_until
from tests.promql import REPO, alert_rules, dashboard_queries, top_level_operands

pytestmark = pytest.mark.integration
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
SERVICES = ("poller", "cleaner", "tagger", "sink")


def _live_feed():
    counter = itertools.count()

    def reply(_headers) -> Reply:
        newest = next(counter)
        items = "".join(
            f"<item><title>Taiwan Strait patrol report {i}</title><guid>live-{i}</guid>"
            f"<link>https://live.example.org/{i}</link><pubDate>Mon, 16 Nov 2026 03:{i % 60:02d}:00 GMT</pubDate>"
            f"<description>Taipei said a Chinese spy balloon crossed the island's airspace; report {i}."
            f"</description></item>"
            for i in range(max(0, newest - 4), newest + 1)
        )
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Live desk</title>{items}</channel></rss>'
        return Reply(200, body.encode(), {"Content-Type": "application/rss+xml"})

    return reply


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """`newsflow run` with its data dir; yields (data dir, endpoints.json contents, environment)."""
    work = tmp_path_factory.mktemp("observed")
    server = FeedServer()
    server.routes["/live.xml"] = _live_feed()
    server.routes["/broken.xml"] = lambda _h: Reply(503, b"down for maintenance")
    feeds = work / "feeds.yaml"
    feeds.write_text(yaml.safe_dump({"feeds": [
        {"name": "live-desk", "url": server.url("/live.xml"), "fulltext": False},
        {"name": "broken-wire", "url": server.url("/broken.xml"), "fulltext": False},
    ]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}
    env.update(
        NEWSFLOW_DATA_DIR=str(work / "data"), NEWSFLOW_METRICS_BASE_PORT="0", NEWSFLOW_POLL_INTERVAL_S="2",
        NEWSFLOW_ALLOW_PRIVATE_HOSTS="127.0.0.1", NEWSFLOW_HOST_MIN_GAP_S="0", NEWSFLOW_MAX_BACKOFF_S="4",
    )
    log_path = work / "run.log"
    with log_path.open("w") as log:
        run = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "run", "--feeds", str(feeds)],
            env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        endpoints_file = work / "data" / "endpoints.json"
        wait_until(endpoints_file.is_file, 60, what="endpoints.json")
        endpoints = json.loads(endpoints_file.read_text())
        sink_port = int(endpoints["metrics"]["sink"].rsplit(":", 1)[1].split("/")[0])
        wait_until(lambda: (metric_value(sink_port, "newsflow_messages_out_total") or 0) >= 3, 120,
                   interval_s=0.3, what="articles stored")
        yield work / "data", endpoints, env
    finally:
        run.send_signal(2)
        try:
            run.wait(60)
        except subprocess.TimeoutExpired:
            run.kill()
            run.wait()
        server.close()
    assert not endpoints_file.exists(), "the run removes its endpoints file when it stops"


def _publish_garbage(bootstrap: str, n: int = 3) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for _ in range(n):
        producer.send("news.raw", b"<<not an article>>").get(10)
    producer.close()


class Prometheus:
    def __init__(self, port: int, process: subprocess.Popen):
        self.url = f"http://127.0.0.1:{port}"
        self.process = process

    def api(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as resp:
            return json.loads(resp.read())

    def query(self, expr: str) -> dict:
        try:
            return self.api("query", query=expr)
        except urllib.error.HTTPError as exc:  # 400: does not parse
            return json.loads(exc.read())


def scrape_config(endpoints: dict, port: int) -> dict:
    """The project's prometheus.yml, pointed at this run's ports, scraping every second."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
    for job in config["scrape_configs"]:
        service = job["job_name"].removeprefix("newsflow-")
        if service in endpoints["metrics"]:
            target = urllib.parse.urlparse(endpoints["metrics"][service]).netloc
        else:
            target = f"127.0.0.1:{port}"  # Prometheus itself
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": [target]}]
    return config


@pytest.fixture(scope="module")
def prometheus(pipeline, tmp_path_factory):
    binary = shutil.which("prometheus")
    if not binary:
        pytest.skip("Debian's prometheus is not installed (.ci/run installs it: apt-get install prometheus)")
    _data, endpoints, _env = pipeline
    work = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    config = scrape_config(endpoints, port)
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (work / "prometheus.log").open("w")
    process = subprocess.Popen(
        [binary, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    prom = Prometheus(port, process)
    try:
        wait_until(lambda: _ready(prom), 60, interval_s=0.2, what="Prometheus ready")
        wait_until(lambda: _every_target_up(prom), 60, interval_s=0.5, what="every service scraped")
        _publish_garbage(endpoints["kafka_bootstrap"])
        # enough scrapes after the garbage for rate() windows and the dead letters to show
        wait_until(lambda: _count(prom, 'sum(newsflow_messages_dead_lettered_total{stage="cleaner"})') >= 3,
                   60, interval_s=0.5, what="dead letters scraped")
        time.sleep(5)
        yield prom
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def _ready(prom: Prometheus) -> bool:
    try:
        with urllib.request.urlopen(f"{prom.url}/-/ready", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def _every_target_up(prom: Prometheus) -> bool:
    up = {r["metric"]["job"]: r["value"][1] for r in prom.query('up{job=~"newsflow-.*"}')["data"]["result"]}
    return sorted(up) == sorted(f"newsflow-{s}" for s in SERVICES) and set(up.values()) == {"1"}


def _count(prom: Prometheus, expr: str) -> float:
    result = prom.query(expr)["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def _must_return_data(prom: Prometheus, expr: str) -> list[dict]:
    answer = prom.query(expr)
    assert answer["status"] == "success", f"{expr!r} does not run: {answer.get('error')}"
    assert answer["data"]["result"], f"{expr!r} returns nothing"
    return answer["data"]["result"]


def test_the_scrape_configuration_covers_every_service(pipeline):
    _data, endpoints, _env = pipeline
    jobs = {j["job_name"] for j in yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())["scrape_configs"]}
    assert {f"newsflow-{s}" for s in endpoints["metrics"]} <= jobs
    assert set(endpoints["metrics"]) == set(SERVICES)


@pytest.mark.parametrize("title, expr", dashboard_queries())
def test_every_dashboard_query_returns_data(prometheus, title, expr):
    _must_return_data(prometheus, expr)


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_every_alert_expression_runs_and_each_side_finds_its_series(prometheus, rule):
    whole = prometheus.query(rule["expr"])
    assert whole["status"] == "success", whole.get("error")
    operands = top_level_operands(rule["expr"])
    assert operands, rule["expr"]
    for operand in operands:
        _must_return_data(prometheus, operand)


def test_prometheus_evaluates_the_rules_without_error(prometheus):
    def evaluated():
        rules = [r for g in prometheus.api("rules")["data"]["groups"] for r in g["rules"]]
        return rules if rules and all(r["health"] != "unknown" for r in rules) else None

    rules = wait_until(evaluated, 30, interval_s=0.5, what="rules evaluated")
    assert {r["name"] for r in rules} == {r["alert"] for r in alert_rules()}
    assert [(r["name"], r["health"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []


def test_the_metrics_carry_real_values(prometheus):
    """Not only present: the flow shows in them (what a user sees on the dashboard)."""
    stored = _must_return_data(prometheus, 'newsflow_messages_out_total{stage="sink"}')
    assert float(stored[0]["value"][1]) >= 3
    tagged = {r["metric"]["tag"] for r in _must_return_data(prometheus, "newsflow_articles_tagged_total")}
    assert {"taiwan", "balloon"} <= tagged
    failing = _must_return_data(prometheus, "newsflow_poller_feed_consecutive_errors > 0")
    assert [r["metric"]["feed"] for r in failing] == ["broken-wire"]
    assert _count(prometheus, 'sum(rate(newsflow_messages_in_total{stage="sink"}[1m]))') > 0
    e2e = _must_return_data(prometheus, "histogram_quantile(0.5, sum by (le) (rate(newsflow_end_to_end_seconds_bucket[1m])))")
    assert 0 < float(e2e[0]["value"][1]) < 60
    lag = _must_return_data(prometheus, "newsflow_consumer_lag_messages")
    assert {r["metric"]["stage"] for r in lag} == {"cleaner", "tagger", "sink"}
    faust = _must_return_data(prometheus, "newsflow_faust_messages_received_total")
    assert {r["metric"]["job"] for r in faust} == {"newsflow-cleaner", "newsflow-tagger"}


def test_status_reports_every_stage_and_the_failing_feed(pipeline, prometheus):
    data_dir, _endpoints, env = pipeline
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "status", "--interval", "1"],
        env=env, cwd=data_dir.parent, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.split()}
    assert f"endpoints: {data_dir / 'endpoints.json'}" in done.stdout
    for stage in SERVICES:
        assert lines[stage].split()[1] == "1/1", done.stdout
    assert "not_json" in lines["cleaner"]
    assert "failing: broken-wire:" in done.stdout and "never fetched successfully" in done.stdout
    assert "live-desk" not in done.stdout
