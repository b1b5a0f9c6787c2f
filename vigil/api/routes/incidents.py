"""Incidents: open, list, read, change, assign, release, close, timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from vigil.api.runs import GZIP_MINIMUM_BYTES, accepts_gzip
from vigil.api.schemas import (
    AssignIn,
    CloseIn,
    EventOut,
    IncidentIn,
    IncidentOut,
    IncidentPatch,
    NoteIn,
    ReasonIn,
)
from vigil.api.security import Allow, AppDep, CommandId, IncidentViewsDep, Principal
from vigil.audit.roles import DISPATCH, OPERATORS, SUPERVISORS, VIEWERS
from vigil.cad.service import Outcome
from vigil.core.errors import ValidationError
from vigil.core.geometry import BBox
from vigil.core.ids import IncidentId, UnitId
from vigil.incidents.events import IncidentOpened
from vigil.incidents.model import Incident, IncidentStatus

router = APIRouter(tags=["incidents"])


def _replayed(response: Response, outcome: Outcome) -> None:
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"


@router.get("/incidents", response_model=list[IncidentOut])
def list_incidents(
    request: Request,
    app: AppDep,
    views: IncidentViewsDep,
    _: Annotated[Principal, Depends(Allow(VIEWERS))],
    status: Annotated[list[IncidentStatus] | None, Query(description="Repeatable.")] = None,
    active: Annotated[bool, Query(description="Only pending, dispatched, on scene.")] = False,
    since: Annotated[datetime | None, Query(description="Opened at or after.")] = None,
    until: Annotated[datetime | None, Query(description="Opened before.")] = None,
    bbox: Annotated[str | None, Query(description="west,south,east,north")] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Search: an incident number (26-000123, or just 123), an id, or "
            "words of the address, type or description.",
        ),
    ] = None,
) -> Response:
    """List incidents by status, time range, bounding box and search; most urgent first."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ValidationError("give a timezone (e.g. Z or +02:00)", field=name)
    statuses = frozenset(status) if status else None
    if active:
        active_set = frozenset(
            {IncidentStatus.PENDING, IncidentStatus.DISPATCHED, IncidentStatus.ON_SCENE}
        )
        statuses = active_set if statuses is None else statuses & active_set
    found = app.cad.incidents(
        statuses=statuses,
        since=since,
        until=until,
        bbox=BBox.parse(bbox) if bbox else None,
    )
    if q is not None and q.strip():
        found = [i for i in found if matches(i, q)]
    # Each incident's JSON is rendered once per change, not once per poll, and compressed
    # once per run of incidents it falls in (vigil.api.runs).
    listing = views.listing(found)
    if listing.size >= GZIP_MINIMUM_BYTES and accepts_gzip(request.headers.get("accept-encoding")):
        return Response(
            listing.gzip(),
            media_type="application/json",
            headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
        )
    return Response(listing.json(), media_type="application/json")


def matches(incident: Incident, query: str) -> bool:
    """Return whether an incident answers a dispatcher's search text."""
    text = query.strip().casefold()
    number = incident.number or ""
    if text in (number, incident.id.casefold()):
        return True
    words = " ".join(
        (incident.type.replace("_", " "), incident.address or "", incident.description)
    ).casefold()
    if text.isdigit():  # "123": that number of any year, or a house number
        return number.endswith("-" + text.zfill(6)) or text in words.split()
    return all(word in f"{number} {words}" for word in text.split())


@router.post("/incidents", status_code=201)
def open_incident(
    body: IncidentIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(DISPATCH))],
    response: Response,
    cmd: CommandId,
) -> IncidentOut:
    """Open an incident without a call (e.g. an officer's own observation)."""
    outcome = app.cad.open_incident(
        actor=who.name,
        type=body.type,
        location=body.location.to_domain() if body.location else None,
        address=body.address,
        description=body.description,
        priority=body.priority,
        command_id=cmd,
    )
    _replayed(response, outcome)
    opened = next(r.event for r in outcome.records if isinstance(r.event, IncidentOpened))
    return IncidentOut.of(app.cad.incident(opened.incident_id), geocoder=app.geocoder)


@router.get("/incidents/{incident_id}")
def get_incident(
    incident_id: IncidentId, app: AppDep, _: Annotated[Principal, Depends(Allow(VIEWERS))]
) -> IncidentOut:
    """Return one incident."""
    return IncidentOut.of(app.cad.incident(incident_id), geocoder=app.geocoder)


