"""The `newsflow` command: one subcommand per job. Flags override NEWSFLOW_* settings."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import orjson

from services.cli_common import (
    db_option, feeds_option, load_taxonomy_or_fail, open_store_or_fail, settings_for, taxonomy_option,
)
from services.cli_feeds import feeds
from services.cli_history import backfill, dlq, replay, retag
from shared.config import Settings, redact_url
from shared.procs import give_back_large_blocks, stacks_on_signal


@click.group()
def cli() -> None:
    """newsflow: a streaming ingest pipeline for news."""
    give_back_large_blocks()  # services run for months: what they free goes back (shared/procs.py)
    stacks_on_signal()


@cli.command()
@feeds_option
@db_option
@click.option("--ingest", multiple=True, type=click.Path(exists=True), help="File or folder to ingest (repeatable)")
@click.option("--once", is_flag=True, help="Poll and ingest once, wait until everything is stored, then stop")
def run(feeds_file, db_url, ingest, once) -> None:
    """Run the whole pipeline (starts a local broker unless NEWSFLOW_KAFKA_BOOTSTRAP is set).

    With --ingest and neither --feeds nor NEWSFLOW_FEEDS_FILE, only the files are ingested.
    """
    from services.supervisor.main import run as run_supervisor
    from services.supervisor.main import worker_names

    settings = settings_for("supervisor", feeds_file=feeds_file, db_url=db_url)
    try:
        worker_names(settings)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    poll_feeds = bool(feeds_file or os.environ.get("NEWSFLOW_FEEDS_FILE") or not ingest)
    if poll_feeds:
        _check_feeds_file(settings)
    _check_taxonomy_file(settings)
    sys.exit(run_supervisor(settings, once=once, ingest=ingest, poll_feeds=poll_feeds))


@cli.command()
@feeds_option
@click.option("--ingest", multiple=True, type=click.Path(exists=True), help="File or folder to ingest (repeatable)")
@click.option("--once", is_flag=True, help="Poll every feed once, then exit")
@click.option("--no-feeds", is_flag=True, help="Poll no feed (only ingest files)")
def poller(feeds_file, ingest, once, no_feeds) -> None:
    """Poll feeds and ingest files into news.raw."""
    from services.poller.main import main

    settings = settings_for("poller", feeds_file=feeds_file)
    if not no_feeds:
        _check_feeds_file(settings)
    main(settings, once=once, ingest=ingest, poll_feeds=not no_feeds)


def _check_feeds_file(settings: Settings) -> None:
    """A feeds file that cannot be read is the user's to fix: say why now, not after restarts."""
    from services.poller.feeds import FeedsFileError, load_feeds

    try:
        load_feeds(settings.feeds_file)
    except FeedsFileError as exc:
        raise click.ClickException(str(exc)) from None


def _check_taxonomy_file(settings: Settings) -> None:
    """As the feeds file: the file, the entry and the reason, before anything starts."""
    from services.tagger.taxonomy import TaxonomyError, load_taxonomy

    try:
        load_taxonomy(settings.taxonomy_file)
    except TaxonomyError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
def cleaner() -> None:
    """Clean raw articles: news.raw -> news.clean."""
    from services.cleaner.app import main

    main(settings_for("cleaner"))


@cli.command()
def tagger() -> None:
    """Tag and route: news.clean -> news.tagged and news.topic.<tag>."""
    from services.tagger.app import main

    main(settings_for("tagger"))


@cli.command()
@db_option
def sink(db_url) -> None:
    """Store tagged articles: news.tagged -> database."""
    from services.sink.main import main

    main(settings_for("sink", db_url=db_url))


@cli.command()
def broker() -> None:
    """Run the local broker in the foreground: Apache Kafka (log in <data dir>/kafka), else Tansu.

    NEWSFLOW_BROKER=auto|kafka|tansu chooses; port NEWSFLOW_BROKER_PORT (9092).
    """
    from services.broker.main import main

    main(settings_for("broker"))


@cli.command()
def topics() -> None:
    """Create the pipeline's missing topics (NEWSFLOW_PARTITIONS each) and list their partitions.

    The one-shot job of docker-compose.yml. A stage runs at most as many busy workers as its
    input topic has partitions; an existing topic with fewer is reported, not changed.
    """
    from services.tagger.taxonomy import load_taxonomy
    from shared.kafka import ensure_topics, partition_counts
    from shared.pipeline.topology import pipeline_topics

    settings = settings_for("topics")
    if not settings.kafka_bootstrap:
        raise click.ClickException("NEWSFLOW_KAFKA_BOOTSTRAP is not set: which broker? (`newsflow run` makes its own)")
    names = pipeline_topics(settings, [t.name for t in load_taxonomy(settings.taxonomy_file).topics])
    created = set(ensure_topics(settings, names))
    fewer = []
    for name, count in partition_counts(settings, names).items():
        click.echo(f"{name:<32} {count:>3} partitions{'  (created)' if name in created else ''}")
        if count < settings.partitions:
            fewer.append(name)
    for name in fewer:
        click.echo(
            f"note: {name} has fewer partitions than NEWSFLOW_PARTITIONS={settings.partitions}; on Apache Kafka: "
            f"kafka-topics.sh --alter --topic {name} --partitions {settings.partitions}", err=True,
        )


