"""The local broker's choice and configuration (services/broker/), without starting one."""
from __future__ import annotations

from pathlib import Path

import pytest

from services.broker import kafka
from services.broker.main import choose_broker
from shared.config import Settings


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_the_kafka_node_listens_on_loopback_only_with_the_retention_asked_for(tmp_path):
    settings = Settings(kafka_retention_hours=48, kafka_retention_bytes=64 * 1024**2, partitions=3)
    props = _props(kafka.server_properties(settings, tmp_path / "log", 9092, 9093))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["process.roles"] == "broker,controller"
    assert props["log.dirs"] == str(tmp_path / "log")
    assert props["log.retention.ms"] == str(48 * 3600 * 1000)
    assert props["log.retention.bytes"] == str(64 * 1024**2)
    assert int(props["log.segment.bytes"]) <= 64 * 1024**2  # retention drops whole segments
    assert props["auto.create.topics.enable"] == "false"
    assert int(props["message.max.bytes"]) >= settings.max_request_bytes
    assert props["num.partitions"] == "3"


def test_no_size_limit_keeps_segments_of_a_usual_size():
    props = _props(kafka.server_properties(Settings(kafka_retention_bytes=-1), Path("/x"), 1, 2))
    assert props["log.retention.bytes"] == "-1"
    assert props["log.segment.bytes"] == str(256 * 1024 * 1024)


def test_the_heap_is_fixed_by_the_setting(tmp_path):
    install = kafka.KafkaInstall("/usr/bin/java", tmp_path, "4.4.0")
    command = kafka.broker_command(install, Settings(kafka_heap_mb=300), tmp_path / "server.properties")
    assert "-Xms300m" in command and "-Xmx300m" in command
    assert command[-2:] == ["kafka.Kafka", str(tmp_path / "server.properties")]


def test_the_version_comes_from_the_jar_name(tmp_path):
    assert kafka.jar_version(tmp_path / "missing") is None
    (tmp_path / "kafka-clients-4.4.0.jar").touch()
    assert kafka.jar_version(tmp_path) is None
    (tmp_path / "kafka_2.13-4.4.0.jar").touch()
    assert kafka.jar_version(tmp_path) == "4.4.0"


def test_a_kafka_home_without_jars_is_named_in_the_error(tmp_path):
    settings = Settings(kafka_home=tmp_path, broker="kafka")
    if kafka.find_java() is None:
        pytest.skip("no Java 17+ here: the error names Java first")
    with pytest.raises(kafka.KafkaUnavailable, match=str(tmp_path)):
        kafka.find_kafka(settings)
    with pytest.raises(RuntimeError, match="NEWSFLOW_BROKER=kafka, but Apache Kafka cannot run here"):
        choose_broker(settings)
    assert choose_broker(settings.model_copy(update={"broker": "auto"})) == "tansu"  # auto falls back
    assert choose_broker(settings.model_copy(update={"broker": "tansu"})) == "tansu"


def test_a_kafka_home_with_jars_is_taken(tmp_path):
    if kafka.find_java() is None:
        pytest.skip("no Java 17+ here")
    (tmp_path / "libs").mkdir()
    (tmp_path / "libs" / "kafka_2.13-9.9.9.jar").touch()
    install = kafka.find_kafka(Settings(kafka_home=tmp_path))
    assert (install.libs, install.version) == (tmp_path / "libs", "9.9.9")
    assert choose_broker(Settings(kafka_home=tmp_path)) == "kafka"


def test_java_versions_are_read_old_and_new_style(tmp_path):
    for printed, major in (('openjdk version "17.0.15" 2025-04-15', 17), ('java version "1.8.0_402"', 8),
                           ('openjdk version "25" 2025-09-16', 25)):
        script = tmp_path / f"java{major}"
        script.write_text(f"#!/bin/sh\necho '{printed}' >&2\n")
        script.chmod(0o755)
        assert kafka.java_major(str(script)) == major
    assert kafka.java_major(str(tmp_path / "nothing")) is None


def test_cluster_ids_never_look_like_an_option():
    """One id in 64 would start with "-" (seen in CI: the storage tool refused `--cluster-id -x...`)."""
    ids = [kafka.new_cluster_id() for _ in range(2000)]
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids)
    assert any("-" in i for i in ids)  # the alphabet still has it, elsewhere in the id


def test_an_unknown_broker_kind_is_refused():
    with pytest.raises(ValueError):
        Settings(broker="redpanda")
