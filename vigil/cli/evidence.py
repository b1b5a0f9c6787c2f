"""`vigil evidence …`: honest KPIs, before/after evaluations and claim checks."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import duckdb
import typer

from vigil.analytics import evaluate as ev
from vigil.analytics.claims import Claim, Period, check
from vigil.analytics.kpi import BREAKDOWNS, Selection, kpi_report
from vigil.analytics.settings import AnalyticsSettings
from vigil.analytics.source import LiveLogSource, city_areas
from vigil.config import Settings, load_settings
from vigil.core.errors import ValidationError, VigilError
from vigil.history.store import HistoryStore

app = typer.Typer(help="Evidence: KPIs with uncertainty, evaluations, claim checks.")

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="Settings file (YAML).", exists=True)
]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Data directory.")]
SourceOpt = Annotated[
    str, typer.Option("--source", help="'history' (imported CAD records) or 'log' (live log).")
]
StoreOpt = Annotated[
    Path | None, typer.Option("--store", help="History store folder (default <data_dir>/history).")
]
TzOpt = Annotated[
    str | None, typer.Option("--tz", help="Time zone of dates and hours (default: settings).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _fail(err: Exception) -> None:
    typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _setup(
    config: Path | None, data_dir: Path | None, tz: str | None, period: str | None = None
) -> tuple[Settings, AnalyticsSettings]:
    settings = load_settings(config, data_dir=data_dir)
    update: dict[str, object] = {}
    if tz:
        try:
            ZoneInfo(tz)
        except (KeyError, ValueError) as err:
            raise ValidationError(f"unknown time zone {tz!r}", field="tz") from err
        update["timezone"] = tz
    if period:
        update["period"] = period
    return settings, AnalyticsSettings.model_validate({**settings.analytics.model_dump(), **update})


def _connect(settings: Settings, source: str, store: Path | None) -> duckdb.DuckDBPyConnection:
    if source == "history":
        history = HistoryStore(store) if store else HistoryStore.in_data_dir(settings.data_dir)
        return history.connect()
    if source == "log":
        from vigil.app import build  # noqa: PLC0415 - only the live source opens the platform

        built = build(settings)
        try:
            zones = {n: z.ring for rule in built.rules.rules.rules for n, z in rule.zones.items()}
            areas = city_areas(settings.city.stations, zones)
            return LiveLogSource(built.store, areas=areas).connect()
        finally:
            built.close()
    raise ValidationError(f"--source must be 'history' or 'log', not {source!r}", field="source")


def _date(text: str, tz: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz))
    except ValueError as err:
        raise ValidationError(
            f"{field} must be a date like 2024-01-31, not {text!r}", field=field
        ) from err


def _period(text: str, tz: str, field: str) -> Period:
    since, sep, until = text.partition("..")
    if not sep:
        raise ValidationError(f"{field} must be FROM..TO (dates, TO excluded)", field=field)
    return Period(since=_date(since, tz, field), until=_date(until, tz, field))


@app.command("kpis")
def kpis(  # noqa: PLR0917 - typer maps each option to a parameter
    source: SourceOpt = "history",
    since: Annotated[str | None, typer.Option(help="First day (local date).")] = None,
    until: Annotated[str | None, typer.Option(help="Day after the last (local date).")] = None,
    breakdown: Annotated[
        list[str] | None, typer.Option(help=f"Breakdowns to show ({', '.join(BREAKDOWNS)}).")
    ] = None,
    tz: TzOpt = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
) -> None:
    """Print response-interval KPIs (n, mean, p50, p90 with CIs, compliance) by breakdown."""
    try:
        settings, an = _setup(config, data_dir, tz)
        sel = Selection(
            since=_date(since, an.timezone, "since") if since else None,
            until=_date(until, an.timezone, "until") if until else None,
        )
        con = _connect(settings, source, store)
        try:
            report = kpi_report(
                con, an, source=source, selection=sel, breakdowns=breakdown or ["all"]
            )
        finally:
            con.close()
    except (VigilError, ValueError) as err:
        _fail(err)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, default=str))
        return
    typer.echo(f"source {source}: {report.first} to {report.last}")
    typer.echo(report.method())
    for name, counts in report.exclusions.items():
        typer.echo(f"  {name:<16} " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for k, why in report.not_measurable.items():
        typer.echo(f"  {k:<16} not measurable: {why}")
    typer.echo(
        f"\n{'interval':<16}{'breakdown':<11}{'group':<24}{'n':>7}  "
        f"{'p50 s [CI]':<20}{'p90 s [CI]':<22}{'within target [CI]'}"
    )
    for r in report.rows:
        c = r.compliance
        share = f"{c.value:.1%} [{c.low:.1%}-{c.high:.1%}]" if c and c.low is not None else "-"
        typer.echo(
            f"{r.interval:<16}{r.breakdown:<11}{r.group[:23]:<24}{r.n:>7}  "
            f"{_ci(r.p50_s.value, r.p50_s.low, r.p50_s.high):<20}"
            f"{_ci(r.p90_s.value, r.p90_s.low, r.p90_s.high):<22}{share}"
        )


def _ci(v: float | None, lo: float | None, hi: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.0f} [{lo:.0f}-{hi:.0f}]" if lo is not None and hi is not None else f"{v:.0f}"


@app.command("evaluate")
def evaluate(  # noqa: PLR0917 - typer maps each option to a parameter
    treated: Annotated[list[str], typer.Option("--treated", help="Treated area (repeat).")],
    start: Annotated[str, typer.Option(help="Date the intervention started (local).")],
    what: Annotated[str, typer.Option(help="What the intervention was (for the record).")] = "",
    interval: Annotated[str, typer.Option(help="Interval the KPI is of.")] = "travel",
    kpi: Annotated[str, typer.Option(help="p90, p50, mean or count.")] = "p90",
    method: Annotated[
        Literal["auto", "did", "sc"], typer.Option(help="did, sc, or auto (sc for one area).")
    ] = "auto",
    period: Annotated[str | None, typer.Option(help="week, month, quarter or year.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write the event-study / SC plot here.")] = None,
    source: SourceOpt = "history",
    tz: TzOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
) -> None:
    """Estimate an intervention's effect on a KPI against comparison areas."""
    try:
        settings, an = _setup(config, data_dir, tz, period)
        when = _date(start, an.timezone, "start")
        con = _connect(settings, source, store)
        try:
            panel = ev.panel(con, an, interval=interval, kpi=kpi)
        finally:
            con.close()
        start_label = ev.period_of(when, an)
        use_sc = method == "sc" or (method == "auto" and len(treated) == 1)
        out: dict[str, object] = {
            "intervention": what,
            "treated": treated,
            "start": start,
            "kpi": f"{kpi} of {interval} per {an.area} per {an.period}",
        }
        if use_sc:
            sc = ev.synthetic_control(panel, treated[0], start_label)
            out["synthetic_control"] = sc.to_json()
        res = ev.did(panel, treated, start_label)
        out["difference_in_differences"] = res.to_json()
        if plot:
            from vigil.analytics.plots import evaluation_plot  # noqa: PLC0415 - matplotlib

            evaluation_plot(res, sc if use_sc else None, plot)
    except (VigilError, ValueError) as err:
        _fail(err)
    typer.echo(json.dumps(out, indent=2, default=str))


