"""HTTP: the public, unauthenticated alert feed — Atom, each alert's CAP XML, GeoJSON.

Only published, unexpired, not-superseded alerts appear; drafts and rejected
drafts are never served here. Each published document is served byte for byte
as it was recorded in the log at publication (a stable URL per alert).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from vigil.alerts.feed import atom_feed, geojson
from vigil.api.security import AppDep, Public
from vigil.core.errors import NotFoundError

router = APIRouter(tags=["public feed"])

CAP_MEDIA = "application/cap+xml"
ATOM_MEDIA = "application/atom+xml"


@router.get("/public/alerts.atom", response_class=Response, dependencies=[Depends(Public())])
def atom(app: AppDep) -> Response:
    """Atom feed of the city's active public alerts (what CAP aggregators poll)."""
    now = app.clock.now()
    body = atom_feed(
        app.alerts.public(now),
        base_url=app.settings.alerts.public_url,
        title=f"{app.settings.alerts.sender_name}: public alerts",
        now=now,
    )
    return Response(body, media_type=ATOM_MEDIA, headers={"Cache-Control": "public, max-age=30"})


@router.get("/public/alerts.geojson", dependencies=[Depends(Public())])
def public_geojson(app: AppDep) -> dict[str, Any]:
    """GeoJSON of the active public alerts' areas (polygons; circles as 32-gons)."""
    return geojson(app.alerts.public())


@router.get("/public/cap/{alert_id}.xml", response_class=Response, dependencies=[Depends(Public())])
def cap_document(alert_id: str, app: AppDep) -> Response:
    """One published alert's CAP 1.2 document, exactly as published (also once superseded)."""
    try:
        alert = app.alerts.get(alert_id)
    except NotFoundError:
        alert = None
    if alert is None or alert.published is None:
        # Drafts and rejected drafts are indistinguishable from unknown ids here.
        raise NotFoundError(f"no published alert {alert_id!r}", field="alert_id")
    return Response(alert.published.xml.encode("utf-8"), media_type=CAP_MEDIA)
