"""Units: register, list, status and position reports (AVL)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from vigil.api.schemas import PositionIn, PositionsIn, StatusIn, UnitIn, UnitOut
from vigil.api.security import Allow, AppDep, CommandId, Principal
from vigil.app import App
from vigil.audit.roles import SUPERVISORS, UNIT_REPORTERS, VIEWERS, Role
from vigil.core.errors import ConflictError, ForbiddenError
from vigil.incidents.model import Agency
from vigil.units.model import UnitStatus

router = APIRouter(tags=["units"])


def _may_report(app: App, who: Principal, unit_ids: Iterable[str]) -> None:
    """Refuse a field unit reporting for any unit but the one its login is bound to.

    Unit ids are case-sensitive everywhere; logins are lower-case, so the login
    ``e1`` is bound to the one unit whose id folds to ``e1``. Registration refuses
    ids that differ only in case; should two such units exist all the same (an
    old log), the login is bound to neither rather than to both.
    """
    if who.role is not Role.FIELD_UNIT:
        return
    folded: dict[str, int] = {}
    for u in app.cad.units():
        folded[u.id.casefold()] = folded.get(u.id.casefold(), 0) + 1
    for unit_id in set(unit_ids):
        if unit_id.casefold() != who.name or folded.get(who.name, 0) > 1:
            raise ForbiddenError(
                f"field unit {who.name} may only report for its own unit, not {unit_id}",
                field="unit_id",
            )


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
    unit_id: str, app: AppDep, _: Annotated[Principal, Depends(Allow(VIEWERS))]
) -> UnitOut:
    """Return one unit."""
    return UnitOut.of(app.cad.unit(unit_id))


@router.post("/units/{unit_id}/status")
def set_status(
    unit_id: str,
    body: StatusIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(UNIT_REPORTERS))],
    response: Response,
    cmd: CommandId,
) -> UnitOut:
    """Report a unit's new status (en route, on scene, transporting, available, ...)."""
    _may_report(app, who, [unit_id])
    outcome = app.cad.set_unit_status(unit_id, body.status, actor=who.name, command_id=cmd)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return UnitOut.of(app.cad.unit(unit_id))


@router.post("/units/{unit_id}/position", status_code=202)
def report_position(
    unit_id: str,
    body: PositionIn,
    app: AppDep,
    who: Annotated[Principal, Depends(Allow(UNIT_REPORTERS))],
    cmd: CommandId,
) -> dict[str, int]:
    """Record one AVL fix."""
    _may_report(app, who, [unit_id])
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
    _may_report(app, who, [f.unit_id for f in body.fixes])
    outcome = app.cad.report_positions(
        [
            (f.unit_id, f.location.to_domain(), f.fix_at or now, f.heading_deg, f.speed_mps)
            for f in body.fixes
        ],
        actor=who.name,
        command_id=cmd,
    )
    return {"recorded": len(outcome.records)}