@router.patch("/incidents/{incident_id}")
def update_incident(
    incident_id: IncidentId,
    body: IncidentPatch,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(DISPATCH))],
    response: Response,
    cmd: CommandId,
) -> IncidentOut:
    """Change type, priority, location, address or description."""
    outcome = app.cad.update_incident(
        incident_id,
        actor=who.name,
        type=body.type,
        priority=body.priority,
        location=body.location.to_domain() if body.location else None,
        address=body.address,
        description=body.description,
        reason=body.reason,
        command_id=cmd,
    )
    _replayed(response, outcome)
    return IncidentOut.of(app.cad.incident(incident_id), geocoder=app.geocoder)


@router.post("/incidents/{incident_id}/close")
def close_incident(
    incident_id: IncidentId,
    body: CloseIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(DISPATCH))],
    response: Response,
    cmd: CommandId,
) -> IncidentOut:
    """Close with a disposition; units still assigned are cleared."""
    outcome = app.cad.close_incident(
        incident_id,
        actor=who.name,
        disposition=body.disposition,
        notes=body.notes,
        command_id=cmd,
    )
    _replayed(response, outcome)
    return IncidentOut.of(app.cad.incident(incident_id), geocoder=app.geocoder)


@router.post("/incidents/{incident_id}/cancel")
def cancel_incident(
    incident_id: IncidentId,
    body: ReasonIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(DISPATCH))],
    response: Response,
    cmd: CommandId,
) -> IncidentOut:
    """Cancel before anyone arrived (unfounded, duplicate, ...)."""
    outcome = app.cad.cancel_incident(
        incident_id, actor=who.name, reason=body.reason, command_id=cmd
    )
    _replayed(response, outcome)
    return IncidentOut.of(app.cad.incident(incident_id), geocoder=app.geocoder)


@router.post("/incidents/{incident_id}/reopen")
def reopen_incident(
    incident_id: IncidentId,
    body: ReasonIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(SUPERVISORS))],
    response: Response,
    cmd: CommandId,
) -> IncidentOut:
    """Bring a closed or cancelled incident back to the queue (supervisors)."""
    outcome = app.cad.reopen_incident(
        incident_id, actor=who.name, reason=body.reason, command_id=cmd
    )
    _replayed(response, outcome)
    return IncidentOut.of(app.cad.incident(incident_id), geocoder=app.geocoder)


@router.post("/incidents/{incident_id}/notes", status_code=201)
def add_note(
    incident_id: IncidentId,
    body: NoteIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(OPERATORS))],
    response: Response,
    cmd: CommandId,
) -> EventOut:
    """Add a note to the timeline."""
    outcome = app.cad.add_note(incident_id, actor=who.name, text=body.text, command_id=cmd)
    _replayed(response, outcome)
    return EventOut.of(outcome.records[0])


@router.post("/incidents/{incident_id}/assignments")
def assign_units(
    incident_id: IncidentId,
    body: AssignIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(DISPATCH))],
    response: Response,
    cmd: CommandId,
) -> IncidentOut:
    """Send units; or, with accept_recommendation, the recommended set in one call."""
    etas: dict[UnitId, float] = {}
    unit_ids = list(body.unit_ids)
    if body.accept_recommendation:
        if unit_ids:
            raise ValidationError(
                "give unit_ids or accept_recommendation, not both", field="unit_ids"
            )
        rec = app.dispatch.recommend(incident_id)
        unit_ids = [c.unit_id for c in rec.chosen]
        etas = {c.unit_id: c.eta_s for c in rec.chosen}
        if not unit_ids:
            raise ValidationError(
                "the recommendation holds no units: " + "; ".join(rec.uncovered_reasons()),
                field="accept_recommendation",
            )
    outcome = app.cad.assign(
        incident_id,
        unit_ids,
        actor=who.name,
        etas=etas,
        recommended=body.accept_recommendation,
        command_id=cmd,
    )
    _replayed(response, outcome)
    return IncidentOut.of(app.cad.incident(incident_id), geocoder=app.geocoder)


@router.post("/incidents/{incident_id}/assignments/{unit_id}/release")
def release_unit(
    incident_id: IncidentId,
    unit_id: UnitId,
    body: ReasonIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(DISPATCH))],
    response: Response,
    cmd: CommandId,
) -> IncidentOut:
    """Take a unit off the incident; it becomes available."""
    outcome = app.cad.release(
        incident_id, unit_id, actor=who.name, reason=body.reason, command_id=cmd
    )
    _replayed(response, outcome)
    return IncidentOut.of(app.cad.incident(incident_id), geocoder=app.geocoder)


@router.get("/incidents/{incident_id}/timeline")
def timeline(
    incident_id: IncidentId, app: AppDep, _: Annotated[Principal, Depends(Allow(VIEWERS))]
) -> list[EventOut]:
    """Return everything that happened on the incident: who, what, when, why."""
    return [EventOut.of(r) for r in app.cad.timeline(incident_id)]
