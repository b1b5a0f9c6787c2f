"""The `vigil` command line."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import msgspec
import typer

from vigil.app import App, anchors_of, build
from vigil.audit.anchor import (
    generate_key,
    key_id,
    load_public_key,
    projection_differences,
    public_pem,
    read_checkpoints,
    verify_checkpoints,
)
from vigil.audit.roles import Role
from vigil.cad.service import all_rows, load_state, rebuild_state
from vigil.cli.api import app as api_cli
from vigil.cli.audio import app as audio_cli
from vigil.cli.cap import app as cap_cli
from vigil.cli.city import app as city_cli
from vigil.cli.db import app as db_cli
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
cli.add_typer(db_cli, name="db", help="PostgreSQL store schema: status, upgrade.")
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
def serve(  # noqa: PLR0917 - typer maps each option to a parameter
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    admin_token: Annotated[
        bool, typer.Option(help="Create an 'admin' login if none exists and print its token.")
    ] = False,
    role: Annotated[
        str,
        typer.Option(
            help="What this process does: all, or any of api,ingest,rules (comma-separated)."
        ),
    ] = "all",
    partitions: Annotated[
        str | None,
        typer.Option(
            help="Device partitions this worker owns (NATS bus): e.g. 0-7, or auto (taken by "
            "lease, balanced over the live workers, taken over when one dies); default bus.owned."
        ),
    ] = None,
    member: Annotated[
        str | None,
        typer.Option(help="Names this process's durable consumers; default from role+partitions."),
    ] = None,
    reuse_port: Annotated[
        bool, typer.Option(help="Share the port with other API processes (SO_REUSEPORT).")
    ] = False,
) -> None:
    """Run the HTTP API (and UI), or a worker (--role ingest,rules), on the configured store."""
    from vigil.serve import parse_roles, run, with_partitions  # noqa: PLC0415 - fast --help

    try:
        settings = _settings(config, data_dir)
        server = settings.server.model_copy(
            update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
        )
        roles = parse_roles(role)
        settings = with_partitions(
            settings.model_copy(update={"server": server}), roles, partitions, member
        )
        run(settings, admin_token=admin_token, roles=roles, reuse_port=reuse_port)
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
def audit_verify(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    checkpoints: Annotated[
        Path | None,
        typer.Option(help="Signed checkpoints to check the chains against (an exported copy)."),
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option(help="Public key (PEM) the checkpoints were signed with.")
    ] = None,
) -> None:
    """Verify both hash chains, the signed checkpoints, and the projection against a replay.

    Three checks: every link of the event and audit chains; every checkpoint
    (its signature, and that the chains still hold the hashes it signed — this
    catches a log rewritten whole); and that the projection the API serves is
    what replaying the log produces.
    """
    app = _open(config, data_dir)
    problems: list[str] = []
    try:
        breaks = app.store.verify()
        problems += [f"{b.chain} chain at seq {b.seq}: {b.reason}" for b in breaks]
        events, audits = app.store.last_seq(), len(app.store.audit_entries(limit=1_000_000))
        cps_file = checkpoints or app.settings.audit.anchor_file
        if cps_file is None and (app.settings.data_dir / "anchors.jsonl").exists():
            cps_file = app.settings.data_dir / "anchors.jsonl"
        key_file = public_key or app.settings.audit.signing_key_file
        n_cps = 0
        if cps_file is not None:
            if key_file is None:
                _fail(VigilError("checking checkpoints needs --public-key"))
                return
            cps = read_checkpoints(cps_file)
            n_cps = len(cps)
            found = verify_checkpoints(
                cps, load_public_key(key_file), log=app.store, trail=app.store
            )
            problems += [f"checkpoint of {a.at} (event {a.events_seq}): {a.reason}" for a in found]
        _seq, stored = app.store.projection_rows()
        replayed = all_rows(rebuild_state(app.store))
        problems += [f"projection {d}" for d in projection_differences(stored, replayed)]
    except VigilError as err:
        _fail(err)
        return
    finally:
        app.close()
    if not problems:
        typer.echo(
            f"intact: {events} events, {audits} audit entries, {n_cps} signed checkpoints "
            f"and {len(replayed)} projection rows verified"
        )
        return
    for p in problems:
        typer.secho(f"BROKEN {p}", fg="red", err=True)
    raise typer.Exit(1)


@audit_cli.command("keygen")
def audit_keygen(
    out: Annotated[Path, typer.Argument(help="Where to write the private key (PEM, mode 0600).")],
) -> None:
    """Create the Ed25519 key that signs checkpoints; print its public key."""
    try:
        public = generate_key(out)
    except FileExistsError:
        _fail(VigilError(f"{out} exists; refusing to overwrite a signing key"))
        return
    typer.echo(f"private key written to {out} (keep it secret; point audit.signing_key_file at it)")
    typer.echo(f"key id {key_id(public)}; public key (give it to auditors):")
    typer.echo(public_pem(public).decode().rstrip())


@audit_cli.command("checkpoint")
def audit_checkpoint(config: ConfigOpt = None, data_dir: DataDirOpt = None) -> None:
    """Sign the current chain heads now and append the checkpoint to the anchor file."""
    app = _open(config, data_dir)
    try:
        anchors = anchors_of(app.settings, app.store, app.clock)
        if anchors is None:
            _fail(VigilError("no audit.signing_key_file configured (see `vigil audit keygen`)"))
            return
        cp = anchors.checkpoint(force=True)
    except VigilError as err:
        _fail(err)
        return
    finally:
        app.close()
    assert cp is not None
    typer.echo(
        f"checkpoint at event {cp.events_seq} ({cp.events_hash[:16]}…), audit "
        f"{cp.audit_seq}, key {cp.key_id} appended to {anchors.path}"
    )


@audit_cli.command("export")
def audit_export(
    out: Annotated[Path, typer.Argument(help="Directory to write the export into.")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Export what an auditor keeps: the signed checkpoints, the public key, and the log."""
    app = _open(config, data_dir)
    try:
        anchors = anchors_of(app.settings, app.store, app.clock)
        if anchors is None:
            _fail(VigilError("no audit.signing_key_file configured (see `vigil audit keygen`)"))
            return
        anchors.checkpoint()
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(anchors.path, out / "anchors.jsonl")
        key_file = app.settings.audit.signing_key_file
        assert key_file is not None
        (out / "public-key.pem").write_bytes(public_pem(load_public_key(key_file)))
        with (out / "events.jsonl").open("wb") as f:
            for rec in app.store.read():
                f.write(msgspec.json.encode(rec) + b"\n")
        n = app.store.last_seq()
    except VigilError as err:
        _fail(err)
        return
    finally:
        app.close()
    typer.echo(f"exported {n} events, the checkpoints and the public key to {out}")


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
