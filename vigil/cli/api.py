"""`vigil api ...`: the HTTP API's contract, offline (no server, no store kept)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The HTTP API's OpenAPI document.", no_args_is_help=True)


def openapi_document() -> dict[str, object]:
    """Build the app on a throwaway data directory and return its OpenAPI document."""
    from vigil.api.http import create_api  # noqa: PLC0415 - keeps `vigil --help` fast
    from vigil.app import build  # noqa: PLC0415 - keeps `vigil --help` fast
    from vigil.config import load_settings  # noqa: PLC0415 - keeps `vigil --help` fast

    with tempfile.TemporaryDirectory(prefix="vigil-openapi-") as tmp:
        built = build(load_settings(data_dir=Path(tmp)))
        try:
            return create_api(built).openapi()
        finally:
            built.close()


@app.command("openapi")
def openapi(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of standard output.")
    ] = None,
) -> None:
    """Print the OpenAPI document that `/openapi.json` serves (the web build types from it)."""
    text = json.dumps(openapi_document(), indent=1, sort_keys=True) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, "utf-8")
        typer.echo(f"wrote {out}", err=True)
