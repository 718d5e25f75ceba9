"""Consumer lag in messages and seconds, from high watermarks and consumed messages."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from shared.lag import ConsumerLag


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_messages_behind_sum_over_partitions_and_seconds_follow_the_last_consumed():
    clock = Clock()
    lag = ConsumerLag("sink", clock=clock)
    lag.consumed("p0", 9, 990.0)  # position 10
    lag.update({"p0": 15, "p1": 7}, positions={"p1": 4})
    assert lag.messages() == 5 + 3
    clock.now = 1005.0
    # p0: the last consumed message is 15 s old; p1: nothing consumed, behind since first seen (5 s)
    assert lag.seconds() == 15.0


def test_caught_up_is_zero_seconds_and_a_new_message_after_idle_is_not_an_hour_old():
    clock = Clock()
    lag = ConsumerLag("cleaner", clock=clock)
    lag.consumed("p0", 4, 100.0)  # produced long ago
    lag.update({"p0": 5})
    assert (lag.messages(), lag.seconds()) == (0, 0.0)
    clock.now = 4599.0
    lag.update({"p0": 5})  # still caught up an hour later
    clock.now = 4600.0
    lag.update({"p0": 6})  # one new message
    clock.now = 4602.0
    assert (lag.messages(), lag.seconds()) == (1, 3.0)


def test_a_backlog_of_old_messages_is_as_old_as_what_is_consumed():
    clock = Clock(50_000.0)
    lag = ConsumerLag("tagger", clock=clock)
    lag.update({"p0": 1000}, positions={"p0": 0})  # a backlog from the start
    for offset in range(10):
        lag.consumed("p0", offset, 40_000.0 + offset)
    lag.update({"p0": 1000})
    assert lag.messages() == 990
    assert lag.seconds() == 50_000.0 - 40_009.0


def test_a_replay_moving_back_counts_the_old_messages_again():
    clock = Clock(10_000.0)
    lag = ConsumerLag("sink", clock=clock)
    lag.consumed("p0", 99, 9_999.0)
    lag.update({"p0": 100})  # caught up at 10,000
    lag.consumed("p0", 0, 2_000.0)  # the group was moved back
    lag.update({"p0": 100})
    clock.now = 10_001.0
    assert (lag.messages(), lag.seconds()) == (99, 8_001.0)


def test_partitions_not_owned_any_more_are_forgotten_and_unknowns_skipped():
    lag = ConsumerLag("sink", clock=Clock())
    lag.consumed("p0", 0, 999.0)
    lag.update({"p0": 10, "p1": 10}, positions={"p1": 0})
    lag.update({"p1": 10, "p2": None, "p3": 5}, positions={"p1": 0})  # p0 revoked; p2/p3 unknown
    assert lag.messages() == 10


def test_exported_at_scrape_time_with_the_stage_label():
    clock = Clock()
    registry = CollectorRegistry()
    lag = ConsumerLag("sink", registry, clock=clock)
    lag.update({"p0": 3}, positions={"p0": 1})
    clock.now = 1042.0
    text = generate_latest(registry).decode()
    assert 'newsflow_consumer_lag_messages{stage="sink"} 2.0' in text
    assert 'newsflow_consumer_lag_seconds{stage="sink"} 42.0' in text


def test_what_is_consumed_after_an_update_counts_at_once():
    lag = ConsumerLag("cleaner", clock=Clock())
    lag.update({"p0": 100}, positions={"p0": 0})
    assert lag.messages() == 100
    for offset in range(60):
        lag.consumed("p0", offset, 999.0)
    assert lag.messages() == 40
