"""The story rule (services/sink/stories.py) on hand-made similarities."""
from __future__ import annotations

import random

from services.sink import stories
from services.sink.stories import LINK_THRESHOLD, PAIR_THRESHOLD, STORY_THRESHOLD, group


def test_two_lone_articles_need_the_pair_threshold():
    days = {"a": 0, "b": 0}
    assert group(days, {("a", "b"): PAIR_THRESHOLD - 0.01}) == {"a": "a", "b": "b"}
    assert group(days, {("a", "b"): PAIR_THRESHOLD}) == {"a": "a", "b": "a"}


def test_a_story_takes_in_an_article_like_it_as_a_whole():
    days = {"a": 0, "b": 0, "c": 0}
    edges = {("a", "b"): 0.5, ("a", "c"): LINK_THRESHOLD, ("b", "c"): 2 * STORY_THRESHOLD - LINK_THRESHOLD}
    assert set(group(days, edges).values()) == {"a"}
    # the same average without a single linked pair: c stays alone
    unlinked = {("a", "b"): 0.5, ("a", "c"): STORY_THRESHOLD + 0.005, ("b", "c"): STORY_THRESHOLD + 0.005}
    assert group(days, unlinked)["c"] == "c"


def test_an_average_under_the_threshold_keeps_groups_apart():
    days = {"a": 0, "b": 0, "c": 0, "d": 0}
    edges = {("a", "b"): 0.6, ("c", "d"): 0.6, ("a", "c"): 0.25}  # one bridge, three pairs without an edge
    assert 0.25 / 4 < STORY_THRESHOLD
    assert group(days, edges) == {"a": "a", "b": "a", "c": "c", "d": "c"}


def test_a_story_is_named_by_its_earliest_article():
    days = {"x": 5, "y": 3, "z": 3}
    edges = {("x", "y"): 0.9, ("x", "z"): 0.9, ("y", "z"): 0.9}
    assert set(group(days, edges).values()) == {"y"}  # day 3, and "y" < "z"


def test_the_grouping_does_not_depend_on_the_order_of_its_input():
    rng = random.Random(7)
    ids = [f"n{i:02d}" for i in range(40)]
    days = {i: rng.randrange(5) for i in ids}
    edges = {(a, b): round(rng.random() * 0.6, 3) for a in ids for b in ids if a < b and rng.random() < 0.15}
    expected = group(days, edges)
    assert len(set(expected.values())) not in (1, len(ids))  # something grouped, not everything
    for _ in range(5):
        shuffled_ids = ids[:]
        rng.shuffle(shuffled_ids)
        items = list(edges.items())
        rng.shuffle(items)
        flipped = {((b, a) if rng.random() < 0.5 else (a, b)): s for (a, b), s in items}
        assert group({i: days[i] for i in shuffled_ids}, flipped) == expected


def test_neighbourhoods_follow_links_only():
    edges = {("a", "b"): LINK_THRESHOLD, ("b", "c"): LINK_THRESHOLD - 0.01, ("c", "d"): 0.5}
    assert stories.neighbourhoods("abcd", edges) == [["a", "b"], ["c", "d"]]
