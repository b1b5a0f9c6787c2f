"""HTTP: citizen reports — the public form's API (no login) and the operators' moderation queue."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from vigil.api.security import Allow, AppDep, Principal, Public, Purpose
from vigil.audit.roles import DISPATCH, OPERATORS, PERSONAL_DATA, VIEWERS
from vigil.core.errors import ValidationError
from vigil.core.geometry import LatLon
from vigil.core.ids import IncidentId
from vigil.reports.service import CATEGORIES, NewReport, Report

router = APIRouter(tags=["citizen reports"])

# Operators who may look at a reporter's contact details (with a purpose, audited).
CONTACT_READERS = frozenset(PERSONAL_DATA & OPERATORS)


class ReportIn(BaseModel):
    """A report from a member of the public: anonymous unless contact details are given."""

    category: str = Field(description="One of GET /public/reports/categories.")
    text: str = Field(min_length=3, max_length=2000, description="What is wrong, in a few words.")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=50_000)
    photo_base64: str | None = Field(
        default=None, description="Optional JPEG/PNG/WebP, base64; metadata is stripped."
    )
    contact_name: str | None = Field(default=None, max_length=200)
    contact: str | None = Field(
        default=None, max_length=200, description="Phone or e-mail, if you want a call back."
    )


class SubmittedOut(BaseModel):
    """Where to follow a report: keep the link, it is the only way to see the report's status."""

    report_id: str
    status_url: str
    status_token: str


class StatusOut(BaseModel):
    """What a reporter sees about their report."""

    status: Literal["received", "incident opened", "merged with another report", "closed"]
    category: str
    submitted_at: datetime
    updated_at: datetime
    note: str | None = Field(description="The operator's reason, when the report was closed.")


class ReportOut(BaseModel):
    """A report in the moderation queue."""

    id: str
    state: str
    category: str
    category_label: str
    text: str
    lat: float
    lon: float
    accuracy_m: float | None
    has_photo: bool
    has_contact: bool
    submitted_at: datetime
    updated_at: datetime
    incident_id: IncidentId | None
    merged_into: str | None
    decided_by: str | None
    reason: str | None


def report_out(r: Report) -> ReportOut:
    """Serialise a report for operators."""
    return ReportOut(
        id=r.id,
        state=r.state,
        category=r.category,
        category_label=CATEGORIES[r.category],
        text=r.text,
        lat=r.location.lat,
        lon=r.location.lon,
        accuracy_m=r.accuracy_m,
        has_photo=r.has_photo,
        has_contact=r.has_contact,
        submitted_at=r.submitted_at,
        updated_at=r.updated_at,
        incident_id=r.incident_id,
        merged_into=r.merged_into,
        decided_by=r.decided_by,
        reason=r.reason,
    )


@router.get("/public/reports/categories", dependencies=[Depends(Public())])
def categories() -> dict[str, str]:
    """What can be reported (key -> label)."""
    return dict(CATEGORIES)


@router.get("/public/reports/area", dependencies=[Depends(Public())])
def area(app: AppDep) -> dict[str, Any]:
    """Where reports are taken (the city's extent) and whether the offline basemap exists."""
    network = app.network
    if network is None:
        return {"basemap": False, "bbox": None, "center": None}
    b, c = network.bbox, network.center
    return {"basemap": True, "bbox": [b.west, b.south, b.east, b.north], "center": [c.lon, c.lat]}


@router.post("/public/reports", status_code=201, dependencies=[Depends(Public())])
def submit(body: ReportIn, request: Request, app: AppDep) -> SubmittedOut:
    """Report a hazard or a problem. No login; rate-limited per device and per area."""
    photo = None
    if body.photo_base64:
        raw = body.photo_base64.split(",", 1)[-1]  # tolerate a data: URL prefix
        try:
            photo = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as err:
            raise ValidationError("photo_base64 is not base64", field="photo_base64") from err
    client = request.client.host if request.client else "unknown"
    report, token = app.reports.submit(
        NewReport(
            category=body.category,
            text=body.text,
            location=LatLon(lat=body.lat, lon=body.lon),
            accuracy_m=body.accuracy_m,
            photo=photo,
            contact_name=body.contact_name,
            contact=body.contact,
        ),
        client=client,
    )
    return SubmittedOut(
        report_id=report.id,
        status_url=f"/report#status={token}",
        status_token=token,
    )


_STATUS: dict[
    str, Literal["received", "incident opened", "merged with another report", "closed"]
] = {
    "new": "received",
    "promoted": "incident opened",
    "merged": "merged with another report",
    "dismissed": "closed",
}


