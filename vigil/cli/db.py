"""`vigil db …`: the PostgreSQL store's schema: its version, and upgrading it.

``vigil serve`` refuses to start on a schema older (or newer) than the code,
so an upgrade is an explicit step: back up, ``vigil db upgrade``, start the
new version. The SQLite store needs none of this (its schema is created when
the file is opened).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer

from vigil.config import Settings, load_settings
from vigil.core.errors import VigilError
from vigil.store.postgres.migrations import HEAD, MIGRATIONS, applied, current_version, upgrade

app = typer.Typer(help="PostgreSQL store schema: status, upgrade.", no_args_is_help=True)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="Settings file (YAML).", exists=True)
]


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except VigilError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from err


def _connect(settings: Settings) -> psycopg.Connection[tuple[Any, ...]]:
    url = settings.store.url
    if url is None:
        typer.echo(
            f"the store is SQLite ({settings.data_dir}/vigil.sqlite3): its schema is created "
            "when it is opened; set store.url (VIGIL_STORE__URL) to use PostgreSQL"
        )
        raise typer.Exit(0)
    try:
        return psycopg.connect(
            url, autocommit=True, connect_timeout=max(1, round(settings.store.connect_timeout_s))
        )
    except psycopg.Error as err:
        typer.secho(f"error: cannot connect to PostgreSQL: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from err


@app.command()
def status(config: ConfigOpt = None) -> None:
    """Show the schema version of the configured database and the migrations not applied."""
    with _connect(_settings(config)) as conn:
        have = current_version(conn)
        done = applied(conn)
    for version, description, at in done:
        typer.echo(f"  {version:>3}  applied {at}  {description}")
    for m in MIGRATIONS:
        if m.version > have:
            typer.echo(f"  {m.version:>3}  PENDING  {m.description}")
    state = "current" if have == HEAD else ("NEWER than this Vigil" if have > HEAD else "behind")
    typer.echo(f"schema version {have}, this Vigil needs {HEAD}: {state}")
    if have != HEAD:
        raise typer.Exit(1)


@app.command("upgrade")
def upgrade_command(
    config: ConfigOpt = None,
    to: Annotated[
        int | None, typer.Option("--to", help="Stop at this version (default: the newest).")
    ] = None,
) -> None:
    """Apply the pending migrations (each in its own transaction; safe to run twice)."""
    target = HEAD if to is None else to
    if not 0 <= target <= HEAD:
        typer.secho(f"error: --to must be between 0 and {HEAD}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    with _connect(_settings(config)) as conn:
        before = current_version(conn)
        if before > HEAD:
            typer.secho(
                f"error: the schema is at version {before}, newer than this Vigil ({HEAD})",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(1)
        try:
            done = upgrade(conn, to=target)
        except psycopg.Error as err:
            typer.secho(f"error: the upgrade failed: {err}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from err
        after = current_version(conn)
    for m in done:
        typer.echo(f"applied {m.version}: {m.description}")
    typer.echo(f"schema version {before} -> {after}" if done else f"schema version {after}")
