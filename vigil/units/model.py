"""Units and the unit status machine (pure)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec

from vigil.core.errors import TransitionError
from vigil.core.geometry import LatLon
from vigil.core.ids import IncidentId, UnitId
from vigil.incidents.model import Agency


class UnitStatus(StrEnum):
    """The heartbeat of CAD: what a unit is doing."""

    AVAILABLE = "available"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    TRANSPORTING = "transporting"
    AT_HOSPITAL = "at_hospital"
    OUT_OF_SERVICE = "out_of_service"


# Statuses in which a unit is committed to an incident.
COMMITTED = frozenset(
    {
        UnitStatus.DISPATCHED,
        UnitStatus.EN_ROUTE,
        UnitStatus.ON_SCENE,
        UnitStatus.TRANSPORTING,
        UnitStatus.AT_HOSPITAL,
    }
)

# Status moves a unit may report itself. Entering DISPATCHED happens only through
# assignment, leaving a commitment for AVAILABLE only through release/clear.
# Dispatched -> on scene is allowed: crews often forget "en route" when close by.
_UNIT_MOVES: dict[UnitStatus, frozenset[UnitStatus]] = {
    UnitStatus.AVAILABLE: frozenset({UnitStatus.DISPATCHED, UnitStatus.OUT_OF_SERVICE}),
    UnitStatus.DISPATCHED: frozenset(
        {UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE, UnitStatus.AVAILABLE}
    ),
    UnitStatus.EN_ROUTE: frozenset({UnitStatus.ON_SCENE, UnitStatus.AVAILABLE}),
    UnitStatus.ON_SCENE: frozenset({UnitStatus.TRANSPORTING, UnitStatus.AVAILABLE}),
    UnitStatus.TRANSPORTING: frozenset({UnitStatus.AT_HOSPITAL, UnitStatus.AVAILABLE}),
    UnitStatus.AT_HOSPITAL: frozenset({UnitStatus.AVAILABLE}),
    UnitStatus.OUT_OF_SERVICE: frozenset({UnitStatus.AVAILABLE}),
}


def reportable_moves(old: UnitStatus) -> list[UnitStatus]:
    """Return the statuses a unit in `old` may report itself (dispatched comes by assignment)."""
    return sorted(s for s in _UNIT_MOVES[old] if s is not UnitStatus.DISPATCHED)


def check_unit_move(unit_id: str, old: UnitStatus, new: UnitStatus) -> None:
    """Refuse a status jump a real unit could not make."""
    if new not in _UNIT_MOVES[old]:
        allowed = ", ".join(sorted(_UNIT_MOVES[old]))
        raise TransitionError(
            f"unit {unit_id} is {old}; it cannot report {new} (allowed: {allowed})",
            field="status",
        )


class Unit(msgspec.Struct, frozen=True, kw_only=True):
    """The projected state of one unit."""

    id: UnitId
    callsign: str
    agency: Agency
    type: str
    capabilities: tuple[str, ...]
    station: str | None
    status: UnitStatus
    incident_id: IncidentId | None
    location: LatLon | None
    location_at: datetime | None
    updated_at: datetime

    @property
    def committed(self) -> bool:
        """Return whether the unit is busy on an incident."""
        return self.status in COMMITTED