@cli.command()
@db_option
@click.option("--query", "-q", help='Full-text search: words, "phrases", -excluded (every word required)')
@click.option("--tag", help="Only articles with this tag")
@click.option("--source", help="Only articles from this source (a feed's name; `file` for ingested files)")
@click.option("--since", help="Published (or, undated, stored) at or after: 2024-05-01, 2024-05-01T12:00, 36h, 7d")
@click.option("--until", help="Published (or stored) before; a bare date includes that whole day")
@click.option("--story", help="Only the articles of this story (an id from `newsflow stories`)")
@click.option("--limit", type=click.IntRange(min=0), help="At most this many")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line")
def articles(db_url, query, tag, source, since, until, story, limit, as_json) -> None:
    """List stored articles, newest first; with --query, best match first."""
    import time

    from services.sink.search import parse_query
    from shared.times import parse_when

    settings = settings_for("articles", db_url=db_url)
    now = time.time()
    try:
        if query is not None:
            parse_query(query)  # a search with nothing in it is the user's mistake: say so first
        since_ts = parse_when(since, now) if since else None
        until_ts = parse_when(until, now, end=True) if until else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    store = open_store_or_fail(settings.database_url)
    try:
        rows = store.list_articles(
            tag=tag, query=query, since=since_ts, until=until_ts, source=source, story=story, limit=limit
        )
    finally:
        store.close()
    out = sys.stdout
    for row in rows:
        if as_json:
            out.write(orjson.dumps(row, default=str).decode() + "\n")
        else:
            when = (row.published_at or "")[:10].ljust(10)
            tags = ",".join(row.tags) or "-"
            out.write(f"{when}  {tags:<24}  {row.title or '(no title)'}  [{row.source}]\n")
    if not as_json:
        out.write(f"{len(rows)} article(s)\n")


@cli.command()
@db_option
@click.option("--since", help="Stories with an article published (or stored) since: 2024-05-01, 36h, 7d")
@click.option("--tag", help="Only stories with an article carrying this tag")
@click.option("--min-size", type=click.IntRange(min=1), default=1, show_default=True, help="At least this many articles")
@click.option("--limit", type=click.IntRange(min=0), help="At most this many stories")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per story and line")
@click.option("--regroup", is_flag=True, help="Decide every stored article's story again under the rule as it is now")
@click.option("--dry-run", is_flag=True, help="With --regroup: show what would change, change nothing")
def stories(db_url, since, tag, min_size, limit, as_json, regroup, dry_run) -> None:
    """List stories (one event's reports from every outlet), the latest first."""
    import time

    from shared.times import parse_when

    settings = settings_for("stories", db_url=db_url)
    if dry_run and not regroup:
        raise click.UsageError("--dry-run goes with --regroup")
    if regroup:
        _regroup(settings, dry_run)
        return
    try:
        since_ts = parse_when(since, time.time()) if since else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    store = open_store_or_fail(settings.database_url)
    try:
        found = store.list_stories(since=since_ts, tag=tag, min_size=min_size, limit=limit)
    finally:
        store.close()
    out = sys.stdout
    for story in found:
        if as_json:
            out.write(orjson.dumps(story.to_json()).decode() + "\n")
            continue
        span = f"{_day(story.first_at)} – {_day(story.last_at)}" if _day(story.first_at) != _day(story.last_at) else _day(story.first_at)
        out.write(f"{story.story_id}  {story.size} article(s), {len(story.outlets)} outlet(s), {span}\n")
        out.write(f"    outlets: {', '.join(story.outlets)}\n")
        for m in story.articles:
            copy = f"  (copy of {m.duplicate_of})" if m.duplicate_of else ""
            out.write(f"    {(m.published_at or '')[:10]:<10}  {m.source[:24]:<24}  {m.title or '(no title)'}{copy}\n")
    if not as_json:
        out.write(f"{len(found)} stor{'y' if len(found) == 1 else 'ies'}\n")


def _regroup(settings: Settings, dry_run: bool) -> None:
    store = open_store_or_fail(settings.database_url)
    try:
        click.echo("reading every indexed article and grouping it again…", err=True)
        plan = store.regroup_stories(write=not dry_run)
        titles = {r.id: r.title for r in store.list_articles(limit=None)} if plan.moved else {}
    finally:
        store.close()
    s = plan.summary()
    click.echo(f"{s['articles']} articles: {s['moved']} change story; stories {s['stories_before']} -> "
               f"{s['stories_after']}, of two articles or more {s['multi_before']} -> {s['multi_after']}")
    for article_id in plan.moved[:20]:
        click.echo(f"  {article_id}  {plan.was[article_id]} -> {plan.story_of[article_id]}  {titles.get(article_id) or ''}")
    if len(plan.moved) > 20:
        click.echo(f"  … and {len(plan.moved) - 20} more")
    click.echo("dry run: nothing changed" if dry_run else "stored")


