"""Who is in a consumer group right now: the live-member check replay relies on.

kafka-python's `describe_groups` asks for DescribeGroups v3+ with the group's authorised
operations. The local broker (Tansu) answers that field with every bit set, which
kafka-python cannot map to its ACL enum ("15 is not a valid ACLOperation"), so the call
fails there. Versions 0-2 of the request carry no such field and say the same about the
members; v2 is answered by Tansu and by Apache Kafka up to 4.x (KIP-896, which removed old
protocol versions in 4.0, kept every DescribeGroups version). ListGroups is no alternative: Tansu lists no group at all.
"""
from __future__ import annotations

from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.protocol.admin import DescribeGroupsRequest

from shared.config import Settings
from shared.kafka import make_admin


class _Admin(KafkaAdminClient):
    # Overrides the one hook that builds the request; the coordinator lookup, the send and
    # the decoding of members stay kafka-python's (pinned in pyproject.toml).
    def _describe_groups_request(self, group_ids):
        return DescribeGroupsRequest(groups=list(group_ids), max_version=2)


@dataclass(frozen=True)
class GroupState:
    group: str
    state: str  # Stable, PreparingRebalance, CompletingRebalance, Empty, Dead
    members: tuple[str, ...]  # "client_id@host" of each live member

    @property
    def live(self) -> bool:
        return bool(self.members)


def describe_group(settings: Settings, group: str) -> GroupState:
    admin = make_admin(settings, _Admin)
    try:
        result = admin.describe_groups([group])[group]
    finally:
        admin.close()
    if result.get("error"):
        raise RuntimeError(f"cannot describe group {group!r}: {result['error']}")
    members = tuple(
        f"{m.get('client_id') or m.get('member_id')}@{m.get('client_host') or '?'}"
        for m in result.get("members") or []
    )
    return GroupState(group, result.get("group_state") or "unknown", members)
