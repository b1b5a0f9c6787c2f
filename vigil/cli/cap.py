"""`vigil cap validate FILE...`: is each file valid CAP (schema and profile rules)?

Files are read with the hardened parser: a document can never make this command
read another local file or the network (no entities, no DTDs, no XInclude).
An EDXL-DE envelope or an Atom/RSS feed is checked alert by alert.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.alerts import cap
from vigil.alerts.inbound import extract
from vigil.alerts.xmlsafe import UntrustedXmlError, load_schema, read_untrusted
from vigil.config import load_settings
from vigil.core.errors import VigilError

app = typer.Typer(help="CAP 1.2 alerts: validate files.", no_args_is_help=True)


def file_problems(path: Path, schema: object, *, max_bytes: int) -> tuple[str, list[str]]:
    """Return a file's kind and its problems (empty when every alert in it is valid)."""
    try:
        root = read_untrusted(path, max_bytes=max_bytes)
        kind, found = extract(root)
    except UntrustedXmlError as err:
        return "refused", [f"xml: {err.reason}: {err.message}"]
    problems: list[str] = []
    if not found:
        problems.append(f"xml: the {kind} document carries no CAP alert")
    for item in found:
        if item.element is None:
            problems.append(
                f"{item.label}: links to {item.link!r} (not followed: validate that file)"
            )
            continue
        prefix = "" if item.label == "alert" else f"{item.label}: "
        problems += [prefix + str(p) for p in cap.check(item.element, schema)]  # type: ignore[arg-type]
        if etree_ns(item.element) == cap.CAP11:
            kind = "cap 1.1 (profile rules only: the 1.2 XSD does not apply)"
    return kind, problems


def etree_ns(el: object) -> str | None:
    """Return an element's namespace."""
    from lxml import etree  # noqa: PLC0415

    assert isinstance(el, etree._Element)
    return etree.QName(el).namespace


@app.command("validate")
def validate(
    files: Annotated[
        list[Path], typer.Argument(help="CAP, EDXL-DE or Atom files.", dir_okay=False)
    ],
    schema: Annotated[
        Path | None,
        typer.Option(help="OASIS cap12.xsd (default: alerts.cap_schema from the settings)."),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Settings file.")] = None,
) -> None:
    """Print per file 'valid' or its problems; exit 0 only if every file is valid."""
    try:
        settings = load_settings(config)
        schema_path = schema or settings.alerts.cap_schema
        if schema_path is None:
            typer.secho(
                "error: no CAP schema: pass --schema cap12.xsd or set alerts.cap_schema",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(2)
        xsd = load_schema(schema_path)
    except VigilError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from err
    bad = 0
    for path in files:
        kind, problems = file_problems(path, xsd, max_bytes=settings.alerts.max_cap_bytes)
        if problems:
            bad += 1
            typer.echo(f"{path}: INVALID ({kind})")
            for p in problems:
                typer.echo(f"  {p}")
        else:
            typer.echo(f"{path}: valid ({kind})")
    typer.echo(f"{len(files) - bad} valid, {bad} invalid")
    raise typer.Exit(1 if bad else 0)
