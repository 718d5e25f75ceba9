"""The replay plan: per partition, what moves and what is processed again. Pure."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PartitionPlan:
    partition: int
    committed: int | None  # the group's offset now; None: it never consumed this partition
    first: int  # first offset at or after FROM
    end: int  # bounded: first offset after TO; unbounded: the high watermark
    high: int  # the high watermark: offset after the last message
    new_offset: int | None  # what the group's offset becomes; None: unchanged
    window: tuple[int, int]  # offsets processed again, [a, b)

    @property
    def reprocess(self) -> int:
        return max(0, self.window[1] - self.window[0])


def plan_partition(
    partition: int, committed: int | None, first: int, end: int, *, bounded: bool, high: int | None = None
) -> PartitionPlan:
    """What replaying this partition means.

    Only messages the stage has already consumed are processed again; what lies beyond its
    committed offset it will process anyway. So a group is never moved forward (that would
    skip messages), and a partition it never consumed is left alone.
    Unbounded (no --to): the group moves back to `first` and goes on from there.
    Bounded (--to): the group stays; [first, min(end, committed)) is processed on the side.
    """
    high = end if high is None else high
    if committed is None:
        return PartitionPlan(partition, None, first, end, high, None, (first, first))
    if bounded:
        return PartitionPlan(partition, committed, first, end, high, None, (first, max(first, min(end, committed))))
    if first >= committed:
        return PartitionPlan(partition, committed, first, end, high, None, (committed, committed))
    return PartitionPlan(partition, committed, first, end, high, first, (first, committed))


def total(plans: list[PartitionPlan]) -> int:
    return sum(p.reprocess for p in plans)


def render(plans: list[PartitionPlan], *, bounded: bool) -> str:
    head = f"{'partition':>9}  {'end':>8}  {'committed':>10}  {'new offset':>10}  {'window':>17}  {'reprocess':>9}"
    lines = [head]
    for p in plans:
        committed = "-" if p.committed is None else str(p.committed)
        if bounded or p.new_offset is None:
            new = "unchanged"
        else:
            new = str(p.new_offset)
        window = f"{p.window[0]}..{p.window[1] - 1}" if p.reprocess else "-"
        note = ""
        if p.committed is None:
            note = "  (never consumed: nothing to do)"
        elif not bounded and p.new_offset is None:
            note = "  (the stage has not reached FROM yet)"
        lines.append(f"{p.partition:>9}  {p.high:>8}  {committed:>10}  {new:>10}  {window:>17}  {p.reprocess:>9}{note}")
    lines.append(f"{'total':>9}  {'':>8}  {'':>10}  {'':>10}  {'':>17}  {total(plans):>9}")
    return "\n".join(lines)
