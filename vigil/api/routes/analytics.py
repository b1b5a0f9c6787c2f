"""Analyst API: KPIs with CIs by breakdown, for the analyst page (and scripts)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from vigil.analytics.kpi import BREAKDOWNS, Selection, kpi_report
from vigil.analytics.source import LiveLogSource, ResponseSource
from vigil.api.security import Allow, AppDep, Principal
from vigil.audit.roles import ANALYST_EXPORT
from vigil.core.errors import ValidationError
from vigil.history.store import HistoryStore

router = APIRouter(tags=["analytics"])


def _source(app: AppDep, source: str) -> ResponseSource:
    if source == "log":
        return LiveLogSource(app.store)
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
