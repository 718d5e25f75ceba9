"""`newsflow replay`: plan, and with --execute carry out, a stage's trip back in time."""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager

from services.replay.context import Pipeline
from services.replay.groups import describe_group
from services.replay.offsets import BROKER, SEARCH, PartitionReader, commit, committed
from services.replay.plan import PartitionPlan, plan_partition, render, total
from services.replay.runner import run_window
from shared.pipeline.limit import DeadLetterLimit
from shared.pipeline.publish import DeliveryFailed
from shared.times import show


class Refused(RuntimeError):
    """Replay will not do this, and says why."""


def make_plan(
    pipeline: Pipeline, stage: str, from_ms: int, to_ms: int | None
) -> tuple[list[PartitionPlan], dict[int, int], Counter]:
    """The plan per partition, each partition's high watermark, and who answered the lookups by
    time (services/replay/offsets.py: the broker's ListOffsets, or a search of the records)."""
    settings = pipeline.settings
    topic = pipeline.input_topic(stage)
    try:
        reader = PartitionReader(settings, topic)
    except RuntimeError as exc:
        raise Refused(f"cannot read the {stage}'s input: {exc}") from None
    with reader:
        parts = sorted(reader.bounds)
        firsts = {p: reader.first_at_or_after(p, from_ms) for p in parts}
        highs = {p: reader.bounds[p].end for p in parts}
        # records at TO itself are in the window: the end is the first record after TO
        ends = {p: reader.first_at_or_after(p, to_ms + 1) for p in parts} if to_ms is not None else highs
        lookups = reader.answered_by
    done = committed(settings, settings.group(stage), topic)
    plans = [
        plan_partition(p, done.get(p), firsts[p], ends[p], bounded=to_ms is not None, high=highs[p]) for p in parts
    ]
    return plans, highs, lookups


def wait_until_empty(pipeline: Pipeline, group: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        state = describe_group(pipeline.settings, group)
        if not state.live:
            return
        if time.monotonic() > deadline:
            raise Refused(
                f"the group {group} still has {len(state.members)} member(s) after its stage was paused "
                f"({', '.join(state.members)}): something outside `newsflow run` consumes as {group}; stop it "
                f"first. (On Tansu a consumer killed with -9 stays listed until another joins: "
                f"restarting `newsflow run` clears it.)"
            )
        time.sleep(0.5)


@contextmanager
def standing_still(pipeline: Pipeline, stage: str, echo: Callable[[str], None]):
    """While inside, nobody consumes in the stage's group.

    Under `newsflow run` the stage is paused (it commits and leaves its group) and resumed on
    the way out; the pause holds a lease, renewed while we work, so that a replay process
    that dies cannot leave the stage stopped. Elsewhere a live group is refused: offsets
    cannot be moved under a running consumer, and a window processed beside it could put an
    old revision of an article on top of a new one the stage just handled.
    """
    settings = pipeline.settings
    group = settings.group(stage)
    state = describe_group(settings, group)
    managed = pipeline.runs(stage)
    if state.live and not managed:
        raise Refused(
            f"the {stage}'s group {group} has {len(state.members)} live member(s) ({', '.join(state.members)}), "
            f"and a replay needs the {stage} to stand still. Stop the {stage} and run this again, or run the "
            f"pipeline under `newsflow run` (replay then pauses the {stage} and resumes it itself)."
        )
    if not managed:
        yield
        return
    lease_s = max(60.0, 6 * settings.session_timeout_ms / 1000)
    echo(f"pausing the {stage} (newsflow run pid {pipeline.supervisor.pid})")
    pipeline.supervisor.pause(stage, lease_s=lease_s)
    done = threading.Event()

    def renew() -> None:
        while not done.wait(lease_s / 3):
            pipeline.supervisor.pause(stage, lease_s=lease_s)

    renewer = threading.Thread(target=renew, name="lease", daemon=True)
    renewer.start()
    try:
        wait_until_empty(pipeline, group, timeout_s=3 * settings.session_timeout_ms / 1000 + 10)
        yield
    finally:
        done.set()
        renewer.join()
        pipeline.supervisor.resume(stage)
        echo(f"resumed the {stage}")


def describe(stage: str, group: str, topic: str, from_ms: int, to_ms: int | None) -> str:
    until = f" to {show(to_ms)}" if to_ms is not None else " on (unbounded)"
    return f"replay of the {stage} (group {group}, input {topic}) from {show(from_ms)}{until}"


def replay(
    pipeline: Pipeline, stage: str, from_ms: int, to_ms: int | None, execute: bool, echo: Callable[[str], None]
) -> int:
    """Print the plan; with `execute`, carry it out. Returns the messages processed again."""
    if to_ms is not None and to_ms < from_ms:
        raise Refused(f"--to ({show(to_ms)}) is before --from ({show(from_ms)})")
    settings = pipeline.settings
    topic = pipeline.input_topic(stage)
    echo(describe(stage, settings.group(stage), topic, from_ms, to_ms))
    plans, _, lookups = make_plan(pipeline, stage, from_ms, to_ms)
    bounded = to_ms is not None
    echo(render(plans, bounded=bounded))
    echo(f"offsets by time: {lookups[BROKER]} answered by the broker (ListOffsets), "
         f"{lookups[SEARCH]} found by reading records (the broker's answer was missing or wrong)")
    if not execute:
        echo("plan only: nothing was changed (add --execute to carry it out)")
        return 0
    if not total(plans):
        echo("nothing to reprocess")
        return 0
    with standing_still(pipeline, stage, echo):
        # the stage may have gone on while we planned: plan again from where it stopped
        plans, _, _ = make_plan(pipeline, stage, from_ms, to_ms)
        if bounded:
            try:
                result = run_window(settings, stage, topic, {p.partition: p.window for p in plans},
                                    {p.partition: p.committed or 0 for p in plans})
            except (DeliveryFailed, DeadLetterLimit) as exc:
                raise Refused(f"the replay of the window stopped: {exc}; the {stage}'s offsets are as they "
                              "were, so it can be run again") from None
        else:
            commit(settings, settings.group(stage), topic,
                   {p.partition: p.new_offset for p in plans if p.new_offset is not None})
    if bounded:
        later = f", {result.later_revisions} later revision(s) applied again" if result.later_revisions else ""
        echo(
            f"reprocessed {result.processed} message(s) of {topic} in the window "
            f"({result.dead_lettered} dead-lettered{later}); the {stage} goes on where it was"
        )
        return result.processed
    moved = [p for p in plans if p.new_offset is not None]
    echo(
        f"moved {settings.group(stage)} back on {len(moved)} partition(s): the {stage} processes "
        f"{total(plans)} message(s) again, then goes on with new ones"
    )
    return total(plans)