def _day(epoch: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d")


@cli.command()
@click.argument("article_id")
@db_option
@taxonomy_option
def explain(article_id, db_url, taxonomy_file) -> None:
    """Why a stored article got, or did not get, each tag (from its stored clean text)."""
    from services.tagger.explain import render_explanation

    settings = settings_for("explain", db_url=db_url, taxonomy_file=taxonomy_file)
    taxonomy = load_taxonomy_or_fail(settings.taxonomy_file)
    store = open_store_or_fail(settings.database_url)
    try:
        row = store.get_article(article_id)
    finally:
        store.close()
    if row is None:
        raise click.ClickException(f"no article with id {article_id!r} in {redact_url(settings.database_url)}")
    click.echo(render_explanation(row.as_article(), taxonomy))


@cli.command(name="eval")
@click.option("--set", "set_file", type=click.Path(exists=True, dir_okay=False),
              help="Labelled set (default: tests/eval/articles.yaml)")
@click.option("--seeds", type=click.Path(exists=True, file_okay=False), help="Seed articles (default: ../shared/seeds)")
@click.option("--extraction", type=click.Path(exists=True, file_okay=False),
              help="ScrapingHub benchmark folder (default: ../shared/testdata/extraction/scrapinghub)")
@click.option("--no-extraction", is_flag=True, help="Skip the HTML extraction benchmark")
@click.option("--stories", "story_set", type=click.Path(exists=True, file_okay=False),
              help="Same-event set (default: ../shared/testdata/stories/giveme5w1h-news-cluster)")
@taxonomy_option
@click.option("--details", is_flag=True, help="List every miss, even where the targets are met")
def evaluate(set_file, seeds, extraction, no_extraction, story_set, taxonomy_file, details) -> None:
    """Measure cleaning, tagging, duplicates and stories against labelled data; exit 1 below target."""
    from services.evaluation import run as ev
    from services.evaluation.dataset import DatasetError, load_cases
    from shared.config import PROJECT_ROOT

    settings = settings_for("eval", taxonomy_file=taxonomy_file)
    taxonomy = load_taxonomy_or_fail(settings.taxonomy_file)
    data = PROJECT_ROOT.parent / "shared"
    sections = []
    set_path = Path(set_file or PROJECT_ROOT / "tests" / "eval" / "articles.yaml")
    try:
        cases = load_cases(set_path)
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"our set: {len(cases)} articles from {set_path}", err=True)
    sections += ev.evaluate_set(cases, taxonomy)
    seeds_path = Path(seeds) if seeds else data / "seeds"
    if seeds_path.is_dir():
        sections.append(ev.evaluate_seeds(seeds_path, taxonomy))
    else:
        click.echo(f"seeds skipped: {seeds_path} not found", err=True)
    stories_path = Path(story_set) if story_set else data / "testdata" / "stories" / "giveme5w1h-news-cluster"
    if (stories_path / "data").is_dir():
        from services.evaluation.stories import evaluate_stories

        sections.append(evaluate_stories(stories_path, taxonomy))
    else:
        click.echo(f"stories skipped: no data/ in {stories_path}", err=True)
    bench = Path(extraction) if extraction else data / "testdata" / "extraction" / "scrapinghub"
    if no_extraction:
        pass
    elif (bench / "ground-truth.json").is_file():
        def progress(n, total):
            if n % 20 == 0 or n == total:
                click.echo(f"extraction: {n}/{total} pages", err=True)

        sections.append(ev.evaluate_extraction(bench, progress))
    else:
        click.echo(f"extraction skipped: no ground-truth.json in {bench}", err=True)
    click.echo(ev.render(sections, details))
    failing = [s.title for s in sections if not s.ok]
    if failing:
        click.echo(f"BELOW TARGET: {'; '.join(failing)}", err=True)
        sys.exit(1)
    click.echo("every target met")


@cli.command()
@click.option("--endpoint", "endpoints", multiple=True, metavar="[NAME=]URL",
              help="A /metrics to read (repeatable), e.g. cleaner=http://host:9302/metrics or host:9302")
@click.option("--interval", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Seconds between the two scrapes the rates come from (0: one scrape, no rates)")
def status(endpoints, interval) -> None:
    """One line per stage (rate, lag, last error) and the failing feeds, from the metrics endpoints.

    Without --endpoint it reads where `newsflow run` put them (endpoints.json in the data
    dir), else tries the ports NEWSFLOW_METRICS_BASE_PORT+1 to +4. Exits 1 when a stage
    has no process that answers.
    """
    from services.status.main import status as stage_status

    report, healthy = stage_status(settings_for("status"), endpoints, interval)
    click.echo(report)
    sys.exit(0 if healthy else 1)


for command in (replay, retag, backfill, dlq, feeds):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="newsflow")


if __name__ == "__main__":
    main()
