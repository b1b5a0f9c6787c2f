"""Calls: take a call, read it, read its caller (audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from vigil.api.schemas import CallCreated, CallerOut, CallIn, CallOut, IncidentOut
from vigil.api.security import Allow, AppDep, CommandId, Principal, Purpose
from vigil.audit.roles import OPERATORS, PERSONAL_DATA, VIEWERS
from vigil.cad.service import NewCall
from vigil.core.ids import CallId
from vigil.incidents.events import CallReceived, IncidentOpened

router = APIRouter(tags=["calls"])


@router.post("/calls", status_code=201)
def take_call(
    body: CallIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(OPERATORS))],
    response: Response,
    cmd: CommandId,
) -> CallCreated:
    """Record a call; it opens an incident, or attaches to the open one named."""
    outcome = app.cad.take_call(
        NewCall(
            received_at=body.received_at,
            location=body.location.to_domain() if body.location else None,
            accuracy_m=body.accuracy_m,
            address=body.address,
            nature=body.nature,
            notes=body.notes,
            caller_name=body.caller_name,
            caller_phone=body.caller_phone,
            incident_id=body.incident_id,
            incident_type=body.incident_type,
            priority=body.priority,
        ),
        actor=who.name,
        command_id=cmd,
    )
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    received = next(r.event for r in outcome.records if isinstance(r.event, CallReceived))
    opened = any(isinstance(r.event, IncidentOpened) for r in outcome.records)
    return CallCreated(
        call=CallOut.of(app.cad.call(received.call_id)),
        incident=IncidentOut.of(app.cad.incident(received.incident_id), geocoder=app.geocoder),
        opened_incident=opened,
    )


@router.get("/calls/{call_id}")
def get_call(
    call_id: CallId, app: AppDep, _: Annotated[Principal, Depends(Allow(VIEWERS))]
) -> CallOut:
    """Return a call without the caller's identity."""
    return CallOut.of(app.cad.call(call_id))


@router.get("/calls/{call_id}/caller")
def get_caller(
    call_id: CallId,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(PERSONAL_DATA))],
    why: Purpose,
) -> CallerOut:
    """Return the caller's name and phone; the access and its purpose are audited."""
    app.cad.call(call_id)
    data = app.access.caller(call_id, actor=who.name, purpose=why)
    return CallerOut(
        call_id=call_id,
        caller_name=data.caller_name,
        caller_phone=data.caller_phone,
        expires_at=data.expires_at,
    )