@router.get("/public/reports/status/{token}", dependencies=[Depends(Public())])
def status(token: str, app: AppDep) -> StatusOut:
    """A report's status, by the private token its reporter was given (nothing else shown)."""
    r = app.reports.by_token(token)
    return StatusOut(
        status=_STATUS[r.state],
        category=CATEGORIES[r.category],
        submitted_at=r.submitted_at,
        updated_at=r.updated_at,
        note=r.reason if r.state == "dismissed" else None,
    )


@router.get("/reports")
def queue(
    app: AppDep,
    _: Annotated[Principal, Depends(Allow(VIEWERS))],
    state: Annotated[
        list[str] | None, Query(description="new, promoted, merged, dismissed")
    ] = None,
) -> list[ReportOut]:
    """The moderation queue (newest first); `state=new` is what awaits an operator."""
    return [report_out(r) for r in app.reports.find(states=frozenset(state) if state else None)]


@router.get("/reports/map.geojson")
def reports_geojson(
    app: AppDep, _: Annotated[Principal, Depends(Allow(VIEWERS))]
) -> dict[str, Any]:
    """New (unmoderated) reports as GeoJSON points for the command-centre map."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [r.location.lon, r.location.lat]},
                "properties": {
                    "id": r.id,
                    "category": r.category,
                    "label": CATEGORIES[r.category],
                    "text": r.text,
                    "submitted_at": r.submitted_at.isoformat(),
                    "has_photo": r.has_photo,
                },
            }
            for r in app.reports.find(states=frozenset({"new"}))
        ],
    }


@router.get("/reports/{report_id}")
def get_report(
    report_id: str, app: AppDep, _: Annotated[Principal, Depends(Allow(VIEWERS))]
) -> ReportOut:
    """One report."""
    return report_out(app.reports.get(report_id))


@router.get("/reports/{report_id}/photo", response_class=Response)
def photo(
    report_id: str, app: AppDep, _: Annotated[Principal, Depends(Allow(OPERATORS))]
) -> Response:
    """The report's photo as stored: re-encoded JPEG without EXIF/GPS metadata."""
    return Response(app.reports.photo(report_id), media_type="image/jpeg")


@router.get("/reports/{report_id}/contact")
def contact(
    report_id: str,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(CONTACT_READERS))],
    why: Purpose,
) -> dict[str, str | None]:
    """The reporter's contact details: needs X-Vigil-Purpose; audited before it is returned."""
    app.reports.get(report_id)
    pd = app.access.caller(report_id, actor=who.name, purpose=why)
    return {
        "name": pd.caller_name,
        "contact": pd.caller_phone,
        "expires_at": pd.expires_at.isoformat(),
    }


class PromoteIn(BaseModel):
    """Open an incident from the report."""

    incident_type: str = Field(description="A catalogue incident type, e.g. flood.")
    priority: int | None = Field(default=None, ge=1, le=5)
    reason: str = Field(min_length=1, max_length=2000)


class MergeIn(BaseModel):
    """Merge a duplicate into another report or an incident (exactly one)."""

    into_report: str | None = None
    into_incident: IncidentId | None = None
    reason: str = Field(min_length=1, max_length=2000)


class ReasonIn(BaseModel):
    """Why (the reporter sees it on their status link)."""

    reason: str = Field(min_length=1, max_length=2000)


@router.post("/reports/{report_id}/promote")
def promote(
    report_id: str,
    body: PromoteIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(DISPATCH))],
) -> ReportOut:
    """Open an incident from the report; it joins the queue like any other."""
    return report_out(
        app.reports.promote(
            report_id,
            actor=who.name,
            incident_type=body.incident_type,
            priority=body.priority,
            reason=body.reason,
        )
    )


@router.post("/reports/{report_id}/merge")
def merge(
    report_id: str, body: MergeIn, app: AppDep, who: Annotated[Principal, Depends(Allow(DISPATCH))]
) -> ReportOut:
    """Mark the report a duplicate."""
    return report_out(
        app.reports.merge(
            report_id,
            actor=who.name,
            into_report=body.into_report,
            into_incident=body.into_incident,
            reason=body.reason,
        )
    )


@router.post("/reports/{report_id}/dismiss")
def dismiss(
    report_id: str, body: ReasonIn, app: AppDep, who: Annotated[Principal, Depends(Allow(DISPATCH))]
) -> ReportOut:
    """Dismiss the report with a reason."""
    return report_out(app.reports.dismiss(report_id, actor=who.name, reason=body.reason))
