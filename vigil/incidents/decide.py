"""Pure decisions about calls and incidents: ``decide(state, command, now) -> events``.

No I/O, no clock, no id generation: the command carries every id it needs and
the caller passes `now`. A decision either returns the events the command
produces or raises a domain error naming the field; it never changes `state`.
Consequences for units (releasing them when an incident closes) are decided in
`vigil.units.decide`, which may read incidents; this package never reads units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from vigil.core.errors import NotFoundError, TransitionError, ValidationError
from vigil.core.events import Event
from vigil.core.geometry import LatLon
from vigil.core.ids import CallId, IncidentId
from vigil.incidents.catalogue import Catalogue
from vigil.incidents.events import (
    CallReceived,
    IncidentCancelled,
    IncidentClosed,
    IncidentNoteAdded,
    IncidentOpened,
    IncidentReopened,
    IncidentUpdated,
)
from vigil.incidents.model import Incident, IncidentStatus, check_incident_move

MAX_FUTURE = timedelta(minutes=5)  # clock skew tolerated on a call's received time


class IncidentState(Protocol):
    """What incident decisions read: the incidents, and the catalogue of types."""

    @property
    def incidents(self) -> Mapping[IncidentId, Incident]:
        """Incidents by id."""
        ...

    @property
    def catalogue(self) -> Catalogue:
        """Incident and unit types."""
        ...


def incident(state: IncidentState, incident_id: IncidentId) -> Incident:
    """Return one incident or refuse an unknown id."""
    try:
        return state.incidents[incident_id]
    except KeyError:
        raise NotFoundError(f"no incident {incident_id!r}", field="incident_id") from None


# ------------------------------------------------------------------ commands


@dataclass(frozen=True, slots=True, kw_only=True)
class TakeCall:
    """Record a call: attach it to `incident_id`, or open `new_incident_id`."""

    call_id: CallId
    new_incident_id: IncidentId
    incident_id: IncidentId | None = None
    incident_type: str | None = None
    priority: int | None = None
    received_at: datetime
    location: LatLon
    accuracy_m: float | None = None
    address: str | None = None
    incident_address: str | None = None  # of an incident it opens (default: `address`)
    nature: str
    notes: str = ""
    has_personal_data: bool = False
    located_note: str = ""  # how an address was matched, appended to the description


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenIncident:
    """Open an incident without a call (an operator, or a rule on sensor evidence)."""

    incident_id: IncidentId
    type: str
    location: LatLon | None
    address: str | None = None
    description: str = ""
    priority: int | None = None
    rule: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateIncident:
    """Change an active incident's type, priority, location, address or description."""

    incident_id: IncidentId
    type: str | None = None
    priority: int | None = None
    location: LatLon | None = None
    address: str | None = None
    description: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AddNote:
    """Add a note (or a rule's explanation with its evidence) to the timeline."""

    incident_id: IncidentId
    text: str
    rule: str | None = None
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseIncident:
    """Close an incident with a disposition."""

    incident_id: IncidentId
    disposition: str
    notes: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelIncident:
    """Cancel an incident before anyone arrived."""

    incident_id: IncidentId
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReopenIncident:
    """Bring a closed or cancelled incident back to the queue."""

    incident_id: IncidentId
    reason: str


IncidentCommand = (
    TakeCall
    | OpenIncident
    | UpdateIncident
    | AddNote
    | CloseIncident
    | CancelIncident
    | ReopenIncident
)


# ----------------------------------------------------------------- decisions


def decide(state: IncidentState, command: IncidentCommand, now: datetime) -> list[Event]:  # noqa: PLR0911 - one return per command
    """Return the events a command produces against `state`, or raise a domain error."""
    match command:
        case TakeCall():
            return take_call(state, command, now)
        case OpenIncident():
            return open_incident(state, command)
        case UpdateIncident():
            return update_incident(state, command)
        case AddNote():
            return add_note(state, command)
        case CloseIncident():
            return close_incident(state, command)
        case CancelIncident():
            return cancel_incident(state, command)
        case ReopenIncident():
            return reopen_incident(state, command)


