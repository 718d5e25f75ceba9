"""What the `newsflow` subcommands share: settings from NEWSFLOW_* with clear errors, and
the options several commands take."""
from __future__ import annotations

import sqlite3

import click
from pydantic import ValidationError

from shared.config import Settings, load_settings, redact_url
from shared.logs import setup_logging

db_option = click.option("--db", "db_url", help="sqlite:///path.db or postgresql://… (NEWSFLOW_DB_URL)")
feeds_option = click.option(
    "--feeds", "feeds_file", type=click.Path(dir_okay=False), help="Feeds file, YAML or OPML (NEWSFLOW_FEEDS_FILE)"
)


def settings_for(name: str, **overrides) -> Settings:
    try:
        settings = load_settings(**overrides)
    except ValidationError as exc:
        raise click.ClickException(f"bad setting: {setting_errors(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - anything else a setting can make pydantic raise
        raise click.ClickException(f"bad setting: {type(exc).__name__}") from None
    setup_logging(settings.log_level, name)
    return settings


def setting_errors(exc: "ValidationError") -> str:
    """What is wrong, per variable, without the values: pydantic's own message shows the input,
    which may be a password (NEWSFLOW_KAFKA_SASL_PASSWORD, one inside NEWSFLOW_DB_URL)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        where = "NEWSFLOW_" + "_".join(str(part) for part in error["loc"]).upper() if error["loc"] else ""
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)


def load_taxonomy_or_fail(path):
    from services.tagger.taxonomy import TaxonomyError, load_taxonomy

    try:
        return load_taxonomy(path)
    except TaxonomyError as exc:
        raise click.ClickException(str(exc)) from None


taxonomy_option = click.option(
    "--taxonomy", "taxonomy_file", type=click.Path(dir_okay=False), help="Taxonomy file (NEWSFLOW_TAXONOMY_FILE)"
)


def open_store_or_fail(url: str):
    """The database, or the reason it cannot be opened (its URL shown without the password)."""
    import psycopg

    from services.sink.store import open_store

    try:
        return open_store(url)
    except (ValueError, OSError, sqlite3.Error, psycopg.Error) as exc:
        raise click.ClickException(f"cannot open the database {redact_url(url)}: {exc}") from None
