"""The `newsflow` command: one subcommand per job. Flags override NEWSFLOW_* settings."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager

import click
import orjson

from shared.config import Settings, load_settings
from shared.logs import setup_logging

db_option = click.option("--db", "db_url", help="sqlite:///path.db or postgresql://… (NEWSFLOW_DB_URL)")
feeds_option = click.option(
    "--feeds", "feeds_file", type=click.Path(dir_okay=False), help="Feeds file, YAML or OPML (NEWSFLOW_FEEDS_FILE)"
)


def _settings(name: str, **overrides) -> Settings:
    try:
        settings = load_settings(**overrides)
    except Exception as exc:  # pydantic's ValidationError names the variable at fault
        raise click.ClickException(f"bad setting: {exc}") from None
    setup_logging(settings.log_level, name)
    return settings


@click.group()
def cli() -> None:
    """newsflow: a streaming ingest pipeline for news."""


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

    settings = _settings("supervisor", feeds_file=feeds_file, db_url=db_url)
    poll_feeds = bool(feeds_file or os.environ.get("NEWSFLOW_FEEDS_FILE") or not ingest)
    sys.exit(run_supervisor(settings, once=once, ingest=ingest, poll_feeds=poll_feeds))


@cli.command()
@feeds_option
@click.option("--ingest", multiple=True, type=click.Path(exists=True), help="File or folder to ingest (repeatable)")
@click.option("--once", is_flag=True, help="Poll every feed once, then exit")
@click.option("--no-feeds", is_flag=True, help="Poll no feed (only ingest files)")
def poller(feeds_file, ingest, once, no_feeds) -> None:
    """Poll feeds and ingest files into news.raw."""
    from services.poller.main import main

    main(_settings("poller", feeds_file=feeds_file), once=once, ingest=ingest, poll_feeds=not no_feeds)


@cli.command()
def cleaner() -> None:
    """Clean raw articles: news.raw -> news.clean."""
    from services.cleaner.app import main

    main(_settings("cleaner"))


@cli.command()
def tagger() -> None:
    """Tag and route: news.clean -> news.tagged and news.topic.<tag>."""
    from services.tagger.app import main

    main(_settings("tagger"))


@cli.command()
@db_option
def sink(db_url) -> None:
    """Store tagged articles: news.tagged -> database."""
    from services.sink.main import main

    main(_settings("sink", db_url=db_url))


@cli.command()
def broker() -> None:
    """Run the local Kafka-protocol broker (Tansu, memory-only) in the foreground."""
    from services.broker.main import main

    main(_settings("broker"))


@cli.command()
@db_option
@click.option("--tag", help="Only articles with this tag")
@click.option("--limit", type=int, help="At most this many")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line")
def articles(db_url, tag, limit, as_json) -> None:
    """List stored articles, newest first."""
    from services.sink.store import open_store

    settings = _settings("articles", db_url=db_url)
    store = open_store(settings.database_url)
    try:
        rows = store.list_articles(tag=tag, limit=limit)
    finally:
        store.close()
    out = sys.stdout
    for row in rows:
        if as_json:
            out.write(orjson.dumps(row, default=str).decode() + "\n")
        else:
            when = (row["published_at"] or "")[:10].ljust(10)
            tags = ",".join(row["tags"]) or "-"
            out.write(f"{when}  {tags:<24}  {row['title'] or '(no title)'}  [{row['source']}]\n")
    if not as_json:
        out.write(f"{len(rows)} article(s)\n")


@contextmanager
def _broker_faults():
    """A broker that cannot be reached or times out: the reason, not a traceback."""
    from kafka.errors import KafkaError

    try:
        yield
    except (KafkaError, TimeoutError) as exc:
        raise click.ClickException(f"the broker failed: {exc}") from None


def _pipeline(name: str):
    """The pipeline a maintenance command works on (services/replay/context.py)."""
    from services.replay.context import NoPipeline, attach

    try:
        return attach(_settings(name))
    except NoPipeline as exc:
        raise click.ClickException(str(exc)) from None


def _millis(text: str | None, option: str) -> int | None:
    from services.replay.times import BadTime, parse_time, to_millis

    if text is None:
        return None
    try:
        return to_millis(parse_time(text))
    except BadTime as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


@cli.command()
@click.option("--stage", type=click.Choice(["cleaner", "tagger", "sink"]), required=True, help="The stage to move")
@click.option("--from", "from_time", required=True, metavar="TIME", help="ISO 8601 or relative: 30m, 2h, 7d")
@click.option("--to", "to_time", metavar="TIME", help="Reprocess only up to this time; the stage stays where it is")
@click.option("--execute", is_flag=True, help="Carry out the plan (without it, only print it)")
def replay(stage, from_time, to_time, execute) -> None:
    """Process a stage's input again from a point in time (a plan unless --execute)."""
    from services.replay.replay import Refused, replay as run_replay

    from_ms, to_ms = _millis(from_time, "--from"), _millis(to_time, "--to")
    pipeline = _pipeline("replay")
    try:
        with _broker_faults():
            run_replay(pipeline, stage, from_ms, to_ms, execute, click.echo)
    except Refused as exc:
        raise click.ClickException(f"refused: {exc}") from None


