"""`vigil report …`: publishable reports (the transparency report)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from vigil.analytics.transparency import gather, render_html, render_pdf
from vigil.config import load_settings
from vigil.core.errors import ValidationError, VigilError
from vigil.history.store import HistoryStore

app = typer.Typer(help="Reports: the public transparency report.", no_args_is_help=True)


def _start(text: str, zone: ZoneInfo) -> datetime:
    if len(text) == 4:
        return datetime(int(text), 1, 1, tzinfo=zone)
    if len(text) == 7:
        return datetime.fromisoformat(text + "-01").replace(tzinfo=zone)
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def _next(text: str, since: datetime) -> datetime:
    if len(text) == 4:
        return since.replace(year=since.year + 1)
    if len(text) == 7:
        return (since + timedelta(days=32)).replace(day=1)
    return since + timedelta(days=1)


def parse_period(text: str, tz: str) -> tuple[datetime, datetime]:
    """Parse YYYY, YYYY-MM, a date, or FROM..TO (each a year, month or date; TO excluded)."""
    zone = ZoneInfo(tz)
    try:
        if ".." in text:
            a, b = text.split("..", 1)
            since, until = _start(a, zone), _start(b, zone)
        else:
            since = _start(text, zone)
            until = _next(text, since)
    except ValueError as err:
        raise ValidationError(
            f"--period must be YYYY, YYYY-MM, a date or FROM..TO, not {text!r}", field="period"
        ) from err
    if until <= since:
        raise ValidationError("--period ends before it starts", field="period")
    return since.astimezone(UTC), until.astimezone(UTC)


@app.command("transparency")
def transparency(  # noqa: PLR0917 - typer maps each option to a parameter
    period: Annotated[str, typer.Option(help="YYYY, YYYY-MM or FROM..TO (local dates).")],
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("transparency"),
    source: Annotated[
        str, typer.Option(help="KPIs from 'log' (the platform) or 'history' (imported).")
    ] = "log",
    tz: Annotated[str | None, typer.Option(help="Time zone of the dates.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", exists=True)] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir")] = None,
) -> None:
    """Write the transparency report (HTML and PDF, with plots) for a period."""
    from vigil.app import build  # noqa: PLC0415 - opening the platform is the slow part

    try:
        settings = load_settings(config, data_dir=data_dir)
        an = settings.analytics
        if tz:
            an = an.model_copy(update={"timezone": tz})
        since, until = parse_period(period, an.timezone)
        if source not in ("log", "history"):
            raise ValidationError("--source must be 'log' or 'history'", field="source")
        app_ = build(settings)
        try:
            kinds = Counter(str(d.kind) for d in app_.ingest.registry.all())
            facts = gather(
                app_.store,
                devices_by_kind=dict(kinds),
                dead_letters=dict(app_.ingest.stats().by_reason),
                retention_days=settings.audit.personal_data_retention_days,
                settings=an,
                since=since,
                until=until,
                now=app_.clock.now(),
                responses=HistoryStore.in_data_dir(settings.data_dir)
                if source == "history"
                else None,
                source_label="imported CAD history" if source == "history" else "the event log",
            )
        finally:
            app_.close()
    except VigilError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from err
    out.mkdir(parents=True, exist_ok=True)
    (out / "transparency.html").write_text(render_html(facts), "utf-8")
    render_pdf(facts, out / "transparency.pdf")
    typer.echo(f"wrote {out / 'transparency.html'} and {out / 'transparency.pdf'}")
