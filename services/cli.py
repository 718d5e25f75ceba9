"""The `newsflow` command: one subcommand per job. Flags override NEWSFLOW_* settings."""
from __future__ import annotations

import os
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path

import click
import orjson
from pydantic import ValidationError

from shared.config import Settings, load_settings, redact_url
from shared.pipeline.topology import STAGE_NAMES
from shared.logs import setup_logging

db_option = click.option("--db", "db_url", help="sqlite:///path.db or postgresql://… (NEWSFLOW_DB_URL)")
feeds_option = click.option(
    "--feeds", "feeds_file", type=click.Path(dir_okay=False), help="Feeds file, YAML or OPML (NEWSFLOW_FEEDS_FILE)"
)


def _settings(name: str, **overrides) -> Settings:
    try:
        settings = load_settings(**overrides)
    except ValidationError as exc:
        raise click.ClickException(f"bad setting: {_setting_errors(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - anything else a setting can make pydantic raise
        raise click.ClickException(f"bad setting: {type(exc).__name__}") from None
    setup_logging(settings.log_level, name)
    return settings


def _setting_errors(exc: "ValidationError") -> str:
    """What is wrong, per variable, without the values: pydantic's own message shows the input,
    which may be a password (NEWSFLOW_KAFKA_SASL_PASSWORD, one inside NEWSFLOW_DB_URL)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        where = "NEWSFLOW_" + "_".join(str(part) for part in error["loc"]).upper() if error["loc"] else ""
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)


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
    from services.supervisor.main import worker_names

    settings = _settings("supervisor", feeds_file=feeds_file, db_url=db_url)
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
    """Run the local broker in the foreground: Apache Kafka (log in <data dir>/kafka), else Tansu.

    NEWSFLOW_BROKER=auto|kafka|tansu chooses; port NEWSFLOW_BROKER_PORT (9092).
    """
    from services.broker.main import main

    main(_settings("broker"))


@cli.command()
def topics() -> None:
    """Create the pipeline's missing topics (NEWSFLOW_PARTITIONS each) and list their partitions.

    The one-shot job of docker-compose.yml. A stage runs at most as many busy workers as its
    input topic has partitions; an existing topic with fewer is reported, not changed.
    """
    from services.tagger.taxonomy import load_taxonomy
    from shared.kafka import ensure_topics, partition_counts
    from shared.pipeline.topology import pipeline_topics

    settings = _settings("topics")
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
@click.option("--limit", type=click.IntRange(min=0), help="At most this many")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line")
def articles(db_url, query, tag, source, since, until, limit, as_json) -> None:
    """List stored articles, newest first; with --query, best match first."""
    import time

    from services.sink.search import parse_query, parse_when

    settings = _settings("articles", db_url=db_url)
    now = time.time()
    try:
        if query is not None:
            parse_query(query)  # a search with nothing in it is the user's mistake: say so first
        since_ts = parse_when(since, now) if since else None
        until_ts = parse_when(until, now, end=True) if until else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    store = _open_store(settings.database_url)
    try:
        rows = store.list_articles(
            tag=tag, query=query, since=since_ts, until=until_ts, source=source, limit=limit
        )
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


def _open_store(url: str):
    """The database, or the reason it cannot be opened (its URL shown without the password)."""
    import psycopg

    from services.sink.store import open_store

    try:
        return open_store(url)
    except (ValueError, OSError, sqlite3.Error, psycopg.Error) as exc:
        raise click.ClickException(f"cannot open the database {redact_url(url)}: {exc}") from None


@contextmanager
def _broker_faults():
    """A broker that cannot be reached or times out: the reason, not a traceback."""
    from kafka.errors import KafkaError

    from shared.pipeline.publish import DeliveryFailed

    try:
        yield
    except (KafkaError, TimeoutError, DeliveryFailed) as exc:
        raise click.ClickException(f"the broker failed: {exc}") from None


def _pipeline(name: str):
    """The pipeline a maintenance command works on (services/replay/context.py)."""
    from services.replay.context import NoPipeline, attach

    try:
        return attach(_settings(name))
    except NoPipeline as exc:
        raise click.ClickException(str(exc)) from None


def _millis(text: str | None, option: str) -> int | None:
    """A TIME argument in epoch milliseconds (Kafka's timestamps), read like `articles --since`."""
    import time

    from services.sink.search import parse_when

    if text is None:
        return None
    try:
        return int(parse_when(text, time.time()) * 1000)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


@cli.command()
@click.option("--stage", type=click.Choice(STAGE_NAMES), required=True, help="The stage to move")
@click.option("--from", "from_time", required=True, metavar="TIME", help="2024-05-01T10:00 (UTC unless a zone is given) or back from now: 30m, 2h, 7d")
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
@click.option("--since", metavar="TIME", help="Only articles stored since TIME (2024-05-01, 2024-05-01T10:00, 30m, 2h, 7d)")
@click.option("--dry-run", is_flag=True, help="Print who would gain or lose which tag; change nothing")
@click.option("--timeout", "timeout_s", type=float, default=600.0, show_default=True,
              help="Seconds to wait for the pipeline to store every article again")
def retag(taxonomy_file, since, dry_run, timeout_s) -> None:
    """Retag stored articles under a new taxonomy, through the running tagger and sink."""
    from services.replay.context import NoPipeline, Pipeline, attach
    from services.replay.retag import RetagError, diff, load_new, render_diff, retag as run_retag

    since_ms = _millis(since, "--since")
    settings = _settings("retag")
    try:
        pipeline = attach(settings)
    except NoPipeline as exc:
        if not dry_run:
            raise click.ClickException(str(exc)) from None
        pipeline = Pipeline(settings)  # a dry run needs only the database
    since_s = since_ms / 1000 if since_ms is not None else None
    store = _open_store(pipeline.settings.database_url)
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
stage_option = click.option("--stage", type=click.Choice(STAGE_NAMES), help="Only this stage's letters")


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
    partial = sum(l.partial and not l.replayed for l in letters)
    if partial:
        click.echo(f"{partial} letter(s) of too-large messages keep only their start and were not replayed "
                   "(the whole message is at the letter's topic, partition and offset)")


def _load_taxonomy(path):
    from services.tagger.taxonomy import TaxonomyError, load_taxonomy

    try:
        return load_taxonomy(path)
    except TaxonomyError as exc:
        raise click.ClickException(str(exc)) from None


taxonomy_option = click.option(
    "--taxonomy", "taxonomy_file", type=click.Path(dir_okay=False), help="Taxonomy file (NEWSFLOW_TAXONOMY_FILE)"
)


@cli.command()
@click.argument("article_id")
@db_option
@taxonomy_option
def explain(article_id, db_url, taxonomy_file) -> None:
    """Why a stored article got, or did not get, each tag (from its stored clean text)."""
    from services.tagger.explain import render_explanation

    settings = _settings("explain", db_url=db_url, taxonomy_file=taxonomy_file)
    taxonomy = _load_taxonomy(settings.taxonomy_file)
    store = _open_store(settings.database_url)
    try:
        row = store.get_article(article_id)
    finally:
        store.close()
    if row is None:
        raise click.ClickException(f"no article with id {article_id!r} in {redact_url(settings.database_url)}")
    click.echo(render_explanation(row, taxonomy))


@cli.command(name="eval")
@click.option("--set", "set_file", type=click.Path(exists=True, dir_okay=False),
              help="Labelled set (default: tests/eval/articles.yaml)")
@click.option("--seeds", type=click.Path(exists=True, file_okay=False), help="Seed articles (default: ../shared/seeds)")
@click.option("--extraction", type=click.Path(exists=True, file_okay=False),
              help="ScrapingHub benchmark folder (default: ../shared/testdata/extraction/scrapinghub)")
@click.option("--no-extraction", is_flag=True, help="Skip the HTML extraction benchmark")
@taxonomy_option
@click.option("--details", is_flag=True, help="List every miss, even where the targets are met")
def evaluate(set_file, seeds, extraction, no_extraction, taxonomy_file, details) -> None:
    """Measure cleaning, tagging, duplicates and stories against labelled data; exit 1 below target."""
    from services.evaluation import run as ev
    from services.evaluation.dataset import DatasetError, load_cases
    from shared.config import PROJECT_ROOT

    settings = _settings("eval", taxonomy_file=taxonomy_file)
    taxonomy = _load_taxonomy(settings.taxonomy_file)
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

    report, healthy = stage_status(_settings("status"), endpoints, interval)
    click.echo(report)
    sys.exit(0 if healthy else 1)


@cli.group()
def feeds() -> None:
    """The feeds file and the health of each feed."""


def _feeds_file(feeds_file: str | None) -> "Path":

    return Path(feeds_file) if feeds_file else _settings("feeds").feeds_file


@feeds.command("import")
@click.argument("opml", type=click.Path(dir_okay=False, path_type=str))
@feeds_option
def feeds_import(opml, feeds_file) -> None:
    """Add the feeds of an OPML export (folders included) to the YAML feeds file.

    Feeds already listed (same URL, scheme and host case, utm_* and #fragment aside) are skipped,
    so importing the same file twice adds nothing.
    """

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
