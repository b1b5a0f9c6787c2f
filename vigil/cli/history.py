"""`vigil history …`: import a city's historical CAD records into the analysis store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.config import load_settings
from vigil.core.errors import VigilError
from vigil.history.store import HistoryStore

app = typer.Typer(help="Historical CAD records: import and inspect.", no_args_is_help=True)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="Settings file (YAML).", exists=True)
]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Data directory.")]
RootOpt = Annotated[
    Path | None,
    typer.Option("--store", help="History store folder (default <data_dir>/history)."),
]


def _store(config: Path | None, data_dir: Path | None, root: Path | None) -> HistoryStore:
    if root is not None:
        return HistoryStore(root)
    return HistoryStore.in_data_dir(load_settings(config, data_dir=data_dir).data_dir)


def _fail(err: VigilError) -> None:
    typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@app.command("import")
def import_(  # noqa: PLR0917 - typer maps each option to a parameter
    files: Annotated[list[Path], typer.Argument(help="CAD export(s) (CSV).", exists=True)],
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help="'sffd' (DataSF Calls for Service) or a mapping YAML."),
    ] = "sffd",
    tz: Annotated[
        str | None,
        typer.Option(help="IANA time zone of the file's times (default: the format's own)."),
    ] = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    root: RootOpt = None,
    show: Annotated[int, typer.Option(help="Print at most this many bad rows per file.")] = 20,
) -> None:
    """Import unit responses; bad rows are listed with line and reason, and counted."""
    store = _store(config, data_dir, root)
    for path in files:
        try:
            r = store.import_file(path, fmt, tz=tz, progress=True)
        except VigilError as err:
            _fail(err)
        again = " (same file imported before: replaced, not added)" if r.replaced_previous else ""
        typer.echo(
            f"{r.source}: read {r.rows_read:,} rows, imported {r.imported:,}, "
            f"rejected {r.rejected:,}{again}; times in {r.timezone}"
        )
        for kind, n in r.reasons.items():
            typer.echo(f"  {n:>8,}  {kind}")
        for bad in r.bad_rows[:show]:
            typer.echo(f"  line {bad.line}: {bad.reason}")
        if r.rejected > show:
            typer.echo(f"  … {r.rejected - show:,} more in the store's import_rejects view")
    typer.echo(f"{store.count():,} distinct unit responses in {store.root}")


@app.command()
def show(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    root: RootOpt = None,
) -> None:
    """List what has been imported and how many responses the store holds."""
    store = _store(config, data_dir, root)
    for rep in store.imports():
        typer.echo(
            f"{rep['imported_at']}  {rep['source']}  [{rep['format']}, {rep['timezone']}]  "
            f"imported {rep['imported']}, rejected {rep['rejected']}"
        )
    con = store.connect()
    try:
        row = con.execute(
            "SELECT count(*), min(received_at), max(received_at), count(DISTINCT unit_id) "
            "FROM responses"
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    typer.echo(f"{row[0]:,} unit responses, {row[3]} units, received {row[1]} .. {row[2]}")
