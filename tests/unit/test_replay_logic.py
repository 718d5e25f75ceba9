"""Replay's pure parts: the binary search over offsets, the plan, progress, the rate limit."""
from __future__ import annotations

import io

import pytest

from services.replay.offsets import bisect_first
from services.replay.plan import plan_partition, render, total
from services.replay.progress import Progress


def _log(stamps: dict[int, int]):
    """probe over a partition given as {offset: timestamp} (offsets may have gaps)."""
    calls = []

    def probe(o):
        calls.append(o)
        later = [k for k in stamps if k >= o]
        return (min(later), stamps[min(later)]) if later else None

    return probe, calls


def test_bisect_finds_the_first_record_at_or_after_a_time():
    stamps = {o: 1000 + 10 * o for o in range(100)}
    probe, calls = _log(stamps)
    assert bisect_first(probe, 0, 100, 1000 + 10 * 37) == 37
    assert bisect_first(probe, 0, 100, 1000 + 10 * 37 - 5) == 37
    assert bisect_first(probe, 0, 100, 0) == 0
    assert bisect_first(probe, 0, 100, 10**9) == 100  # nothing that late: the end
    calls.clear()
    bisect_first(probe, 0, 100, 1500)
    assert len(calls) <= 8  # log2(100) probes, not a scan


def test_bisect_copes_with_gaps_and_equal_timestamps():
    stamps = {0: 5, 1: 5, 4: 7, 5: 7, 6: 7, 9: 9}  # 2, 3, 7, 8 missing (compaction, markers)
    probe, _ = _log(stamps)
    assert bisect_first(probe, 0, 10, 6) == 4
    assert bisect_first(probe, 0, 10, 7) == 4
    assert bisect_first(probe, 0, 10, 8) == 9
    assert bisect_first(probe, 0, 10, 5) == 0
    assert bisect_first(probe, 5, 10, 5) == 5  # within a sub-range


def test_unbounded_plan_moves_back_but_never_forward():
    back = plan_partition(0, committed=100, first=60, end=120, bounded=False)
    assert (back.new_offset, back.window, back.reprocess) == (60, (60, 100), 40)
    ahead = plan_partition(1, committed=50, first=60, end=120, bounded=False)
    assert ahead.new_offset is None and ahead.reprocess == 0
    never = plan_partition(2, committed=None, first=0, end=120, bounded=False)
    assert never.new_offset is None and never.reprocess == 0
    assert total([back, ahead, never]) == 40
    text = render([back, ahead, never], bounded=False)
    assert "has not reached FROM yet" in text and "never consumed" in text


def test_bounded_plan_keeps_the_group_and_stops_at_what_was_consumed():
    window = plan_partition(0, committed=100, first=20, end=50, bounded=True)
    assert (window.new_offset, window.window, window.reprocess) == (None, (20, 50), 30)
    behind = plan_partition(1, committed=30, first=20, end=50, bounded=True)
    assert behind.window == (20, 30)  # 30..49 the stage has yet to do anyway
    before = plan_partition(2, committed=10, first=20, end=50, bounded=True)
    assert before.reprocess == 0
    assert "unchanged" in render([window], bounded=True)


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_shows_count_share_and_rate_at_intervals():
    out, clock = io.StringIO(), _Clock()
    progress = Progress("backfill", 1000, "files", rate_unit="articles", stream=out, interval_s=1.0, clock=clock)
    clock.now = 0.5
    progress.advance(100, counted=200)  # shown: the first call always is
    clock.now = 0.7
    progress.advance(100, counted=200)  # not shown: within the interval
    clock.now = 2.0
    progress.advance(300, counted=600)
    clock.now = 2.5
    progress.advance(500, counted=1000)  # within the interval: left to finish()
    assert progress.finish() == 2.5
    lines = out.getvalue().splitlines()
    assert lines == [
        "backfill: 100/1,000 files (10%), 400 articles/s",
        "backfill: 500/1,000 files (50%), 500 articles/s",
        "backfill: 1,000/1,000 files (100%), 800 articles/s",
    ]
    progress.finish()  # nothing new: not shown twice
    assert len(out.getvalue().splitlines()) == 3


def test_rate_limiter_paces_to_the_rate_without_an_initial_burst():
    from services.replay.backfill import RateLimiter

    clock = _Clock()
    slept = []

    def sleep(s):
        slept.append(s)
        clock.now += s

    limiter = RateLimiter(50, clock=clock, sleep=sleep)
    for _ in range(101):
        limiter.acquire()
    assert clock.now == pytest.approx(100 / 50)  # 101 acquisitions: the first is free, then 50 a second
    clock.now += 10  # idle for long: at most one second's worth may go at once
    for _ in range(50):
        limiter.acquire()
    before = clock.now
    limiter.acquire()
    assert clock.now - before == pytest.approx(1 / 50)
    with pytest.raises(ValueError):
        RateLimiter(0)
