"""Pure decisions about units: ``decide(state, command, now) -> events``.

Registration, assignment to an incident, release, reported status and AVL
positions. Like `vigil.incidents.decide`: no I/O, no clock, no id generation;
a decision returns events or raises a domain error naming the field. Units
depend on incidents (a unit works on one), so the consequences a unit's change
has for its incident (dispatched, on scene, back to pending) are decided here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from vigil.core.errors import NotFoundError, TransitionError, ValidationError
from vigil.core.events import Event
from vigil.core.geometry import LatLon
from vigil.core.ids import IncidentId, UnitId
from vigil.incidents.decide import IncidentState, incident
from vigil.incidents.events import IncidentStatusChanged
from vigil.incidents.model import Incident, IncidentStatus
from vigil.units.events import (
    UnitAssigned,
    UnitPositionReported,
    UnitRegistered,
    UnitReleased,
    UnitStatusChanged,
)
from vigil.units.model import Unit, UnitStatus, check_unit_move

MAX_FUTURE = timedelta(minutes=5)  # clock skew tolerated on an AVL fix


class UnitState(IncidentState, Protocol):
    """What unit decisions read: units, and the incidents they work on."""

    @property
    def units(self) -> Mapping[UnitId, Unit]:
        """Units by id."""
        ...


def unit(state: UnitState, unit_id: UnitId) -> Unit:
    """Return one unit or refuse an unknown id."""
    try:
        return state.units[unit_id]
    except KeyError:
        raise NotFoundError(f"no unit {unit_id!r}", field="unit_id") from None


# ------------------------------------------------------------------ commands


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterUnit:
    """Add a unit of a catalogued type to the fleet, available at `location`."""

    unit_id: UnitId
    callsign: str | None
    type: str
    station: str | None
    location: LatLon | None
    extra_capabilities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignUnits:
    """Send available units to an active incident."""

    incident_id: IncidentId
    unit_ids: tuple[UnitId, ...]
    etas: Mapping[UnitId, float] = field(default_factory=dict)
    recommended: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseUnit:
    """Take a unit off the incident it is assigned to."""

    incident_id: IncidentId
    unit_id: UnitId
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportStatus:
    """A status a unit reports (en route, on scene, transporting, available, ...)."""

    unit_id: UnitId
    status: UnitStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class Fix:
    """One AVL fix."""

    unit_id: UnitId
    location: LatLon
    fix_at: datetime
    heading_deg: float | None = None
    speed_mps: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportPositions:
    """A batch of AVL fixes."""

    fixes: tuple[Fix, ...]


UnitCommand = RegisterUnit | AssignUnits | ReleaseUnit | ReportStatus | ReportPositions


# ----------------------------------------------------------------- decisions


def decide(state: UnitState, command: UnitCommand, now: datetime) -> list[Event]:
    """Return the events a command produces against `state`, or raise a domain error."""
    match command:
        case RegisterUnit():
            return register_unit(state, command)
        case AssignUnits():
            return assign(state, command)
        case ReleaseUnit():
            return release(state, command)
        case ReportStatus():
            return report_status(state, command)
        case ReportPositions():
            return report_positions(state, command, now)


def register_unit(state: UnitState, cmd: RegisterUnit) -> list[Event]:
    """Register a new unit; its capabilities are its type's plus any extra ones."""
    if not cmd.unit_id or len(cmd.unit_id) > 32:
        raise ValidationError("unit id must be 1-32 characters", field="id")
    if cmd.unit_id in state.units:
        raise TransitionError(f"unit {cmd.unit_id} already exists", field="id")
    utype = state.catalogue.unit_type(cmd.type)
    caps = tuple(dict.fromkeys((*utype.capabilities, *cmd.extra_capabilities)))
    return [
        UnitRegistered(
            unit_id=cmd.unit_id,
            callsign=cmd.callsign or cmd.unit_id,
            agency=utype.agency,
            type=cmd.type,
            capabilities=caps,
            station=cmd.station,
            location=cmd.location,
        )
    ]


