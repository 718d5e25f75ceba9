"""The `newsflow` command: one subcommand per job. Flags override NEWSFLOW_* settings."""
from __future__ import annotations

import os
import sys

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
    if poll_feeds:
        _check_feeds_file(settings)
    sys.exit(run_supervisor(settings, once=once, ingest=ingest, poll_feeds=poll_feeds))


@cli.command()
@feeds_option
@click.option("--ingest", multiple=True, type=click.Path(exists=True), help="File or folder to ingest (repeatable)")
@click.option("--once", is_flag=True, help="Poll every feed once, then exit")
@click.option("--no-feeds", is_flag=True, help="Poll no feed (only ingest files)")
def poller(feeds_file, ingest, once, no_feeds) -> None:
    """Poll feeds and ingest files into news.raw."""
    from services.poller.main import main

    settings = _settings("poller", feeds_file=feeds_file)
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


@cli.group()
def feeds() -> None:
    """The feeds file and the health of each feed."""


def _feeds_file(feeds_file: str | None) -> "Path":
    from pathlib import Path

    return Path(feeds_file) if feeds_file else _settings("feeds").feeds_file


@feeds.command("import")
@click.argument("opml", type=click.Path(dir_okay=False, path_type=str))
@feeds_option
def feeds_import(opml, feeds_file) -> None:
    """Add the feeds of an OPML export (folders included) to the YAML feeds file.

    Feeds already listed (same URL, scheme and host case, utm_* and #fragment aside) are skipped,
    so importing the same file twice adds nothing.
    """
    from pathlib import Path

    from services.poller.feeds import FeedsFileError
    from services.poller.feedsfile import import_opml
    from shared.config import SAMPLES

    target = _feeds_file(feeds_file)
    if target.resolve() == (SAMPLES / "feeds.yaml").resolve() and not feeds_file:
        raise click.ClickException(
            f"the feeds file is the bundled demo ({target}); choose yours with --feeds FILE.yaml "
            "or NEWSFLOW_FEEDS_FILE"
        )
    try:
        done = import_opml(Path(opml), target)
    except FeedsFileError as exc:
        raise click.ClickException(str(exc)) from None
    for feed in done.added:
        click.echo(f"  + {feed.name}  {feed.url}" + (f"  [{feed.folder}]" if feed.folder else ""))
    click.echo(f"added {len(done.added)} feed(s) to {target}; {done.already} already there"
               + (f", {done.repeated} listed twice in {opml}" if done.repeated else ""))


@feeds.command("list")
@feeds_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per feed and line")
def feeds_list(feeds_file, as_json) -> None:
    """Each feed's health: state, last success, last error, error count, next poll, validators.

    Read from the poller's state database (<data dir>/poller.db); a running poller is not disturbed.
    """
    import time

    from services.poller.feeds import FeedsFileError, load_feeds
    from services.poller.feedsfile import feed_health, format_table

    settings = _settings("feeds")
    target = _feeds_file(feeds_file)
    try:
        listed = load_feeds(target)
    except FeedsFileError as exc:
        raise click.ClickException(str(exc)) from None
    rows = feed_health(listed, settings.data_dir / "poller.db")
    if as_json:
        for row in rows:
            click.echo(orjson.dumps(row).decode())
        return
    click.echo(format_table(rows, time.time()))
    failing = sum(1 for r in rows if r["state"] == "failing")
    click.echo(f"{len(rows)} feed(s) in {target}; {failing} failing; state from {settings.data_dir / 'poller.db'}")


def main() -> None:
    cli(prog_name="newsflow")


if __name__ == "__main__":
    main()
