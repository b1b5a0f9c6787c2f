"""`vigil eido validate FILE...`: is each file a valid NENA EIDO (schema and profile rules)?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.config import load_settings
from vigil.core.errors import VigilError
from vigil.exchange.schema import EidoSchema
from vigil.exchange.service import validate_file

app = typer.Typer(help="NENA EIDO incident exchange: validate files.", no_args_is_help=True)


@app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="EIDO JSON files.", dir_okay=False)],
    schema: Annotated[
        Path | None,
        typer.Option(help="NENA's openapi.yaml (default: exchange.eido_schema from the settings)."),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Settings file.")] = None,
) -> None:
    """Print per file 'valid' or its problems; exit 0 only if every file is valid."""
    try:
        settings = load_settings(config)
        path = schema or settings.exchange.eido_schema
        if path is None:
            typer.secho(
                "error: no EIDO schema: pass --schema openapi.yaml or set exchange.eido_schema",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(2)
        loaded = EidoSchema.load(path)
    except VigilError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from err
    for repair in loaded.repairs:
        typer.echo(f"note: schema slip repaired in memory: {repair}", err=True)
    bad = 0
    for f in files:
        problems = validate_file(f, loaded, max_bytes=settings.exchange.max_eido_bytes)
        if problems:
            bad += 1
            typer.echo(f"{f}: INVALID")
            for p in problems[:50]:
                typer.echo(f"  {p}")
            if len(problems) > 50:
                typer.echo(f"  ... and {len(problems) - 50} more")
        else:
            typer.echo(f"{f}: valid")
    typer.echo(f"{len(files) - bad} valid, {bad} invalid")
    raise typer.Exit(1 if bad else 0)
