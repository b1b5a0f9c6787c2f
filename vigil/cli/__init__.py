"""The `vigil` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from vigil.app import App, build
from vigil.audit.roles import Role
from vigil.cad.service import all_rows, load_state, rebuild_state
from vigil.cli.api import app as api_cli
from vigil.cli.audio import app as audio_cli
from vigil.cli.cap import app as cap_cli
from vigil.cli.city import app as city_cli
from vigil.cli.eido import app as eido_cli
from vigil.cli.evidence import app as evidence_cli
from vigil.cli.geo import app as geo_cli
from vigil.cli.history import app as history_cli
from vigil.cli.ingest import app as ingest_cli
from vigil.cli.report import app as report_cli
from vigil.cli.rules import app as rules_cli
from vigil.cli.sim import app as sim_cli
from vigil.cli.sim import demo as demo_command
from vigil.cli.video import app as video_cli
from vigil.config import Settings, load_settings
from vigil.core.errors import VigilError

cli = typer.Typer(
    help="Vigil: open, accountable public-safety platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
users_cli = typer.Typer(help="Manage logins.", no_args_is_help=True)
store_cli = typer.Typer(help="Maintain the event store.", no_args_is_help=True)
audit_cli = typer.Typer(help="Verify and maintain the audit trail.", no_args_is_help=True)
config_cli = typer.Typer(help="Check configuration files.", no_args_is_help=True)
cli.add_typer(users_cli, name="users")
cli.add_typer(store_cli, name="store")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(config_cli, name="config")
# Domain command groups plug in here.
cli.add_typer(api_cli, name="api", help="The HTTP API's OpenAPI document (offline).")
cli.add_typer(city_cli, name="city", help="Onboard a city: init, load units.")
cli.add_typer(geo_cli, name="geo", help="Road network: build, route, geocode.")
cli.add_typer(report_cli, name="report", help="Reports: the transparency report.")
cli.add_typer(evidence_cli, name="evidence", help="Evidence: KPIs, evaluations, claims.")
cli.add_typer(history_cli, name="history", help="Historical CAD records: import, show.")
cli.add_typer(ingest_cli, name="ingest", help="Device ingest: stats, devices, CSV replay.")
cli.add_typer(rules_cli, name="rules", help="Rules: check files, list loaded rules.")
cli.add_typer(sim_cli, name="sim", help="City simulator: run and check scenarios.")
cli.add_typer(audio_cli, name="audio", help="Acoustic worker: run mics, analyze a recording.")
cli.add_typer(cap_cli, name="cap", help="CAP 1.2 alerts: validate files.")
cli.add_typer(video_cli, name="video", help="Camera analytics: run the worker, analyse a file.")
cli.add_typer(eido_cli, name="eido", help="NENA EIDO incident exchange: validate files.")
cli.command("demo")(demo_command)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="Settings file (YAML).", exists=True)
]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Data directory.")]


def _settings(config: Path | None, data_dir: Path | None, **more: object) -> Settings:
    return load_settings(config, data_dir=data_dir, **more)


def _open(config: Path | None, data_dir: Path | None) -> App:
    return build(_settings(config, data_dir))


def _fail(err: VigilError) -> None:
    typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@cli.command()
def serve(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    admin_token: Annotated[
        bool, typer.Option(help="Create an 'admin' login if none exists and print its token.")
    ] = False,
) -> None:
    """Run the HTTP API (and UI) on the configured store."""
    from vigil.serve import run  # noqa: PLC0415 - keeps `vigil --help` fast

    try:
        settings = _settings(config, data_dir)
        server = settings.server.model_copy(
            update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
        )
        settings = settings.model_copy(update={"server": server})
        run(settings, admin_token=admin_token)
    except VigilError as err:
        _fail(err)


@users_cli.command("add")
def users_add(
    name: str,
    role: Annotated[Role, typer.Option("--role", "-r", help="What the user does.")],
    password: Annotated[
        bool, typer.Option("--password", help="Prompt for a password (for UI login).")
    ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Create a login and print its API token once."""
    secret = (
        typer.prompt("Password", hide_input=True, confirmation_prompt=True) if password else None
    )
    app = _open(config, data_dir)
    try:
        app.users.add(name, role, secret, actor="cli")
        token = app.users.issue_token(name, label="cli", actor="cli", ttl=None)
    except VigilError as err:
        _fail(err)
    finally:
        app.close()
    typer.echo(f"created {name} ({role.value}); API token (shown once):")
    typer.echo(token)


@users_cli.command("list")
def users_list(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """List logins."""
    app = _open(config, data_dir)
    try:
        for u in app.store.users():
            typer.echo(f"{u.name:24} {u.role:12} {'active' if u.active else 'disabled'}")
    finally:
        app.close()


@store_cli.command("rebuild")
def store_rebuild(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Rebuild every projection from the event log and report whether it changed."""
    app = _open(config, data_dir)
    try:
        before = load_state(app.store).snapshot()
        state = rebuild_state(app.store)
        app.store.replace_projection(all_rows(state), state.last_seq)
        after = load_state(app.store).snapshot()
    finally:
        app.close()
    typer.echo(
        f"rebuilt from {state.last_seq} events: {len(state.incidents)} incidents, "
        f"{len(state.calls)} calls, {len(state.units)} units"
    )
    if before == after:
        typer.echo("projection identical to the one stored before")
    else:
        typer.secho("projection differed from the stored one; it is now rebuilt", fg="yellow")


@audit_cli.command("verify")
def audit_verify(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Recompute the event and audit hash chains; report the first broken link."""
    app = _open(config, data_dir)
    try:
        breaks = app.store.verify()
        events, audits = app.store.last_seq(), len(app.store.audit_entries(limit=1_000_000))
    finally:
        app.close()
    if not breaks:
        typer.echo(f"intact: {events} events and {audits} audit entries verified")
        return
    for b in breaks:
        typer.secho(f"BROKEN {b.chain} chain at seq {b.seq}: {b.reason}", fg="red", err=True)
    raise typer.Exit(1)


@audit_cli.command("purge")
def audit_purge(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Delete caller identities whose retention period has ended (audited)."""
    app = _open(config, data_dir)
    try:
        purged = app.access.purge_expired(actor="cli")
    finally:
        app.close()
    typer.echo(f"purged personal data of {len(purged)} calls")


@config_cli.command("check")
def config_check(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Validate a settings file and print the effective settings."""
    try:
        settings = load_settings(file)
    except VigilError as err:
        _fail(err)
    typer.echo(settings.model_dump_json(indent=2))


def main() -> None:
    """Entry point of the `vigil` script."""
    try:
        cli()
    except VigilError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        sys.exit(2)
