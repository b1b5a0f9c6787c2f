"""The public transparency report: `/transparency` (HTML) and `/api/v1/transparency` (JSON).

No login: the report holds counts, measurements and settings only (see
`vigil.analytics.transparency`), never personal data or free text.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from vigil.analytics.transparency import TransparencyFacts, gather, render_html
from vigil.api.security import AppDep, Public
from vigil.app import App
from vigil.core.errors import ValidationError

router = APIRouter(tags=["transparency"])
page = APIRouter(tags=["transparency"])  # served at the site root, outside /api/v1

SinceQ = Annotated[date | None, Query(description="First day (UTC); default 30 days ago.")]
UntilQ = Annotated[date | None, Query(description="Day after the last (UTC); default tomorrow.")]


def facts(app: App, since: date | None, until: date | None) -> TransparencyFacts:
    """Collect the report for [since, until) from the running platform."""
    now = app.clock.now()
    end = (
        datetime.combine(until, time(), UTC)
        if until
        else datetime.combine(now.date() + timedelta(days=1), time(), UTC)
    )
    start = datetime.combine(since, time(), UTC) if since else end - timedelta(days=31)
    if end <= start:
        raise ValidationError("until must be after since", field="until")
    if end - start > timedelta(days=3660):
        raise ValidationError("the period may span at most ten years", field="since")
    return gather(
        app.store,
        devices_by_kind=dict(Counter(str(d.kind) for d in app.ingest.registry.all())),
        dead_letters=dict(app.ingest.stats().by_reason),
        retention_days=app.settings.audit.personal_data_retention_days,
        settings=app.settings.analytics,
        since=start,
        until=end,
        now=now,
    )


@router.get("/transparency", dependencies=[Depends(Public())])
def transparency_json(app: AppDep, since: SinceQ = None, until: UntilQ = None) -> dict[str, Any]:
    """Return the transparency report as JSON (public; counts and KPIs only)."""
    return facts(app, since, until).to_json()


@page.get("/transparency", response_class=HTMLResponse, dependencies=[Depends(Public())])
def transparency_page(app: AppDep, since: SinceQ = None, until: UntilQ = None) -> HTMLResponse:
    """Serve the transparency report as a public web page with its plots."""
    return HTMLResponse(render_html(facts(app, since, until)))
