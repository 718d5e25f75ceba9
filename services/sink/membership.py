"""Whether the sink's place in its consumer group has stayed unsettled for too long.

kafka-python 3.0.12 can be left "rebalancing" with no join under way (a join cut short by a
poll's timeout, or by the group coordinator moving while the broker starts): its partitions
then fetch nothing and nothing is committed, so no error ever says so. Seen in CI: a sink idle
for minutes with messages waiting, its session expired. The sink asks this after each step and,
when the answer is yes, joins its group with a new client (Sink.settle).
"""
from __future__ import annotations

import time
from collections.abc import Callable

from kafka.structs import MemberState

MIN_LIMIT_S = 30.0


def settle_limit_s(session_timeout_ms: int) -> float:
    """How long a join may take: a few sessions, never under MIN_LIMIT_S (a group whose broker
    has just started may answer NOT_COORDINATOR for several seconds)."""
    return max(MIN_LIMIT_S, 5 * session_timeout_ms / 1000)


class Membership:
    def __init__(self, limit_s: float, clock: Callable[[], float] = time.monotonic):
        self.limit_s = limit_s
        self.clock = clock
        self.unsettled_since: float | None = None

    def overdue(self, state: str) -> bool:
        """True once `state` (ConsumerGroupMetadata.state) has not been stable for limit_s; the
        count then starts again, so a join that does not help is tried again a limit later."""
        now = self.clock()
        if state == MemberState.STABLE:
            self.unsettled_since = None
            return False
        if self.unsettled_since is None:
            self.unsettled_since = now
            return False
        if now - self.unsettled_since < self.limit_s:
            return False
        self.unsettled_since = now
        return True

    def unsettled_s(self) -> float:
        return 0.0 if self.unsettled_since is None else self.clock() - self.unsettled_since
