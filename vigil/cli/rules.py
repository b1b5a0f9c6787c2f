"""`vigil rules`: check rule files and list the rules a deployment would load."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vigil.config import load_settings
from vigil.core.errors import VigilError
from vigil.incidents.catalogue import load_catalogue
from vigil.rules.load import RuleFileError, check_text, load_rules, read_rule_files
from vigil.rules.rule import duration_text

app = typer.Typer(help="Rules: check files, list loaded rules.", no_args_is_help=True)


@app.command("check")
def check(
    files: Annotated[list[Path], typer.Argument(help="Rule files (YAML).", dir_okay=False)],
    catalogue: Annotated[
        Path | None, typer.Option(help="Incident type catalogue (default: built-in).")
    ] = None,
) -> None:
    """Validate rule files; print FILE:LINE: problems and exit 1 if any."""
    try:
        cat = load_catalogue(catalogue)
    except VigilError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from err
    failed = False
    for path in files:
        try:
            ((source, text),) = read_rule_files([path])
        except RuleFileError as err:
            for p in err.problems:
                typer.echo(str(p), err=True)
            failed = True
            continue
        problems = check_text(text, source, cat)
        for p in problems:
            typer.echo(str(p), err=True)
        if problems:
            failed = True
            typer.secho(f"{path}: {len(problems)} problem(s)", fg=typer.colors.RED, err=True)
        else:
            typer.echo(f"{path}: ok")
    if failed:
        raise typer.Exit(1)


@app.command("list")
def list_rules(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Settings file (YAML).", exists=True)
    ] = None,
) -> None:
    """List the rules the configured files (or the built-in set) define."""
    try:
        settings = load_settings(config)
        rules = load_rules(list(settings.rules.files), load_catalogue(settings.catalogue))
    except RuleFileError as err:
        for p in err.problems:
            typer.echo(str(p), err=True)
        raise typer.Exit(1) from err
    except VigilError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from err
    for rule in rules.rules:
        match = "/".join(p for p in rule.match if p)
        extra = []
        if rule.window is not None:
            extra.append(rule.window.describe())
        if rule.sustained_s:
            extra.append(f"sustained {duration_text(rule.sustained_s)}")
        extra.extend(c.describe() for c in rule.correlate)
        if rule.hours is not None:
            extra.append(f"hours {rule.hours.text}")
        actions = ", ".join(a.kind for a in rule.actions)
        detail = f" [{'; '.join(extra)}]" if extra else ""
        typer.echo(f"{rule.ref:40} {match:28} -> {actions}{detail}")
        typer.echo(f"    {rule.file}: {rule.description}")