def take_call(state: IncidentState, cmd: TakeCall, now: datetime) -> list[Event]:
    """Attach a call to an active incident, or open a new incident of the call's type."""
    if cmd.received_at > now + MAX_FUTURE:
        raise ValidationError("received_at is in the future", field="received_at")
    if cmd.accuracy_m is not None and not 0 <= cmd.accuracy_m <= 100_000:
        raise ValidationError("accuracy_m must be 0..100000 metres", field="accuracy_m")
    events: list[Event] = []
    if cmd.incident_id is not None:
        inc = incident(state, cmd.incident_id)
        if not inc.active:
            raise TransitionError(
                f"incident {inc.id} is {inc.status}; reopen it before attaching calls",
                field="incident_id",
            )
        incident_id = inc.id
    else:
        if cmd.incident_type is None:
            raise ValidationError(
                "a call that opens an incident needs incident_type", field="incident_type"
            )
        itype = state.catalogue.incident_type(cmd.incident_type)
        incident_id = cmd.new_incident_id
        events.append(
            IncidentOpened(
                incident_id=incident_id,
                type=cmd.incident_type,
                priority=cmd.priority or itype.priority,
                agency=itype.agency,
                location=cmd.location,
                address=cmd.incident_address or cmd.address,
                description=cmd.nature + cmd.located_note,
            )
        )
    events.append(
        CallReceived(
            incident_id=incident_id,
            call_id=cmd.call_id,
            received_at=cmd.received_at,
            location=cmd.location,
            accuracy_m=cmd.accuracy_m,
            address=cmd.address,
            nature=cmd.nature,
            notes=cmd.notes,
            has_personal_data=cmd.has_personal_data,
        )
    )
    return events


def open_incident(state: IncidentState, cmd: OpenIncident) -> list[Event]:
    """Open an incident of a catalogued type at a location or address."""
    itype = state.catalogue.incident_type(cmd.type)
    if cmd.location is None and not cmd.address:
        raise ValidationError("an incident needs a location or an address", field="location")
    return [
        IncidentOpened(
            incident_id=cmd.incident_id,
            type=cmd.type,
            priority=cmd.priority or itype.priority,
            agency=itype.agency,
            location=cmd.location,
            address=cmd.address,
            description=cmd.description,
            rule=cmd.rule,
        )
    ]


def update_incident(state: IncidentState, cmd: UpdateIncident) -> list[Event]:
    """Change what is known about an active incident; refuse an empty change."""
    inc = incident(state, cmd.incident_id)
    if not inc.active:
        raise TransitionError(
            f"incident {cmd.incident_id} is {inc.status}; reopen it to change it", field="status"
        )
    agency = None if cmd.type is None else state.catalogue.incident_type(cmd.type).agency
    if cmd.priority is not None and not 1 <= cmd.priority <= 5:
        raise ValidationError("priority must be 1..5", field="priority")
    changed = IncidentUpdated(
        incident_id=cmd.incident_id,
        type=cmd.type,
        priority=cmd.priority,
        agency=agency,
        location=cmd.location,
        address=cmd.address,
        description=cmd.description,
        reason=cmd.reason,
    )
    if all(
        getattr(changed, f) is None
        for f in ("type", "priority", "location", "address", "description")
    ):
        raise ValidationError("nothing to change", field="body")
    return [changed]


def add_note(state: IncidentState, cmd: AddNote) -> list[Event]:
    """Add a non-empty note to an existing incident."""
    incident(state, cmd.incident_id)
    if not cmd.text.strip():
        raise ValidationError("note text is empty", field="text")
    return [
        IncidentNoteAdded(
            incident_id=cmd.incident_id, text=cmd.text, rule=cmd.rule, evidence=cmd.evidence
        )
    ]


def close_incident(state: IncidentState, cmd: CloseIncident) -> list[Event]:
    """Close an incident that may be closed, with a disposition (its units: see units)."""
    inc = incident(state, cmd.incident_id)
    check_incident_move(cmd.incident_id, inc.status, IncidentStatus.CLOSED)
    if not cmd.disposition.strip():
        raise ValidationError("closing needs a disposition", field="disposition")
    return [
        IncidentClosed(incident_id=cmd.incident_id, disposition=cmd.disposition, notes=cmd.notes)
    ]


def cancel_incident(state: IncidentState, cmd: CancelIncident) -> list[Event]:
    """Cancel an incident that may be cancelled, with a reason (its units: see units)."""
    inc = incident(state, cmd.incident_id)
    check_incident_move(cmd.incident_id, inc.status, IncidentStatus.CANCELLED)
    if not cmd.reason.strip():
        raise ValidationError("cancelling needs a reason", field="reason")
    return [IncidentCancelled(incident_id=cmd.incident_id, reason=cmd.reason)]


def reopen_incident(state: IncidentState, cmd: ReopenIncident) -> list[Event]:
    """Reopen a closed or cancelled incident, with a reason."""
    inc = incident(state, cmd.incident_id)
    # Dispatched -> pending is a legal move (every unit released), but not a reopening:
    # reopening an open incident would put it back in the queue with its units assigned.
    if inc.status not in {IncidentStatus.CLOSED, IncidentStatus.CANCELLED}:
        raise TransitionError(
            f"incident {cmd.incident_id} is {inc.status}; only a closed or cancelled "
            "incident can be reopened",
            field="status",
        )
    check_incident_move(cmd.incident_id, inc.status, IncidentStatus.PENDING)
    if not cmd.reason.strip():
        raise ValidationError("reopening needs a reason", field="reason")
    return [IncidentReopened(incident_id=cmd.incident_id, reason=cmd.reason)]