def assign(state: UnitState, cmd: AssignUnits) -> list[Event]:
    """Assign available units to an active incident; a pending incident becomes dispatched."""
    inc = incident(state, cmd.incident_id)
    if not cmd.unit_ids:
        raise ValidationError("name at least one unit", field="unit_ids")
    if len(set(cmd.unit_ids)) != len(cmd.unit_ids):
        raise ValidationError("a unit is named twice", field="unit_ids")
    if not inc.active:
        raise TransitionError(
            f"incident {cmd.incident_id} is {inc.status}; units cannot be assigned",
            field="incident_id",
        )
    events: list[Event] = []
    for uid in cmd.unit_ids:
        u = unit(state, uid)
        if u.status is not UnitStatus.AVAILABLE:
            where = f" on {u.incident_id}" if u.incident_id else ""
            raise TransitionError(
                f"unit {uid} is {u.status}{where}; only available units can be assigned",
                field="unit_ids",
            )
        events.append(
            UnitAssigned(
                unit_id=uid,
                incident_id=cmd.incident_id,
                eta_s=cmd.etas.get(uid),
                recommended=cmd.recommended,
            )
        )
    if inc.status is IncidentStatus.PENDING:
        events.append(
            IncidentStatusChanged(
                incident_id=cmd.incident_id,
                old=inc.status,
                new=IncidentStatus.DISPATCHED,
                reason=f"assigned {', '.join(cmd.unit_ids)}",
            )
        )
    return events


def release(state: UnitState, cmd: ReleaseUnit) -> list[Event]:
    """Release a unit from the incident it is assigned to."""
    inc = incident(state, cmd.incident_id)
    u = unit(state, cmd.unit_id)
    if u.incident_id != cmd.incident_id:
        raise TransitionError(
            f"unit {cmd.unit_id} is not assigned to incident {cmd.incident_id}", field="unit_id"
        )
    return release_events(inc, [u], cmd.reason)


def release_events(inc: Incident, units: Sequence[Unit], reason: str) -> list[Event]:
    """Release units from an incident; one left without units goes back to pending."""
    events: list[Event] = [
        UnitReleased(unit_id=u.id, incident_id=inc.id, reason=reason) for u in units
    ]
    left = set(inc.unit_ids) - {u.id for u in units}
    if not left and inc.status in (IncidentStatus.DISPATCHED, IncidentStatus.ON_SCENE):
        events.append(
            IncidentStatusChanged(
                incident_id=inc.id,
                old=inc.status,
                new=IncidentStatus.PENDING,
                reason="no units left on the incident",
            )
        )
    return events


def clear_incident(state: UnitState, incident_id: IncidentId, reason: str) -> list[Event]:
    """Release every unit still on an incident that is closing or being cancelled."""
    inc = incident(state, incident_id)
    return [
        UnitReleased(unit_id=unit(state, u).id, incident_id=inc.id, reason=reason)
        for u in inc.unit_ids
    ]


def report_status(state: UnitState, cmd: ReportStatus) -> list[Event]:
    """Apply a reported status; clearing releases the unit, arriving puts the incident on scene."""
    u = unit(state, cmd.unit_id)
    new = cmd.status
    if new is UnitStatus.DISPATCHED:
        raise TransitionError(
            "units become dispatched by assignment, not by status report", field="status"
        )
    check_unit_move(cmd.unit_id, u.status, new)
    if new is UnitStatus.AVAILABLE and u.incident_id is not None:
        inc = incident(state, u.incident_id)
        return release_events(inc, [u], reason=f"{cmd.unit_id} cleared")
    events: list[Event] = [
        UnitStatusChanged(unit_id=cmd.unit_id, old=u.status, new=new, incident_id=u.incident_id)
    ]
    if new is UnitStatus.ON_SCENE and u.incident_id is not None:
        inc = incident(state, u.incident_id)
        if inc.status is IncidentStatus.DISPATCHED:
            events.append(
                IncidentStatusChanged(
                    incident_id=inc.id,
                    old=inc.status,
                    new=IncidentStatus.ON_SCENE,
                    reason=f"{cmd.unit_id} on scene",
                )
            )
    return events


def report_positions(state: UnitState, cmd: ReportPositions, now: datetime) -> list[Event]:
    """Record AVL fixes of known units; refuse fixes from the future."""
    events: list[Event] = []
    for fix in cmd.fixes:
        unit(state, fix.unit_id)
        if fix.fix_at > now + MAX_FUTURE:
            raise ValidationError(f"fix for {fix.unit_id} is in the future", field="fix_at")
        events.append(
            UnitPositionReported(
                unit_id=fix.unit_id,
                location=fix.location,
                fix_at=fix.fix_at,
                heading_deg=fix.heading_deg,
                speed_mps=fix.speed_mps,
            )
        )
    return events
