"""`vigil ingest …`: counts, dead letters, devices, CSV replay."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.app import App, build, observation_store
from vigil.config import load_settings
from vigil.core.errors import VigilError
from vigil.core.ids import DeviceId
from vigil.ingest.csv_replay import replay as replay_csv
from vigil.ingest.registry import load_devices_file, user_name
from vigil.ingest.service import OBSERVATIONS_FILE

app = typer.Typer(help="Device ingest: stats, devices, CSV replay.", no_args_is_help=True)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="Settings file (YAML).", exists=True)
]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Data directory.")]


def _open(config: Path | None, data_dir: Path | None) -> App:
    return build(load_settings(config, data_dir=data_dir))


def _fail(err: VigilError) -> None:
    typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@app.command()
def stats(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    dead_letters: Annotated[
        int, typer.Option("--dead-letters", "-n", help="Also show the newest N dead letters.")
    ] = 0,
) -> None:
    """Show observations stored and everything not stored, per reason."""
    settings = load_settings(config, data_dir=data_dir)
    store = observation_store(settings)
    if store is None:
        typer.echo(f"no observation store at {settings.data_dir / OBSERVATIONS_FILE} yet")
        return
    try:
        s = store.stats()
        letters = store.dead_letters(limit=dead_letters) if dead_letters else []
    finally:
        store.close()
    typer.echo(f"{'stored':24} {s.stored:>12,}")
    typer.echo(f"{'not stored':24} {s.rejected:>12,}")
    for reason, n in s.by_reason.items():
        typer.echo(f"  {reason:22} {n:>12,}")
    for d in letters:
        raw = d.raw[:120].decode("utf-8", errors="replace")
        where = d.field or "-"
        typer.echo(f"#{d.seq} {d.at:%Y-%m-%d %H:%M:%S} {d.source} {d.reason} [{where}] {d.detail}")
        typer.echo(f"    {raw}")


@app.command()
def devices(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    load: Annotated[
        Path | None,
        typer.Option("--load", help="Register the devices of this YAML file first.", exists=True),
    ] = None,
) -> None:
    """List registered devices with their state and latest values."""
    vigil = _open(config, data_dir)
    try:
        if load is not None:
            changed = vigil.ingest.registry.register(load_devices_file(load), actor="cli")
            typer.echo(f"registered {len(changed)} new or changed devices from {load}")
        statuses = vigil.ingest.statuses()
        for d in vigil.ingest.registry.all():
            st = statuses[d.id]
            values = ", ".join(
                f"{v.stream}={v.value:g}{v.unit and ' ' + v.unit}" for v in st.latest
            )
            typer.echo(
                f"{d.id:24} {d.kind.value:18} {d.zone or '-':16} {st.state.value:8} {values}"
            )
    except VigilError as err:
        _fail(err)
    finally:
        vigil.close()


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV of readings.")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    speed: Annotated[
        float | None,
        typer.Option(help="Pace rows by their timestamps, this many times faster than recorded."),
    ] = None,
) -> None:
    """Replay recorded observations from a CSV file through the ingest pipeline."""
    vigil = _open(config, data_dir)
    total = max(0, sum(1 for _ in file.open("rb")) - 1)
    try:
        with typer.progressbar(length=total, label="replaying") as bar:
            result = replay_csv(
                file,
                parser=vigil.ingest.parser,
                pipeline=vigil.ingest.pipeline,
                clock=vigil.clock,
                speed=speed,
                progress=bar.update,
            )
    except VigilError as err:
        _fail(err)
    finally:
        vigil.close()
    typer.echo(
        f"{result.rows} rows: {result.stored} stored, {result.duplicates} duplicates, "
        f"{result.rejected} rejected (see `vigil ingest stats -n 20`)"
    )


@app.command("mqtt-credentials")
def mqtt_credentials(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    issue: Annotated[
        list[str] | None,
        typer.Option(
            "--issue",
            help="Issue a new credential (API token = MQTT password, shown once; the old one "
            "stops working) for this device id; repeatable.",
        ),
    ] = None,
    gateway: Annotated[
        list[str] | None,
        typer.Option("--gateway", help="Issue a new credential for this gateway id; repeatable."),
    ] = None,
) -> None:
    """Write the broker's password and ACL files from the registry (ingest.mqtt.broker)."""
    vigil = _open(config, data_dir)
    try:
        files = vigil.ingest.broker_files
        if files is None:
            typer.secho(
                "error: set ingest.mqtt.broker.password_file and acl_file first",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(2)
        files.write()  # nothing issued: the ACLs and Vigil's own line
        registry = vigil.ingest.registry
        for device_id in issue or []:
            token = registry.issue_token(DeviceId(device_id), actor="cli")
            typer.echo(f"device {device_id}: login {user_name(device_id)} token {token}")
        for gateway_id in gateway or []:
            token = registry.issue_gateway_token(gateway_id, actor="cli")
            typer.echo(f"gateway {gateway_id}: login gateway-{gateway_id} token {token}")
        typer.echo(
            f"wrote {files.password_file} and {files.acl_file}: "
            f"{len(registry.devices)} devices, {len(registry.gateways)} gateways"
        )
    except VigilError as err:
        _fail(err)
    finally:
        vigil.close()
