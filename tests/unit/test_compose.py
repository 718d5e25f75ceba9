"""docker-compose.yml checked without a Docker engine: its YAML, and that everything it names
(build contexts, files it mounts, ports, commands, NEWSFLOW_* settings, dependencies) exists
and agrees with the repository and with deploy/."""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from urllib.parse import urlparse

import click
import pytest
import yaml

from services.cli import cli
from shared.config import Settings
from tests.promql import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
OURS = {name for name, s in SERVICES.items() if "build" in s}
LONG_RUNNING = set(SERVICES) - {"topics"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value) -> str:
    """A value as compose would see it with no variable set (`${X:-default}` -> default)."""
    return INTERPOLATION.sub(lambda m: m[2] or "", str(value))


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: interpolate(v) for k, v in env.items()}


def mounts(service: dict) -> list[tuple[str, str]]:
    out = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        out.append((source, target))
    return out


def test_the_production_shape_is_all_there():
    assert {"kafka", "topics", "poller", "cleaner", "tagger", "sink", "postgres", "prometheus", "grafana"} <= set(
        SERVICES)
    assert OURS == {"topics", "poller", "cleaner", "tagger", "sink"}
    assert {SERVICES[name]["image"] for name in OURS} == {"newsflow:local"}, "one image for every service"


def test_build_context_and_dockerfile_exist_and_copy_what_is_there():
    for name in OURS:
        context = REPO / SERVICES[name]["build"]
        assert context.is_dir()
        dockerfile = context / "Dockerfile"
        assert dockerfile.is_file()
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            *sources, _target = line.split()[1:]
            for source in sources:
                assert (REPO / source).exists(), f"Dockerfile copies {source}, which is not in the repo"


def test_other_images_are_pinned():
    for name, service in SERVICES.items():
        if name not in OURS:
            image = service["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"


def test_bind_mounts_exist_and_named_volumes_are_declared():
    declared = set(COMPOSE.get("volumes") or {})
    for name, service in SERVICES.items():
        for source, _target in mounts(service):
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name} mounts {source}, which is not in the repo"
            else:
                assert source in declared, f"{name} uses volume {source!r}, not declared"
    used = {s for service in SERVICES.values() for s, _ in mounts(service) if not s.startswith((".", "/"))}
    assert used == declared


def test_ports_are_valid_and_unique():
    seen = []
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            host, container = str(port).split(":")
            assert 0 < int(host) < 65536 and 0 < int(container) < 65536, (name, port)
            seen.append(int(host))
    assert len(seen) == len(set(seen))
    assert not any("ports" in SERVICES[name] for name in OURS), "stages publish no host port, so they can scale"


@pytest.mark.parametrize("name", sorted(OURS))
def test_commands_are_real_newsflow_subcommands(name):
    command = SERVICES[name]["command"]
    args = shlex.split(command) if isinstance(command, str) else list(command)
    sub = cli.commands.get(args[0])
    assert isinstance(sub, click.Command), f"{name}: `newsflow {args[0]}` does not exist"
    sub.make_context(args[0], args[1:])  # raises on an unknown option


@pytest.mark.parametrize("name", sorted(OURS))
def test_environment_holds_real_settings_with_valid_values(name):
    env = environment(SERVICES[name])
    fields = {f"NEWSFLOW_{f.upper()}" for f in Settings.model_fields}
    unknown = sorted(k for k in env if k.startswith("NEWSFLOW_") and k not in fields)
    assert unknown == [], f"{name}: not settings of shared/config.py"
    settings = Settings(**{k.removeprefix("NEWSFLOW_").lower(): v for k, v in env.items() if k.startswith("NEWSFLOW_")})
    assert settings.metrics_port and settings.metrics_host == "0.0.0.0"


