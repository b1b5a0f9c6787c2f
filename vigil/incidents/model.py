"""Incident and call records and the incident lifecycle state machine (pure)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec

from vigil.core.errors import TransitionError
from vigil.core.geometry import LatLon
from vigil.core.ids import CallId, IncidentId, UnitId


class Agency(StrEnum):
    """The agency that leads the response."""

    POLICE = "police"
    FIRE = "fire"
    EMS = "ems"
    MUNICIPAL = "municipal"


class IncidentStatus(StrEnum):
    """Where an incident is in its life."""

    PENDING = "pending"
    DISPATCHED = "dispatched"
    ON_SCENE = "on_scene"
    CLOSED = "closed"
    CANCELLED = "cancelled"


ACTIVE_INCIDENT = frozenset(
    {IncidentStatus.PENDING, IncidentStatus.DISPATCHED, IncidentStatus.ON_SCENE}
)

# What a real CAD lets an incident do. Dispatched/on-scene are reached through
# unit assignment and unit status; close needs a disposition; cancel is for an
# incident that turned out unfounded before anyone arrived; reopen brings a
# closed or cancelled incident back to the queue.
_INCIDENT_MOVES: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    IncidentStatus.PENDING: frozenset(
        {IncidentStatus.DISPATCHED, IncidentStatus.CLOSED, IncidentStatus.CANCELLED}
    ),
    IncidentStatus.DISPATCHED: frozenset(
        {
            IncidentStatus.PENDING,
            IncidentStatus.ON_SCENE,
            IncidentStatus.CLOSED,
            IncidentStatus.CANCELLED,
        }
    ),
    IncidentStatus.ON_SCENE: frozenset({IncidentStatus.DISPATCHED, IncidentStatus.CLOSED}),
    IncidentStatus.CLOSED: frozenset({IncidentStatus.PENDING}),
    IncidentStatus.CANCELLED: frozenset({IncidentStatus.PENDING}),
}


def check_incident_move(incident_id: str, old: IncidentStatus, new: IncidentStatus) -> None:
    """Refuse a lifecycle move a real CAD would not allow."""
    if new not in _INCIDENT_MOVES[old]:
        allowed = ", ".join(sorted(_INCIDENT_MOVES[old])) or "none"
        raise TransitionError(
            f"incident {incident_id} is {old}; it cannot become {new} (allowed: {allowed})",
            field="status",
        )


class Incident(msgspec.Struct, frozen=True, kw_only=True):
    """The projected state of one incident."""

    id: IncidentId
    type: str
    priority: int
    status: IncidentStatus
    agency: Agency
    location: LatLon | None
    address: str | None
    description: str
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    disposition: str | None = None
    call_ids: tuple[CallId, ...] = ()
    unit_ids: tuple[UnitId, ...] = ()
    units_ever: tuple[UnitId, ...] = ()
    caused_by_rule: str | None = None
    number: str | None = None  # short per-year number, e.g. 26-000123 (incidents/numbers.py)

    @property
    def active(self) -> bool:
        """Return whether the incident still needs attention."""
        return self.status in ACTIVE_INCIDENT


class Call(msgspec.Struct, frozen=True, kw_only=True):
    """An emergency call as projected; personal data lives apart (see store)."""

    id: CallId
    incident_id: IncidentId
    received_at: datetime
    location: LatLon | None
    accuracy_m: float | None
    address: str | None
    nature: str
    notes: str
    call_taker: str
    has_personal_data: bool
