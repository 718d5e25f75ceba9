"""`newsflow replay`, `retag`, `backfill` and `dlq`: the commands that work on the pipeline's
history, attached to a running `newsflow run` or to NEWSFLOW_KAFKA_BOOTSTRAP."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import click
import orjson

from services.cli_common import open_store_or_fail, settings_for
from shared.pipeline.topology import STAGE_NAMES

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
        return attach(settings_for(name))
    except NoPipeline as exc:
        raise click.ClickException(str(exc)) from None


def _millis(text: str | None, option: str) -> int | None:
    """A TIME argument in epoch milliseconds (Kafka's timestamps), read like `articles --since`."""
    import time

    from shared.times import parse_when

    if text is None:
        return None
    try:
        return int(parse_when(text, time.time()) * 1000)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


@click.command()
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


@click.command()
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
    settings = settings_for("retag")
    try:
        pipeline = attach(settings)
    except NoPipeline as exc:
        if not dry_run:
            raise click.ClickException(str(exc)) from None
        pipeline = Pipeline(settings)  # a dry run needs only the database
    since_s = since_ms / 1000 if since_ms is not None else None
    store = open_store_or_fail(pipeline.settings.database_url)
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


@click.command()
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


@click.group()
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