@app.command("check")
def check_claim(  # noqa: PLR0917 - typer maps each option to a parameter
    a: Annotated[str, typer.Option("--period-a", help="FROM..TO (local dates, TO excluded).")],
    b: Annotated[str, typer.Option("--period-b", help="FROM..TO (local dates, TO excluded).")],
    kind: Annotated[str, typer.Option(help="'interval' or 'count'.")] = "interval",
    interval: Annotated[str | None, typer.Option(help="Interval (e.g. travel, total).")] = None,
    statistic: Annotated[str | None, typer.Option(help="p50, p90 or mean.")] = None,
    area: Annotated[list[str] | None, typer.Option(help="Area (repeat).")] = None,
    call_type: Annotated[list[str] | None, typer.Option(help="Call type (repeat).")] = None,
    before_min: Annotated[float | None, typer.Option(help="Claimed value in A (minutes).")] = None,
    after_min: Annotated[float | None, typer.Option(help="Claimed value in B (minutes).")] = None,
    change_pct: Annotated[float | None, typer.Option(help="Claimed change, % (-46).")] = None,
    text: Annotated[str, typer.Option(help="The claim as stated.")] = "",
    source: SourceOpt = "history",
    tz: TzOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
) -> None:
    """Test a structured claim against the data: supported, not supported, or uncheckable."""
    try:
        settings, an = _setup(config, data_dir, tz)
        if kind not in ("interval", "count"):
            raise ValidationError("--kind must be 'interval' or 'count'", field="kind")
        if statistic not in (None, "p50", "p90", "mean"):
            raise ValidationError("--statistic must be p50, p90 or mean", field="statistic")
        claim = Claim(
            kind="count" if kind == "count" else "interval",
            a=_period(a, an.timezone, "period-a"),
            b=_period(b, an.timezone, "period-b"),
            interval=interval,
            statistic=statistic,  # type: ignore[arg-type]  # checked just above
            areas=tuple(area or ()),
            call_types=tuple(call_type or ()),
            before_s=None if before_min is None else before_min * 60,
            after_s=None if after_min is None else after_min * 60,
            change_pct=change_pct,
            text=text,
        )
        con = _connect(settings, source, store)
        try:
            result = check(con, an, claim)
        finally:
            con.close()
    except (VigilError, ValueError) as err:
        _fail(err)
    typer.echo(f"verdict: {result.verdict.upper()}")
    for reason in result.reasons:
        typer.echo(f"  {reason}")
    typer.echo(f"method: {result.method}")
    if result.verdict == "cannot be checked":
        raise typer.Exit(3)


@app.command("forecast")
def forecast(  # noqa: PLR0917 - typer maps each option to a parameter
    call_type: Annotated[list[str] | None, typer.Option(help="Call type (repeat).")] = None,
    area: Annotated[list[str] | None, typer.Option(help="Area (repeat).")] = None,
    at: Annotated[
        str | None, typer.Option(help="Forecast from this local date (default now).")
    ] = None,
    horizon: Annotated[int, typer.Option(help="Hours ahead.")] = 24,
    weeks: Annotated[int, typer.Option(help="Weeks of history to fit on.")] = 10,
    source: SourceOpt = "history",
    tz: TzOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    store: StoreOpt = None,
) -> None:
    """Forecast calls per hour with prediction intervals, backtested against seasonal naive."""
    from datetime import UTC  # noqa: PLC0415

    from vigil.analytics.forecast import forecast_demand  # noqa: PLC0415 - statsmodels

    try:
        settings, an = _setup(config, data_dir, tz)
        now = _date(at, an.timezone, "at") if at else datetime.now(UTC)
        con = _connect(settings, source, store)
        try:
            result = forecast_demand(
                con,
                an,
                now=now,
                horizon=horizon,
                weeks=weeks,
                call_types=call_type or (),
                areas=area or (),
            )
        finally:
            con.close()
    except (VigilError, ValueError) as err:
        _fail(err)
    typer.echo(json.dumps(result.to_json(), indent=2))
