"""The pure parts of fault handling: NEWSFLOW_WORKERS, the names of workers, and holding back
the Kafka clients' repeated log lines."""
import logging

import pytest

from services.supervisor.main import worker_names
from shared.config import Settings, parse_worker_counts
from shared.logs import ClientRepeats


def test_workers_setting_is_parsed_and_checked():
    assert parse_worker_counts("cleaner=2, tagger=3") == {"cleaner": 2, "tagger": 3}
    assert parse_worker_counts("") == {}
    for bad in ("cleaner", "cleaner=0", "cleaner=two", "=2"):
        with pytest.raises(ValueError, match="STAGE=N"):
            parse_worker_counts(bad)
    with pytest.raises(ValueError):
        Settings(workers="tagger=x")


def test_worker_names_keep_the_stage_first_then_number_the_others():
    assert worker_names(Settings(workers="cleaner=2,sink=3")) == [
        "poller", "cleaner", "cleaner-2", "tagger", "sink", "sink-2", "sink-3"]
    with pytest.raises(ValueError, match="one poller"):
        worker_names(Settings(workers="poller=2"))
    with pytest.raises(ValueError, match="names no stage"):
        worker_names(Settings(workers="cleanr=2"))


def _record(name: str, msg: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, ("node",), None)


def test_a_clients_repeated_message_passes_once_per_period_with_a_count(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("shared.logs.time.monotonic", lambda: now[0])
    repeats = ClientRepeats(every_s=30)
    assert repeats.filter(_record("aiokafka", "Unable connect to %s"))
    assert not any(repeats.filter(_record("aiokafka", "Unable connect to %s")) for _ in range(5))
    assert repeats.filter(_record("kafka.net.manager", "Unable connect to %s"))  # another logger
    assert all(repeats.filter(_record("shared.brokerwatch", "unreachable")) for _ in range(3))  # ours: all
    assert all(repeats.filter(_record("kafkaesque", "x")) for _ in range(2))  # not a client of ours
    now[0] += 31
    again = _record("aiokafka", "Unable connect to %s")
    assert repeats.filter(again) and "[and 5 more like it in 31 s]" in again.getMessage()


def test_of_the_kafka_client_only_its_group_coordinator_logs_below_warning():
    from shared.logs import setup_logging

    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    try:
        setup_logging("info", "sink")
        assert logging.getLogger("kafka.coordinator.consumer").isEnabledFor(logging.INFO)  # joins, assignments
        assert not logging.getLogger("kafka.conn").isEnabledFor(logging.INFO)  # every reconnect attempt
        setup_logging("warning", "sink")
        assert not logging.getLogger("kafka.coordinator").isEnabledFor(logging.INFO)
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        logging.getLogger("kafka").setLevel(logging.NOTSET)
        logging.getLogger("kafka.coordinator").setLevel(logging.NOTSET)
