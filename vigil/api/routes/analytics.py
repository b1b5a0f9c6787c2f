"""Analyst API: KPIs with CIs by breakdown, for the analyst page (and scripts)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, HTMLResponse, Response

from vigil.analytics.kpi import BREAKDOWNS, Selection, kpi_report
from vigil.analytics.source import LiveLogSource, ResponseSource, city_areas
from vigil.api.security import Allow, AppDep, Principal, Public
from vigil.audit.roles import ANALYST_EXPORT, SUPERVISORS
from vigil.core.errors import ValidationError
from vigil.history.store import HistoryStore

router = APIRouter(tags=["analytics"])


def _live(app: AppDep) -> LiveLogSource:
    """Return the live log with the areas of the city config (stations file, rule zones)."""
    zones = {n: z.ring for rule in app.rules.rules.rules for n, z in rule.zones.items()}
    return LiveLogSource(app.store, areas=city_areas(app.settings.city.stations, zones))


def _source(app: AppDep, source: str) -> ResponseSource:
    if source == "log":
        return _live(app)
    if source == "history":
        return HistoryStore.in_data_dir(app.settings.data_dir)
    raise ValidationError("source must be 'log' or 'history'", field="source")


@router.get("/analytics/kpis")
def kpis(
    app: AppDep,
    _: Annotated[Principal, Depends(Allow(ANALYST_EXPORT))],
    source: Annotated[str, Query(description="'log' or 'history'.")] = "log",
    since: date | None = None,
    until: date | None = None,
    breakdown: Annotated[list[str] | None, Query(description="Breakdowns (repeat).")] = None,
) -> dict[str, Any]:
    """Return response-interval KPIs with confidence intervals by breakdown."""
    wanted = breakdown or list(BREAKDOWNS)
    bad = [b for b in wanted if b not in BREAKDOWNS]
    if bad:
        raise ValidationError(
            f"unknown breakdown {bad[0]!r}; choose from {', '.join(BREAKDOWNS)}", field="breakdown"
        )
    sel = Selection(
        since=datetime.combine(since, time(), UTC) if since else None,
        until=datetime.combine(until, time(), UTC) if until else None,
    )
    con = _source(app, source).connect()
    try:
        report = kpi_report(
            con, app.settings.analytics, source=source, selection=sel, breakdowns=wanted
        )
    finally:
        con.close()
    return report.to_json()


@router.get("/analytics/forecast")
def forecast(
    app: AppDep,
    _: Annotated[Principal, Depends(Allow(ANALYST_EXPORT))],
    source: Annotated[str, Query(description="'log' or 'history'.")] = "log",
    call_type: Annotated[list[str] | None, Query(description="Call types (repeat).")] = None,
    area: Annotated[list[str] | None, Query(description="Areas (repeat).")] = None,
    horizon: Annotated[int, Query(ge=1, le=168)] = 24,
    weeks: Annotated[int, Query(ge=3, le=52)] = 10,
) -> dict[str, Any]:
    """Forecast calls per hour with prediction intervals, backtested against seasonal naive."""
    from vigil.analytics.forecast import forecast_demand  # noqa: PLC0415 - statsmodels

    con = _source(app, source).connect()
    try:
        result = forecast_demand(
            con,
            app.settings.analytics,
            now=app.clock.now(),
            horizon=horizon,
            weeks=weeks,
            call_types=call_type or (),
            areas=area or (),
        )
    except ValueError as err:
        raise ValidationError(str(err), field="call_type") from err
    finally:
        con.close()
    return result.to_json()


@router.post("/analytics/forecast/issue")
def issue_forecast(
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(SUPERVISORS))],
    call_type: Annotated[str, Query(description="Call type ('' for all).")] = "",
    area: Annotated[str, Query(description="Area ('' for the whole city).")] = "",
    hours: Annotated[int, Query(ge=1, le=48, description="Hours ahead to sum.")] = 2,
) -> dict[str, Any]:
    """Forecast the next hours from the log and record it, so rules can act on it."""
    from vigil.analytics.events import ForecastIssued  # noqa: PLC0415
    from vigil.analytics.forecast import forecast_demand  # noqa: PLC0415 - statsmodels
    from vigil.core.events import Pending  # noqa: PLC0415
    from vigil.core.ids import new_event_id  # noqa: PLC0415

    con = _live(app).connect()
    try:
        result = forecast_demand(
            con,
            app.settings.analytics,
            now=app.clock.now(),
            horizon=max(hours, 24),
            call_types=(call_type,) if call_type else (),
            areas=(area,) if area else (),
        )
    except ValueError as err:
        raise ValidationError(str(err), field="call_type") from err
    finally:
        con.close()
    expected, low, high = result.forecast.total(hours)
    event = ForecastIssued(
        call_type=call_type,
        area=area,
        horizon_h=hours,
        expected=expected,
        low=low,
        high=high,
        level=result.forecast.level,
        mase=result.backtest.mase if result.backtest else None,
    )
    recorded = app.store.append(
        [
            Pending(
                id=new_event_id("FC"), at=app.clock.now(), actor=who.name, cause=None, event=event
            )
        ]
    )
    app.bus.publish(recorded)
    return {
        "expected": expected,
        "low": low,
        "high": high,
        "hours": hours,
        "seq": recorded[0].seq,
        "forecast": result.to_json(),
    }


page = APIRouter(tags=["analytics"])  # served at the site root, outside /api/v1


@page.get("/analyst", include_in_schema=False, dependencies=[Depends(Public())])
def analyst_page() -> Response:
    """Serve the analyst page (its data needs an analyst login; the page itself holds none)."""
    from vigil.web.static import DIST  # noqa: PLC0415 - only this page needs the build path

    index = DIST / "analyst.html"
    if not index.is_file():
        return HTMLResponse("<p>The web UI is not built: run scripts/build-web.</p>")
    return FileResponse(index, headers={"Cache-Control": "no-cache"})