@pytest.mark.parametrize("name, variable", [
    ("poller", "NEWSFLOW_FEEDS_FILE"), ("tagger", "NEWSFLOW_TAXONOMY_FILE"), ("topics", "NEWSFLOW_TAXONOMY_FILE"),
])
def test_the_files_a_service_reads_are_mounted_from_the_repo(name, variable):
    assert _in_container(SERVICES[name], environment(SERVICES[name])[variable])


def _in_container(service: dict, path: str) -> bool:
    """Does a bind mount of `service` put a repo file at `path`?"""
    for source, target in mounts(service):
        if source.startswith(".") and (path == target or path.startswith(target.rstrip("/") + "/")):
            return (REPO / source / Path(path).relative_to(target)).exists()
    return False


def test_dependencies_exist_and_their_conditions_can_be_met():
    for name, service in SERVICES.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            condition = spec["condition"]
            assert condition in CONDITIONS
            target = SERVICES[dependency]
            if condition == "service_healthy":
                assert not target.get("healthcheck", {}).get("disable"), f"{dependency} has no health check"
                assert "test" in target["healthcheck"]
            if condition == "service_completed_successfully":
                assert target.get("restart") == "no", f"{dependency} must be a one-shot"
    assert SERVICES["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert SERVICES["sink"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in OURS - {"topics"}:
        assert SERVICES[name]["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_every_long_running_service_has_a_health_check():
    for name in LONG_RUNNING:
        check = SERVICES[name].get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), name
    for name in OURS - {"topics"}:
        port = environment(SERVICES[name])["NEWSFLOW_METRICS_PORT"]
        assert f":{port}/metrics" in " ".join(SERVICES[name]["healthcheck"]["test"])


def test_kafka_is_a_single_kraft_node_the_services_reach():
    env = environment(SERVICES["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    advertised = {urlparse(u).netloc for u in env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    for name in OURS:
        assert environment(SERVICES[name])["NEWSFLOW_KAFKA_BOOTSTRAP"] in advertised
    assert ("kafka-data", env["KAFKA_LOG_DIRS"]) in mounts(SERVICES["kafka"])


def test_kafka_is_the_version_the_tests_run_on():
    """The image's tag is the version `make install` fetches (deploy/kafka/pom.xml)."""
    pom = (REPO / "deploy" / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)[1]
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{version}"


def test_the_sink_database_is_the_postgres_service():
    pg = environment(SERVICES["postgres"])
    url = urlparse(environment(SERVICES["sink"])["NEWSFLOW_DB_URL"])
    assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432)
    assert (url.username, url.password, url.path.lstrip("/")) == (
        pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"])


def test_prometheus_reads_the_projects_config_and_scrapes_each_stage_where_it_serves():
    service = SERVICES["prometheus"]
    config_flag = next(a for a in service["command"] if a.startswith("--config.file="))
    config_path = config_flag.split("=", 1)[1]
    assert _in_container(service, config_path)
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    for rules in config["rule_files"]:
        assert _in_container(service, str(Path(config_path).parent / rules))
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            for host in sd["names"]:
                assert host in OURS, f"{job['job_name']} scrapes {host}, not a compose service"
                assert str(sd["port"]) == environment(SERVICES[host])["NEWSFLOW_METRICS_PORT"]
    scraped = {h for j in config["scrape_configs"] for sd in j.get("dns_sd_configs", []) for h in sd["names"]}
    assert scraped == OURS - {"topics"}


def test_grafana_is_provisioned_with_the_datasource_and_the_dashboard():
    service = SERVICES["grafana"]
    assert ("./deploy/grafana/provisioning", "/etc/grafana/provisioning") in mounts(service)
    provider = yaml.safe_load((REPO / "deploy/grafana/provisioning/dashboards/newsflow.yml").read_text())
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert _in_container(service, dashboards_path + "/newsflow.json")
    assert _in_container(service, environment(service)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    datasource = yaml.safe_load((REPO / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    url = urlparse(datasource["datasources"][0]["url"])
    assert url.hostname == "prometheus" and f"{url.port}:{url.port}" in SERVICES["prometheus"]["ports"]
