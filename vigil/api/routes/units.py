"""Units: register, list, status and position reports (AVL)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from vigil.api.schemas import PositionIn, PositionsIn, StatusIn, UnitIn, UnitOut
from vigil.api.security import Allow, AppDep, CommandId, Principal, bind_unit
from vigil.audit.roles import SUPERVISORS, UNIT_REPORTERS, VIEWERS
from vigil.core.errors import ConflictError
from vigil.core.ids import UnitId
from vigil.incidents.model import Agency
from vigil.units.model import UnitStatus

router = APIRouter(tags=["units"])


@router.get("/units")
def list_units(
    app: AppDep,
    _: Annotated[Principal, Depends(Allow(VIEWERS))],
    status: Annotated[UnitStatus | None, Query()] = None,
    agency: Annotated[Agency | None, Query()] = None,
) -> list[UnitOut]:
    """List units, optionally by status and agency."""
    return [UnitOut.of(u) for u in app.cad.units(status=status, agency=agency)]


@router.post("/units", status_code=201)
def register_unit(
    body: UnitIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(SUPERVISORS))],
    response: Response,
    cmd: CommandId,
) -> UnitOut:
    """Add a unit to the fleet (ids differing only in case from another are refused)."""
    twin = next((u.id for u in app.cad.units() if u.id.casefold() == body.id.casefold()), None)
    if twin is not None and twin != body.id:
        raise ConflictError(
            f"unit id {body.id!r} differs only in case from unit {twin!r}", field="id"
        )
    outcome = app.cad.register_unit(
        actor=who.name,
        unit_id=body.id,
        callsign=body.callsign,
        type=body.type,
        station=body.station,
        location=body.location.to_domain() if body.location else None,
        extra_capabilities=tuple(body.extra_capabilities),
        command_id=cmd,
    )
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return UnitOut.of(app.cad.unit(body.id))


@router.get("/units/{unit_id}")
def get_unit(
    unit_id: UnitId, app: AppDep, _: Annotated[Principal, Depends(Allow(VIEWERS))]
) -> UnitOut:
    """Return one unit."""
    return UnitOut.of(app.cad.unit(unit_id))


@router.post("/units/{unit_id}/status")
def set_status(
    unit_id: UnitId,
    body: StatusIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(UNIT_REPORTERS))],
    response: Response,
    cmd: CommandId,
) -> UnitOut:
    """Report a unit's new status (en route, on scene, transporting, available, ...)."""
    bind_unit(app, who, [unit_id])
    outcome = app.cad.set_unit_status(unit_id, body.status, actor=who.name, command_id=cmd)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return UnitOut.of(app.cad.unit(unit_id))


@router.post("/units/{unit_id}/position", status_code=202)
def report_position(
    unit_id: UnitId,
    body: PositionIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(UNIT_REPORTERS))],
    cmd: CommandId,
) -> dict[str, int]:
    """Record one AVL fix."""
    bind_unit(app, who, [unit_id])
    fix_at = body.fix_at or app.clock.now()
    outcome = app.cad.report_positions(
        [(unit_id, body.location.to_domain(), fix_at, body.heading_deg, body.speed_mps)],
        actor=who.name,
        command_id=cmd,
    )
    return {"recorded": len(outcome.records)}


@router.post("/units/positions", status_code=202)
def report_positions(
    body: PositionsIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(UNIT_REPORTERS))],
    cmd: CommandId,
) -> dict[str, int]:
    """Record a batch of AVL fixes in one transaction."""
    now = app.clock.now()
    bind_unit(app, who, [f.unit_id for f in body.fixes])
    outcome = app.cad.report_positions(
        [
            (f.unit_id, f.location.to_domain(), f.fix_at or now, f.heading_deg, f.speed_mps)
            for f in body.fixes
        ],
        actor=who.name,
        command_id=cmd,
    )
    return {"recorded": len(outcome.records)}
