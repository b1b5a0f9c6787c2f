"""The field unit app's API: a crew's whole picture in one read, and notes from the field.

A crew logs in as its unit (role ``field_unit``, user name = the unit id in lower
case) and reads ``GET /field/units/{unit_id}``: the unit, the statuses it may
report next, its current incident (number, type, priority, address, notes), the
other units on it, and the route with turn-by-turn steps and the ETA. Status and
position go through the ordinary unit endpoints; every command carries an
Idempotency-Key, so the app's offline queue can resend without repeating effects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from vigil.api.routes.dispatch import RouteOut
from vigil.api.schemas import EventOut, IncidentOut, NoteIn, UnitOut
from vigil.api.security import Allow, AppDep, CommandId, Principal, bind_unit
from vigil.app import App
from vigil.audit.roles import UNIT_REPORTERS
from vigil.core.errors import TransitionError, VigilError
from vigil.core.ids import UnitId
from vigil.incidents.events import IncidentNoteAdded
from vigil.units.model import UnitStatus, reportable_moves

router = APIRouter(tags=["field"])


class FieldNoteOut(BaseModel):
    """A note on the timeline of the crew's incident."""

    at: datetime
    actor: str
    text: str


class FieldOut(BaseModel):
    """What a crew needs on its phone, read in one request."""

    now: datetime = Field(description="The server's time (the one clock; may be simulated).")
    unit: UnitOut
    may_report: list[UnitStatus] = Field(description="Statuses the unit may report next.")
    incident: IncidentOut | None
    others: list[UnitOut] = Field(description="Other units assigned to the same incident.")
    notes: list[FieldNoteOut]
    route: RouteOut | None
    route_problem: str | None = Field(description="Why there is no route, if there is none.")
    avl_interval_s: float = Field(description="How often the app sends the phone's position.")


def _own(app: App, who: Principal, unit_id: UnitId) -> None:
    bind_unit(app, who, [unit_id])  # one rule for every endpoint a field unit uses


@router.get("/field/units/{unit_id}")
def field_view(
    unit_id: UnitId, app: AppDep, who: Annotated[Principal, Depends(Allow(UNIT_REPORTERS))]
) -> FieldOut:
    """Return a crew's picture: unit, next statuses, incident, other units, notes, route."""
    _own(app, who, unit_id)
    unit = app.cad.unit(unit_id)
    incident = app.cad.incident(unit.incident_id) if unit.incident_id else None
    route: RouteOut | None = None
    problem: str | None = None
    notes: list[FieldNoteOut] = []
    others: list[UnitOut] = []
    if incident is not None:
        others = [UnitOut.of(app.cad.unit(u)) for u in incident.unit_ids if u != unit.id]
        notes = [
            FieldNoteOut(at=r.at, actor=r.actor, text=r.event.text)
            for r in app.cad.timeline(incident.id)
            if isinstance(r.event, IncidentNoteAdded)
        ]
        try:
            route = RouteOut.of(unit.id, incident.id, app.dispatch.route(incident.id, unit.id))
        except VigilError as err:  # no network, no position, no legal route
            problem = str(err)
    return FieldOut(
        now=app.clock.now(),
        unit=UnitOut.of(unit),
        may_report=reportable_moves(unit.status),
        incident=IncidentOut.of(incident, geocoder=app.geocoder) if incident else None,
        others=others,
        notes=notes,
        route=route,
        route_problem=problem,
        avl_interval_s=app.settings.ui.field_avl_interval_s,
    )


@router.post("/field/units/{unit_id}/notes", status_code=201)
def field_note(
    unit_id: UnitId,
    body: NoteIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(UNIT_REPORTERS))],
    response: Response,
    cmd: CommandId,
) -> EventOut:
    """Add a crew's note to the timeline of the incident its unit is assigned to."""
    _own(app, who, unit_id)
    unit = app.cad.unit(unit_id)
    if unit.incident_id is None:
        raise TransitionError(f"unit {unit_id} has no incident to note on", field="unit_id")
    outcome = app.cad.add_note(unit.incident_id, actor=who.name, text=body.text, command_id=cmd)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return EventOut.of(outcome.records[0])
