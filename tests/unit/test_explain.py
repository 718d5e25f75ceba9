"""`newsflow explain ID`: from an article stored by the real Store, through the real command line."""
from __future__ import annotations

import os

from services.sink.store import open_store
from services.tagger.tag import tag_article
from services.tagger.taxonomy import load_taxonomy
from shared.config import Settings
from shared.schema import Article
from tests.conftest import newsflow

TEXT = (
    "A weather balloon launched by pupils rose to 30 km.\n\n"
    "Separately, the Pentagon said the US-China military hotline was restored. "
    "Call the customer hotline for refunds."
)


def _env():
    return {k: v for k, v in os.environ.items() if not k.startswith("NEWSFLOW_")}


def test_explain_prints_evidence_vetoes_and_missing_context(tmp_path):
    db = f"sqlite:///{tmp_path / 'x.db'}"
    taxonomy = load_taxonomy(Settings().taxonomy_file)
    article = tag_article(Article(id="a1", url="https://example.org/1", source="demo", content=TEXT, text=TEXT,
                                  title="Pentagon restores hotline"), taxonomy)
    store = open_store(db)
    store.upsert([article])
    store.close()
    done = newsflow("explain", "a1", "--db", db, env=_env())
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "stored tags: hotline" in out
    assert "hotline: TAGGED" in out and '+ "hotline", context "Pentagon"  [title @' in out
    assert '+ "military hotline"  [body @96' in out and "hotline: TAGGED (score 3, threshold 1)" in out
    assert '- "hotline" vetoed by "customer hotline"' in out
    assert '- "balloon" vetoed by "weather balloon"' in out and "balloon: not tagged (score 0" in out
    assert "taiwan: not tagged" in out and "no phrase or pattern of this topic" in out


def test_explain_with_another_taxonomy_says_the_verdict_differs(tmp_path):
    db = f"sqlite:///{tmp_path / 'x.db'}"
    taxonomy = load_taxonomy(Settings().taxonomy_file)
    store = open_store(db)
    store.upsert([tag_article(Article(id="a1", url="u", source="s", content=TEXT, text=TEXT), taxonomy)])
    store.close()
    other = tmp_path / "other.yaml"
    other.write_text('version: "x"\ntopics:\n  pupils:\n    threshold: 1\n    phrases: [pupils]\n')
    done = newsflow("explain", "a1", "--db", db, "--taxonomy", str(other), env=_env())
    assert done.returncode == 0, done.stderr
    assert "pupils: TAGGED" in done.stdout and "the stored verdict differs" in done.stdout


def test_explain_unknown_id_and_bad_taxonomy_are_clear_errors(tmp_path):
    db = f"sqlite:///{tmp_path / 'x.db'}"
    done = newsflow("explain", "nope", "--db", db, env=_env())
    assert done.returncode == 1 and "no article with id 'nope'" in done.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ntopics: [\n")
    done = newsflow("explain", "nope", "--db", db, "--taxonomy", str(bad), env=_env())
    assert done.returncode == 1 and "not valid YAML" in done.stderr and "Traceback" not in done.stderr
