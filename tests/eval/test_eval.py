"""`newsflow eval` in the test suite: the build fails when cleaning, tagging, duplicates or
stories fall below their targets on our set, the seeds or the extraction benchmark."""
from __future__ import annotations

import ast
import json
import os

import pytest
import yaml

from services.evaluation.scores import PRF, benchmark_scores, page_scores, prf, same_cluster_pairs
from shared.config import Settings
from tests.conftest import SEEDS, TESTDATA, newsflow

SET = os.path.join(os.path.dirname(__file__), "articles.yaml")
STORIES = TESTDATA / "stories" / "giveme5w1h-news-cluster"


def _env():
    return {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}


def test_eval_meets_every_target():
    if not SEEDS.is_dir() or not (TESTDATA / "extraction" / "scrapinghub").is_dir():
        pytest.skip("seeds or the extraction benchmark not found under ../shared")
    done = newsflow("eval", env=_env(), timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "every target met" in done.stdout
    for section in ("== tags on our set", "== boilerplate", "== duplicates and stories", "== seeds", "== HTML extraction"):
        assert f"{section}" in done.stdout
    if STORIES.is_dir():
        assert "== stories on giveme5w1h-news-cluster (383 articles, 69 events, pairwise): ok" in done.stdout


def test_eval_fails_when_stories_fall_below_target(tmp_path):
    """Six reports of two events, all labelled one event: the stories found miss most labelled pairs."""
    if not STORIES.is_dir():
        pytest.skip(f"the same-event story set is not here: {STORIES}")
    by_event: dict[str, list] = {}
    for path in sorted((STORIES / "data").glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        cluster = record["newsCluster"]
        cluster = ast.literal_eval(cluster) if isinstance(cluster, str) else cluster
        by_event.setdefault(cluster["EventId"], []).append(record)
    picked = [r for group in sorted(by_event.values(), key=len, reverse=True)[:2] for r in group[:3]]
    (tmp_path / "data").mkdir()
    for n, record in enumerate(picked):
        record["newsCluster"] = {"EventId": 1, "Event": "one label for two events"}
        (tmp_path / "data" / f"{n}.json").write_text(json.dumps(record), encoding="utf-8")
    done = newsflow("eval", "--no-extraction", "--stories", str(tmp_path), env=_env())
    assert done.returncode == 1, done.stdout
    assert "✗ story pairs F1" in done.stdout and "BELOW TARGET: stories on" in done.stderr


def test_eval_fails_below_target(tmp_path):
    """A taxonomy without the hotline's phrases misses hotline articles: eval must exit 1."""
    taxonomy = yaml.safe_load(Settings().taxonomy_file.read_text())
    taxonomy["topics"]["hotline"]["phrases"] = ["military hotline"]
    taxonomy["topics"]["hotline"].pop("patterns")
    weak = tmp_path / "weak.yaml"
    weak.write_text(yaml.safe_dump(taxonomy))
    no_seeds = tmp_path / "no-seeds"
    no_seeds.mkdir()
    done = newsflow("eval", "--no-extraction", "--taxonomy", str(weak), "--seeds", str(no_seeds), env=_env())
    assert done.returncode == 1, done.stdout
    assert "✗ hotline F1" in done.stdout and "BELOW TARGET" in done.stderr
    assert "hotline: missed hl-channels" in done.stdout


def test_eval_rejects_a_broken_set_with_a_clear_error(tmp_path):
    bad = tmp_path / "set.yaml"
    bad.write_text("articles:\n  - id: a\n    copy_of: nowhere\n")
    done = newsflow("eval", "--no-extraction", "--set", str(bad), env=_env())
    assert done.returncode == 1
    assert "copy_of 'nowhere' must name an earlier entry" in done.stderr and "Traceback" not in done.stderr


def test_our_set_is_large_and_varied_enough():
    data = yaml.safe_load(open(SET, encoding="utf-8"))["articles"]
    assert len(data) >= 60
    tags = [t for e in data for t in e.get("tags", [])]
    assert all(tags.count(t) >= 8 for t in ("taiwan", "balloon", "hotline"))
    assert sum(1 for e in data if "copy_of" in e) >= 8
    assert sum(1 for e in data if e.get("after") or e.get("before") or e.get("inside")) >= 6


def test_prf_and_pairs():
    score = prf({"a", "b", "c"}, {"b", "c", "d", "e"})
    assert (score.tp, score.fp, score.fn) == (2, 2, 1)
    assert score.precision == 0.5 and score.recall == pytest.approx(2 / 3)
    assert score.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert PRF(0, 0, 0).f1 == 1.0
    assert same_cluster_pairs({"a": "s", "b": "s", "c": "s", "d": "t"}) == {
        frozenset("ab"), frozenset("ac"), frozenset("bc")
    }


def test_benchmark_metric_on_hand_counted_pages():
    # 6 tokens -> 3 four-token shingles; the prediction shares the first two and adds one
    tp, fp, fn = page_scores("one two three four five six", "one two three four five seven")
    assert (tp, fp, fn) == pytest.approx((2 / 4, 1 / 4, 1 / 4))
    assert page_scores("same words in both texts", "same words in both texts") == (1.0, 0.0, 0.0)
    p, r, f1 = benchmark_scores([(0.5, 0.25, 0.25), (1.0, 0.0, 0.0), (0.0, 0.0, 1.0)])
    # precision over pages with tp+fp > 0: (2/3 + 1) / 2; recall over all three: (2/3 + 1 + 0) / 3
    assert p == pytest.approx((2 / 3 + 1) / 2) and r == pytest.approx((2 / 3 + 1) / 3)
    assert f1 == pytest.approx(2 * p * r / (p + r))
