"""services/sink/membership.py: when the sink's group membership has been unsettled too long."""
from __future__ import annotations

from kafka.structs import MemberState

from services.sink.membership import MIN_LIMIT_S, Membership, settle_limit_s


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_overdue_once_a_limit_after_it_stopped_being_stable_then_a_limit_later():
    clock = Clock()
    membership = Membership(30, clock)
    assert not membership.overdue(MemberState.UNJOINED)  # the count starts
    clock.now += 29
    assert not membership.overdue(MemberState.REBALANCING)
    clock.now += 1
    assert membership.overdue(MemberState.REBALANCING)
    clock.now += 10
    assert not membership.overdue(MemberState.REBALANCING)  # counted again from the last answer
    clock.now += 20
    assert membership.overdue(MemberState.UNJOINED)


def test_a_stable_membership_starts_the_count_again():
    clock = Clock()
    membership = Membership(30, clock)
    membership.overdue(MemberState.REBALANCING)
    clock.now += 25
    assert not membership.overdue(MemberState.STABLE) and membership.unsettled_s() == 0.0
    clock.now += 25
    assert not membership.overdue(MemberState.REBALANCING)
    clock.now += 29
    assert not membership.overdue(MemberState.REBALANCING) and membership.unsettled_s() == 29


def test_the_limit_is_a_few_sessions_and_never_short():
    assert settle_limit_s(6000) == MIN_LIMIT_S == 30.0
    assert settle_limit_s(10_000) == 50.0