@cli.command()
@click.option("--taxonomy", "taxonomy_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The new taxonomy file")
@click.option("--since", metavar="TIME", help="Only articles stored since TIME (ISO 8601 or 30m, 2h, 7d)")
@click.option("--dry-run", is_flag=True, help="Print who would gain or lose which tag; change nothing")
@click.option("--timeout", "timeout_s", type=float, default=600.0, show_default=True,
              help="Seconds to wait for the pipeline to store every article again")
def retag(taxonomy_file, since, dry_run, timeout_s) -> None:
    """Retag stored articles under a new taxonomy, through the running tagger and sink."""
    from pathlib import Path

    from services.replay.context import NoPipeline, Pipeline, attach
    from services.replay.retag import RetagError, diff, load_new, render_diff, retag as run_retag
    from services.sink.store import open_store

    since_ms = _millis(since, "--since")
    settings = _settings("retag")
    try:
        pipeline = attach(settings)
    except NoPipeline as exc:
        if not dry_run:
            raise click.ClickException(str(exc)) from None
        pipeline = Pipeline(settings)  # a dry run needs only the database
    since_s = since_ms / 1000 if since_ms is not None else None
    store = open_store(pipeline.settings.database_url)
    try:
        before = store.count()
        if dry_run:
            new = load_new(Path(taxonomy_file))
            result = diff(store, new, since_s)
            click.echo(f"retag dry run under taxonomy {new.version}: {result.checked} stored article(s) in the window")
            click.echo(render_diff(result))
            click.echo("dry run: nothing was changed")
            return
        with _broker_faults():
            result = run_retag(pipeline, store, Path(taxonomy_file), since_s, timeout_s, click.echo)
        per_tag = ", ".join(f"{t} +{g} -{l}" for t, (g, l) in result.per_tag().items()) or "no tag changed"
        click.echo(f"retagged {result.checked} article(s): {per_tag}; stored articles {before} before, {store.count()} after")
    except RetagError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="At most this many articles per second")
def backfill(paths, rate) -> None:
    """Publish archived files and folders (text, HTML, JSON lines, saved feeds) as raw articles."""
    from pathlib import Path

    from services.replay.backfill import backfill as run_backfill

    pipeline = _pipeline("backfill")
    with _broker_faults():
        result = run_backfill(pipeline.settings, [Path(p) for p in paths], rate)
    click.echo(
        f"published {result.articles:,} article(s) from {result.files:,} file(s) to {pipeline.settings.raw_topic} "
        f"in {result.seconds:.1f} s ({result.rate:,.0f} articles/s); {len(result.errors)} could not be read"
    )
    for error in result.errors[:20]:
        click.echo(f"  {error}", err=True)
    if len(result.errors) > 20:
        click.echo(f"  ... and {len(result.errors) - 20} more", err=True)


@cli.group()
def dlq() -> None:
    """Dead letters: what a stage could not handle, and sending it back after a fix."""


reason_option = click.option("--reason", help="Only letters whose reason contains this (any case), e.g. not_json")
stage_option = click.option("--stage", type=click.Choice(["cleaner", "tagger", "sink"]), help="Only this stage's letters")


@dlq.command("list")
@reason_option
@stage_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per letter, with its original")
def dlq_list(reason, stage, as_json) -> None:
    """List dead letters: when, stage, reason, where from, and whether replayed."""
    from services.replay import dlq as dead

    pipeline = _pipeline("dlq")
    with _broker_faults():
        letters = dead.select(dead.read_letters(pipeline.settings), reason, stage)
    if as_json:
        for letter in letters:
            click.echo(orjson.dumps(letter.as_json()).decode())
    else:
        click.echo(dead.render(letters))


@dlq.command("replay")
@reason_option
@stage_option
def dlq_replay(reason, stage) -> None:
    """Send dead letters back to their stage's input topic; each letter is replayed once."""
    from services.replay import dlq as dead

    pipeline = _pipeline("dlq")
    with _broker_faults():
        letters = dead.select(dead.read_letters(pipeline.settings), reason, stage)
        earlier = sum(l.replayed for l in letters)
        sent = dead.replay(pipeline.settings, letters)
    where = ", ".join(f"{n} to {topic}" for topic, n in sorted(sent.items())) or "none"
    click.echo(f"replayed {sum(sent.values())} dead letter(s): {where}; {earlier} replayed before were left alone")


def main() -> None:
    cli(prog_name="newsflow")


if __name__ == "__main__":
    main()
