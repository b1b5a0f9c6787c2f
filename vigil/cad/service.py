"""CAD commands: decide against current state, record events, publish them.

Each command checks the state machines, turns the decision into events and
hands them to the store in one transaction together with the projection rows
they change. Only after the commit are they applied to the live state and
published on the bus. A command carries an id (the client's Idempotency-Key or
a fresh one); repeating it returns the first outcome without applying again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import msgspec

from vigil.bus import Bus
from vigil.cad.state import CadState
from vigil.core.clock import Clock
from vigil.core.errors import NotFoundError, TransitionError, ValidationError, VigilError
from vigil.core.events import Event, Pending, Recorded
from vigil.core.geometry import BBox, LatLon
from vigil.core.ids import new_id
from vigil.incidents.catalogue import Catalogue
from vigil.incidents.events import (
    CallReceived,
    IncidentCancelled,
    IncidentClosed,
    IncidentNoteAdded,
    IncidentOpened,
    IncidentReopened,
    IncidentStatusChanged,
    IncidentUpdated,
)
from vigil.incidents.model import (
    Agency,
    Call,
    Incident,
    IncidentStatus,
    check_incident_move,
)
from vigil.incidents.numbers import assign_numbers, note_number
from vigil.store.ports import EventLog, ProjectionRow, Projections
from vigil.store.records import PersonalData
from vigil.units.events import (
    UnitAssigned,
    UnitPositionReported,
    UnitRegistered,
    UnitReleased,
    UnitStatusChanged,
)
from vigil.units.model import Unit, UnitStatus, check_unit_move


@dataclass(frozen=True, slots=True, kw_only=True)
class NewCall:
    """What a call-taker records."""

    received_at: datetime | None = None
    location: LatLon | None = None
    accuracy_m: float | None = None
    address: str | None = None
    nature: str
    notes: str = ""
    caller_name: str | None = None
    caller_phone: str | None = None
    incident_id: str | None = None
    incident_type: str | None = None
    priority: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What a command recorded; `replayed` when it was a repeat of an earlier command."""

    records: tuple[Recorded, ...]
    replayed: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Located:
    """A resolved address: where, how sure, and what it matched."""

    location: LatLon
    label: str
    confidence: float


AddressResolver = Callable[[str], Located]
# Describes a point as an address a dispatcher can read ("Mannerheimintie 10"), or None.
PlaceDescriber = Callable[[LatLon], str | None]


class CadStore(EventLog, Projections, Protocol):
    """What CAD needs from the store: the log it appends to and the projection it loads."""


