"""Calls: take a call, read it, read its caller (audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from vigil.api.schemas import CallCreated, CallerOut, CallIn, CallOut
from vigil.api.security import Allow, AppDep, CommandId, IncidentViewsDep, Principal, Purpose
from vigil.audit.roles import OPERATORS, PERSONAL_DATA, VIEWERS
from vigil.cad.service import NewCall
from vigil.core.ids import CallId
from vigil.incidents.events import CallReceived, IncidentOpened

router = APIRouter(tags=["calls"])


@router.post("/calls", status_code=201, response_model=CallCreated)
def take_call(
    body: CallIn,
    app: AppDep,
    views: IncidentViewsDep,
    who: Annotated[Principal, Depends(Allow(OPERATORS))],
    cmd: CommandId,
) -> Response:
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
    received = next(r.event for r in outcome.records if isinstance(r.event, CallReceived))
    opened = any(isinstance(r.event, IncidentOpened) for r in outcome.records)
    # CallCreated's JSON, written here: FastAPI would validate the model again before
    # encoding it, and the incident's form is the one the next poll of the list reuses.
    call = CallOut.of(app.cad.call(received.call_id))
    content = b"".join(
        (
            b'{"call":',
            call.__pydantic_serializer__.to_json(call),
            b',"incident":',
            views.json(app.cad.incident(received.incident_id)),
            b',"opened_incident":',
            b"true" if opened else b"false",
            b"}",
        )
    )
    response = Response(content, status_code=201, media_type="application/json")
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


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
