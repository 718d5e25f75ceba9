"""`newsflow feeds import` and `newsflow feeds list`."""
from __future__ import annotations

from pathlib import Path

import click
import orjson

from services.cli_common import feeds_option, settings_for

@click.group()
def feeds() -> None:
    """The feeds file and the health of each feed."""


def _feeds_file(feeds_file: str | None) -> "Path":

    return Path(feeds_file) if feeds_file else settings_for("feeds").feeds_file


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

    settings = settings_for("feeds")
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