class Cad:
    """The CAD command and query service over one store."""

    def __init__(
        self,
        *,
        store: CadStore,
        bus: Bus,
        clock: Clock,
        catalogue: Catalogue,
        personal_data_retention: timedelta,
        resolve_address: AddressResolver | None = None,
        describe_place: PlaceDescriber | None = None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self.catalogue = catalogue
        self._retention = personal_data_retention
        self._resolve = resolve_address
        self._describe = describe_place
        self._lock = threading.RLock()
        self.state = load_state(store)

    # -------------------------------------------------------------- plumbing

    def _commit(
        self,
        events: Sequence[Event],
        *,
        actor: str,
        command_id: str,
        cause: str | None = None,
        personal: Iterable[PersonalData] = (),
    ) -> Outcome:
        """Record events atomically with their projection rows; apply; publish."""
        now = self._clock.now()
        # Numbered here, under the lock and in this transaction: gap-free and unique.
        events = assign_numbers(events, self.state.numbers, now)
        pending = [
            Pending(id=f"{command_id}/{i}", at=now, actor=actor, cause=cause, event=e)
            for i, e in enumerate(events)
        ]
        # Apply to a copy-on-write overlay first: the projection rows must be
        # written in the same transaction as the events, and the live state may
        # change only once that transaction has committed. The overlay costs
        # O(changes), not O(all incidents ever).
        scratch = self.state.overlay()
        touched: set[tuple[str, str]] = set()
        for i, p in enumerate(pending, start=self.state.last_seq + 1):
            provisional = Recorded(
                seq=i,
                id=p.id,
                at=p.at,
                actor=p.actor,
                cause=p.cause,
                event=p.event,
                prev_hash="",
                hash="",
            )
            touched |= scratch.apply(provisional)
        recorded = self._store.append(
            pending, projection=projection_rows(scratch, touched), personal=personal
        )
        self.state.merge(scratch, last_seq=recorded[-1].seq if recorded else self.state.last_seq)
        self._bus.publish(recorded)
        return Outcome(records=tuple(recorded))

    def _replay(self, command_id: str | None) -> Outcome | None:
        if command_id is None:
            return None
        earlier = self._store.events_with_prefix(f"{command_id}/")
        return Outcome(records=tuple(earlier), replayed=True) if earlier else None

    def _run(
        self,
        decide: Callable[[], list[Event]],
        *,
        actor: str,
        command_id: str | None,
        cause: str | None = None,
        personal: Callable[[], Iterable[PersonalData]] = tuple,
    ) -> Outcome:
        with self._lock:
            replay = self._replay(command_id)
            if replay is not None:
                return replay
            events = decide()
            return self._commit(
                events,
                actor=actor,
                command_id=command_id or new_id("CMD"),
                cause=cause,
                personal=personal(),
            )

    def _place(self, location: LatLon | None) -> str | None:
        """Describe a location as an address (reverse geocoding), when a geocoder is set."""
        if location is None or self._describe is None:
            return None
        try:
            return self._describe(location)
        except VigilError:
            return None  # no address is better than no incident

    # --------------------------------------------------------------- queries

    def incident(self, incident_id: str) -> Incident:
        """Return one incident or refuse an unknown id."""
        try:
            return self.state.incidents[incident_id]
        except KeyError:
            raise NotFoundError(f"no incident {incident_id!r}", field="incident_id") from None

    def unit(self, unit_id: str) -> Unit:
        """Return one unit or refuse an unknown id."""
        try:
            return self.state.units[unit_id]
        except KeyError:
            raise NotFoundError(f"no unit {unit_id!r}", field="unit_id") from None

    def call(self, call_id: str) -> Call:
        """Return one call or refuse an unknown id."""
        try:
            return self.state.calls[call_id]
        except KeyError:
            raise NotFoundError(f"no call {call_id!r}", field="call_id") from None

    def incidents(
        self,
        *,
        statuses: frozenset[IncidentStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        bbox: BBox | None = None,
    ) -> list[Incident]:
        """Return incidents matching every given filter, most urgent and oldest first."""
        found = [
            i
            for i in self.state.incidents.values()
            if (statuses is None or i.status in statuses)
            and (since is None or i.opened_at >= since)
            and (until is None or i.opened_at < until)
            and (bbox is None or (i.location is not None and bbox.contains(i.location)))
        ]
        return sorted(found, key=lambda i: (i.priority, i.opened_at, i.id))

    def units(
        self, *, status: UnitStatus | None = None, agency: Agency | None = None
    ) -> list[Unit]:
        """Return units, optionally by status and agency, sorted by id."""
        return sorted(
            (
                u
                for u in self.state.units.values()
                if (status is None or u.status is status) and (agency is None or u.agency is agency)
            ),
            key=lambda u: u.id,
        )

    def timeline(self, incident_id: str) -> list[Recorded]:
        """Return every event of an incident, its calls and its units' work on it."""
        self.incident(incident_id)
        return self._store.stream(f"incident/{incident_id}")

    # -------------------------------------------------------------- commands

    def register_unit(
        self,
        *,
        actor: str,
        unit_id: str,
        callsign: str | None,
        type: str,  # noqa: A002 - the domain's word
        station: str | None,
        location: LatLon | None,
        extra_capabilities: tuple[str, ...] = (),
        command_id: str | None = None,
    ) -> Outcome:
        """Add a unit to the fleet, available at `location`."""

        def decide() -> list[Event]:
            if not unit_id or len(unit_id) > 32:
                raise ValidationError("unit id must be 1-32 characters", field="id")
            if unit_id in self.state.units:
                raise TransitionError(f"unit {unit_id} already exists", field="id")
            utype = self.catalogue.unit_type(type)
            caps = tuple(dict.fromkeys((*utype.capabilities, *extra_capabilities)))
            return [
                UnitRegistered(
                    unit_id=unit_id,
                    callsign=callsign or unit_id,
                    agency=utype.agency,
                    type=type,
                    capabilities=caps,
                    station=station,
                    location=location,
                )
            ]

        return self._run(decide, actor=actor, command_id=command_id)

    def take_call(self, call: NewCall, *, actor: str, command_id: str | None = None) -> Outcome:
        """Record a call: attach it to the incident named, or open a new incident."""
        call_id = new_id("CALL")
        now = self._clock.now()
        received = call.received_at or now
        location, address = call.location, call.address
        confidence_note = ""
        if location is None:
            if not address:
                raise ValidationError("a call needs a location or an address", field="location")
            if self._resolve is None:
                raise ValidationError(
                    "no geocoder is configured; give the caller's location", field="location"
                )
            found = self._resolve(address)
            location = found.location
            confidence_note = (
                f" (address matched {found.label!r}, confidence {found.confidence:.2f})"
            )
        if received > now + timedelta(minutes=5):
            raise ValidationError("received_at is in the future", field="received_at")
        if call.accuracy_m is not None and not 0 <= call.accuracy_m <= 100_000:
            raise ValidationError("accuracy_m must be 0..100000 metres", field="accuracy_m")
        has_pd = bool(call.caller_name or call.caller_phone)
        incident_address = address or self._place(location)

        def decide() -> list[Event]:
            events: list[Event] = []
            if call.incident_id is not None:
                inc = self.incident(call.incident_id)
                if not inc.active:
                    raise TransitionError(
                        f"incident {inc.id} is {inc.status}; reopen it before attaching calls",
                        field="incident_id",
                    )
                incident_id = inc.id
            else:
                if call.incident_type is None:
                    raise ValidationError(
                        "a call that opens an incident needs incident_type", field="incident_type"
                    )
                itype = self.catalogue.incident_type(call.incident_type)
                incident_id = new_id("INC")
                events.append(
                    IncidentOpened(
                        incident_id=incident_id,
                        type=call.incident_type,
                        priority=call.priority or itype.priority,
                        agency=itype.agency,
                        location=location,
                        address=incident_address,
                        description=call.nature + confidence_note,
                    )
                )
            events.append(
                CallReceived(
                    incident_id=incident_id,
                    call_id=call_id,
                    received_at=received,
                    location=location,
                    accuracy_m=call.accuracy_m,
                    address=address,
                    nature=call.nature,
                    notes=call.notes,
                    has_personal_data=has_pd,
                )
            )
            return events

        def personal() -> list[PersonalData]:
            if not has_pd:
                return []
            return [
                PersonalData(
                    call_id=call_id,
                    caller_name=call.caller_name,
                    caller_phone=call.caller_phone,
                    stored_at=now,
                    expires_at=received + self._retention,
                )
            ]

        return self._run(decide, actor=actor, command_id=command_id, personal=personal)

    def open_incident(
        self,
        *,
        actor: str,
        type: str,  # noqa: A002 - the domain's word
        location: LatLon | None,
        address: str | None = None,
        description: str = "",
        priority: int | None = None,
        rule: str | None = None,
        cause: str | None = None,
        command_id: str | None = None,
    ) -> Outcome:
        """Open an incident without a call (an operator, or a rule on sensor evidence)."""
        place = address or self._place(location)

        def decide() -> list[Event]:
            itype = self.catalogue.incident_type(type)
            if location is None and not address:
                raise ValidationError(
                    "an incident needs a location or an address", field="location"
                )
            return [
                IncidentOpened(
                    incident_id=new_id("INC"),
                    type=type,
                    priority=priority or itype.priority,
                    agency=itype.agency,
                    location=location,
                    address=place,
                    description=description,
                    rule=rule,
                )
            ]

        return self._run(decide, actor=actor, command_id=command_id, cause=cause)

    def update_incident(
        self,
        incident_id: str,
        *,
        actor: str,
        type: str | None = None,  # noqa: A002 - the domain's word
        priority: int | None = None,
        location: LatLon | None = None,
        address: str | None = None,
        description: str | None = None,
        reason: str = "",
        cause: str | None = None,
        command_id: str | None = None,
    ) -> Outcome:
        """Change an active incident's type, priority, location or description."""

        def decide() -> list[Event]:
            inc = self.incident(incident_id)
            if not inc.active:
                raise TransitionError(
                    f"incident {incident_id} is {inc.status}; reopen it to change it",
                    field="status",
                )
            agency = None
            if type is not None:
                agency = self.catalogue.incident_type(type).agency
            if priority is not None and not 1 <= priority <= 5:
                raise ValidationError("priority must be 1..5", field="priority")
            changed = IncidentUpdated(
                incident_id=incident_id,
                type=type,
                priority=priority,
                agency=agency,
                location=location,
                address=address,
                description=description,
                reason=reason,
            )
            if all(
                getattr(changed, f) is None
                for f in ("type", "priority", "location", "address", "description")
            ):
                raise ValidationError("nothing to change", field="body")
            return [changed]

        return self._run(decide, actor=actor, command_id=command_id, cause=cause)

    def add_note(
        self,
        incident_id: str,
        *,
        actor: str,
        text: str,
        rule: str | None = None,
        evidence: tuple[str, ...] = (),
        cause: str | None = None,
        command_id: str | None = None,
    ) -> Outcome:
        """Add a note (or a rule's explanation with its evidence) to the timeline."""

        def decide() -> list[Event]:
            self.incident(incident_id)
            if not text.strip():
                raise ValidationError("note text is empty", field="text")
            return [
                IncidentNoteAdded(incident_id=incident_id, text=text, rule=rule, evidence=evidence)
            ]

        return self._run(decide, actor=actor, command_id=command_id, cause=cause)

    def assign(
        self,
        incident_id: str,
        unit_ids: Sequence[str],
        *,
        actor: str,
        etas: dict[str, float] | None = None,
        recommended: bool = False,
        command_id: str | None = None,
    ) -> Outcome:
        """Send available units to an active incident."""

        def decide() -> list[Event]:
            inc = self.incident(incident_id)
            if not unit_ids:
                raise ValidationError("name at least one unit", field="unit_ids")
            if len(set(unit_ids)) != len(unit_ids):
                raise ValidationError("a unit is named twice", field="unit_ids")
            if not inc.active:
                raise TransitionError(
                    f"incident {incident_id} is {inc.status}; units cannot be assigned",
                    field="incident_id",
                )
            events: list[Event] = []
            for uid in unit_ids:
                unit = self.unit(uid)
                if unit.status is not UnitStatus.AVAILABLE:
                    where = f" on {unit.incident_id}" if unit.incident_id else ""
                    raise TransitionError(
                        f"unit {uid} is {unit.status}{where}; only available units can be assigned",
                        field="unit_ids",
                    )
                events.append(
                    UnitAssigned(
                        unit_id=uid,
                        incident_id=incident_id,
                        eta_s=(etas or {}).get(uid),
                        recommended=recommended,
                    )
                )
            if inc.status is IncidentStatus.PENDING:
                events.append(
                    IncidentStatusChanged(
                        incident_id=incident_id,
                        old=inc.status,
                        new=IncidentStatus.DISPATCHED,
                        reason=f"assigned {', '.join(unit_ids)}",
                    )
                )
            return events

        return self._run(decide, actor=actor, command_id=command_id)

    def release(
        self,
        incident_id: str,
        unit_id: str,
        *,
        actor: str,
        reason: str,
        command_id: str | None = None,
    ) -> Outcome:
        """Take a unit off an incident; it becomes available."""

        def decide() -> list[Event]:
            inc = self.incident(incident_id)
            unit = self.unit(unit_id)
            if unit.incident_id != incident_id:
                raise TransitionError(
                    f"unit {unit_id} is not assigned to incident {incident_id}", field="unit_id"
                )
            return self._release_events(inc, [unit], reason)

        return self._run(decide, actor=actor, command_id=command_id)

    def _release_events(self, inc: Incident, units: Sequence[Unit], reason: str) -> list[Event]:
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

    def set_unit_status(
        self, unit_id: str, new: UnitStatus, *, actor: str, command_id: str | None = None
    ) -> Outcome:
        """Apply a status a unit reports (en route, on scene, transporting, ...)."""

        def decide() -> list[Event]:
            unit = self.unit(unit_id)
            if new is UnitStatus.DISPATCHED:
                raise TransitionError(
                    "units become dispatched by assignment, not by status report", field="status"
                )
            check_unit_move(unit_id, unit.status, new)
            if new is UnitStatus.AVAILABLE and unit.incident_id is not None:
                inc = self.incident(unit.incident_id)
                return self._release_events(inc, [unit], reason=f"{unit_id} cleared")
            events: list[Event] = [
                UnitStatusChanged(
                    unit_id=unit_id, old=unit.status, new=new, incident_id=unit.incident_id
                )
            ]
            if new is UnitStatus.ON_SCENE and unit.incident_id is not None:
                inc = self.incident(unit.incident_id)
                if inc.status is IncidentStatus.DISPATCHED:
                    events.append(
                        IncidentStatusChanged(
                            incident_id=inc.id,
                            old=inc.status,
                            new=IncidentStatus.ON_SCENE,
                            reason=f"{unit_id} on scene",
                        )
                    )
            return events

        return self._run(decide, actor=actor, command_id=command_id)

    def report_positions(
        self,
        fixes: Sequence[tuple[str, LatLon, datetime, float | None, float | None]],
        *,
        actor: str,
        command_id: str | None = None,
    ) -> Outcome:
        """Record AVL fixes (unit id, location, fix time, heading, speed) in one batch."""

        def decide() -> list[Event]:
            now = self._clock.now()
            events: list[Event] = []
            for unit_id, location, fix_at, heading, speed in fixes:
                self.unit(unit_id)
                if fix_at > now + timedelta(minutes=5):
                    raise ValidationError(f"fix for {unit_id} is in the future", field="fix_at")
                events.append(
                    UnitPositionReported(
                        unit_id=unit_id,
                        location=location,
                        fix_at=fix_at,
                        heading_deg=heading,
                        speed_mps=speed,
                    )
                )
            return events

        return self._run(decide, actor=actor, command_id=command_id)

    def close_incident(
        self,
        incident_id: str,
        *,
        actor: str,
        disposition: str,
        notes: str = "",
        command_id: str | None = None,
    ) -> Outcome:
        """Close an incident with a disposition; units still on it are cleared."""

        def decide() -> list[Event]:
            inc = self.incident(incident_id)
            check_incident_move(incident_id, inc.status, IncidentStatus.CLOSED)
            if not disposition.strip():
                raise ValidationError("closing needs a disposition", field="disposition")
            units = [self.unit(u) for u in inc.unit_ids]
            events: list[Event] = [
                UnitReleased(unit_id=u.id, incident_id=inc.id, reason="incident closed")
                for u in units
            ]
            events.append(
                IncidentClosed(incident_id=incident_id, disposition=disposition, notes=notes)
            )
            return events

        return self._run(decide, actor=actor, command_id=command_id)

    def cancel_incident(
        self, incident_id: str, *, actor: str, reason: str, command_id: str | None = None
    ) -> Outcome:
        """Cancel an incident before anyone arrived; assigned units are released."""

        def decide() -> list[Event]:
            inc = self.incident(incident_id)
            check_incident_move(incident_id, inc.status, IncidentStatus.CANCELLED)
            if not reason.strip():
                raise ValidationError("cancelling needs a reason", field="reason")
            events: list[Event] = [
                UnitReleased(unit_id=u, incident_id=inc.id, reason="incident cancelled")
                for u in inc.unit_ids
            ]
            events.append(IncidentCancelled(incident_id=incident_id, reason=reason))
            return events

        return self._run(decide, actor=actor, command_id=command_id)

    def reopen_incident(
        self, incident_id: str, *, actor: str, reason: str, command_id: str | None = None
    ) -> Outcome:
        """Bring a closed or cancelled incident back to the queue."""

        def decide() -> list[Event]:
            inc = self.incident(incident_id)
            check_incident_move(incident_id, inc.status, IncidentStatus.PENDING)
            if not reason.strip():
                raise ValidationError("reopening needs a reason", field="reason")
            return [IncidentReopened(incident_id=incident_id, reason=reason)]

        return self._run(decide, actor=actor, command_id=command_id)


def _tables(state: CadState) -> dict[str, Mapping[str, msgspec.Struct]]:
    return {"call": state.calls, "incident": state.incidents, "unit": state.units}


def projection_rows(state: CadState, touched: Iterable[tuple[str, str]]) -> list[ProjectionRow]:
    """Encode the touched records of a state as projection rows."""
    tables = _tables(state)
    rows: list[ProjectionRow] = []
    for kind, ident in sorted(touched):
        record = tables[kind].get(ident)
        rows.append((kind, ident, None if record is None else msgspec.json.encode(record)))
    return rows


def load_state(store: CadStore) -> CadState:
    """Load the persisted projection, then apply any log tail it has not seen."""
    seq, rows = store.projection_rows()
    state = CadState(last_seq=seq)
    for kind, ident, body in rows:
        if kind == "incident":
            state.incidents[ident] = msgspec.json.decode(body, type=Incident)
        elif kind == "call":
            state.calls[ident] = msgspec.json.decode(body, type=Call)
        elif kind == "unit":
            state.units[ident] = msgspec.json.decode(body, type=Unit)
    for incident in state.incidents.values():
        note_number(state.numbers, incident.number)
    for rec in store.read(after_seq=seq):
        state.apply(rec)
    return state


def rebuild_state(store: CadStore) -> CadState:
    """Replay the whole log into a fresh state."""
    state = CadState()
    for rec in store.read():
        state.apply(rec)
    return state


def all_rows(state: CadState) -> list[tuple[str, str, bytes]]:
    """Encode every record of a state as projection rows."""
    return [
        (kind, ident, msgspec.json.encode(record))
        for kind, table in sorted(_tables(state).items())
        for ident, record in sorted(table.items())
    ]
