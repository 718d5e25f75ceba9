"""Benchmark: the cost per article of the sink's duplicate/story step (services/sink/dedup*.py).

Articles are generated here: 250 words drawn with a Zipf law from wordfreq's 20,000 commonest
English words, plus a few made-up names per story; 10% are exact copies of an earlier article,
10% near copies (a few words changed and a credit line), 10% rewrites (the same names, other
words). Measured: the pure signature per article; for the first 1,000 articles stored and the
last 5,000, so that growth with the index shows, the story work alone (wall time) and the whole
Store.upsert's CPU (issue 15's target: the last within 1.2x of the first); the whole upsert per
article in batches of the sink's size, on SQLite (and PostgreSQL with --db), against the same
upsert of articles that were already stored (no decision, the replay path). Last, a starting
sink's memory over the n stored articles (bench/_sink_memory.py: a process of its own loads the
key index and stores one batch more; issue 15's target is under 200 MB at 100,000).

    .venv/bin/python -m bench.dedup [--articles 20000] [--db URL]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import subprocess
import sys
import tempfile
import time

from wordfreq import top_n_list

from services.sink.dedup import signature
from services.sink.store import open_store
from shared.schema import Article, encode

BATCH = 250  # the sink's default batch (NEWSFLOW_SINK_BATCH_SIZE)


def generate(n: int, seed: int = 11) -> list[Article]:
    rng = random.Random(seed)
    vocab = top_n_list("en", 20000)
    weights = [1 / (rank + 1) for rank in range(len(vocab))]
    syllables = "ka lo mi ren tas vo gar shi pel dun mar tev or".split()
    out: list[Article] = []
    for i in range(n):
        roll = rng.random()
        if out and roll < 0.1:
            text = rng.choice(out).text
        elif out and roll < 0.2:
            words = rng.choice(out).text.split()
            for _ in range(4):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            text = " ".join(words) + " (Reporting by the wire desk)"
        else:
            names = ["".join(rng.choice(syllables) for _ in range(3)).title() for _ in range(4)]
            if out and roll < 0.3:
                names = [w for w in rng.choice(out).text.split() if w.istitle()][:4] or names
            words = rng.choices(vocab, weights, k=250)
            for name in names * 2:
                words[rng.randrange(len(words))] = name
            text = " ".join(words) + "."
        day = 19_700 + i * 7 // n  # a week of news
        out.append(Article(id=f"b{i}", url=f"https://bench.example/{i}", source="bench", content=text, text=text,
                           language="en", published_at=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(day * 86400))))
    return out


def run(args=None) -> dict:
    n = getattr(args, "articles", None) or 20000
    articles = generate(n)
    started = time.perf_counter()
    for a in articles[:2000]:
        signature(a.title, a.text, a.language, 0)
    signature_ms = (time.perf_counter() - started) / 2000 * 1000
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(getattr(args, "db", None) or f"sqlite:///{tmp}/bench.db")
        totals = {"exact": 0, "near": 0, "joined": 0, "new": 0, "formed": 0}
        # the first 1,000 articles stored and the last 5,000: story work (wall) and the whole upsert (CPU)
        story_s, cpu_s = {"first": 0.0, "last": 0.0}, {"first": 0.0, "last": 0.0}
        started = time.perf_counter()
        for i in range(0, n, BATCH):
            cpu = time.process_time()
            r = store.upsert(articles[i:i + BATCH])
            cpu = time.process_time() - cpu
            for kind, value in (("exact", r.exact_duplicates), ("near", r.near_duplicates),
                                ("joined", r.stories_joined), ("new", r.stories_new), ("formed", r.stories_formed)):
                totals[kind] += value
            for part, inside in (("first", i < 1000), ("last", i >= n - 5000)):
                if inside:
                    story_s[part] += r.story_seconds
                    cpu_s[part] += cpu
        upsert_ms = (time.perf_counter() - started) / n * 1000
        started = time.perf_counter()
        for i in range(0, min(n, 5000), BATCH):
            store.upsert(articles[i:i + BATCH])
        replay_ms = (time.perf_counter() - started) / min(n, 5000) * 1000
        store.close()
        first_batch = [dataclasses.replace(a, id=f"s{a.id}", url=f"{a.url}/s")  # not stored yet
                       for a in generate(BATCH, seed=12)]  # other stories, over the same week
        starting_sink = _starting_sink(getattr(args, "db", None) or f"sqlite:///{tmp}/bench.db", first_batch, tmp)
    first, last = min(n, 1000), min(n, 5000)
    return {
        "broker": "none",  # the database alone
        "dedup_articles": n,
        "dedup_signature_ms_per_article": round(signature_ms, 3),
        "dedup_upsert_ms_per_article": round(upsert_ms, 3),
        "dedup_replay_upsert_ms_per_article": round(replay_ms, 3),
        # the story work alone (candidates, similarities, grouping, their rows), per article
        "story_ms_per_article_first_1000": round(story_s["first"] / first * 1000, 3),
        "story_ms_per_article_last_5000": round(story_s["last"] / last * 1000, 3),
        # the whole upsert's CPU (this process: the sink's own share of SQLite's work included)
        "upsert_cpu_ms_per_article_first_1000": round(cpu_s["first"] / first * 1000, 3),
        "upsert_cpu_ms_per_article_last_5000": round(cpu_s["last"] / last * 1000, 3),
        "upsert_cpu_last_over_first": round((cpu_s["last"] / last) / (cpu_s["first"] / first), 2),
        "dedup_found": totals,
        **starting_sink,
    }


def _starting_sink(db_url: str, batch: list[Article], tmp: str) -> dict:
    """bench/_sink_memory.py's figures for a sink starting over what is stored."""
    path = f"{tmp}/first-batch.jsonl"
    with open(path, "wb") as out:
        out.writelines(encode(a) + b"\n" for a in batch)
    done = subprocess.run([sys.executable, "-m", "bench._sink_memory", db_url, path],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20000)
    parser.add_argument("--db", help="database URL (default: a temporary SQLite)")
    print(json.dumps(run(parser.parse_args()), indent=2))
