"""Current CAD state as a pure projection of the event log.

``apply`` is deterministic and total over recorded events: the decisions (what
is legal) were made before the events were written, so applying only records
their consequences. Rebuilding from the log therefore always yields the state
the live system had.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import MutableMapping
from dataclasses import dataclass, field

import msgspec

from vigil.core.events import Recorded
from vigil.core.ids import CallId, IncidentId, UnitId
from vigil.incidents.events import (
    CallReceived,
    IncidentCancelled,
    IncidentClosed,
    IncidentEvent,
    IncidentOpened,
    IncidentReopened,
    IncidentStatusChanged,
    IncidentUpdated,
)
from vigil.incidents.model import Call, Incident, IncidentStatus
from vigil.incidents.numbers import note_number
from vigil.units.events import (
    UnitAssigned,
    UnitEvent,
    UnitPositionReported,
    UnitRegistered,
    UnitReleased,
    UnitStatusChanged,
)
from vigil.units.model import Unit, UnitStatus


@dataclass(slots=True)
class CadState:
    """Incidents, calls and units by id, and the last applied log position."""

    incidents: MutableMapping[IncidentId, Incident] = field(default_factory=dict)
    calls: MutableMapping[CallId, Call] = field(default_factory=dict)
    units: MutableMapping[UnitId, Unit] = field(default_factory=dict)
    # The highest incident number used per year (the next one is one more).
    numbers: MutableMapping[int, int] = field(default_factory=dict)
    last_seq: int = 0

    def overlay(self) -> CadState:
        """Return a copy-on-write view: writes land in the view, reads fall through."""
        return CadState(
            incidents=ChainMap({}, self.incidents),
            calls=ChainMap({}, self.calls),
            units=ChainMap({}, self.units),
            numbers=ChainMap({}, self.numbers),
            last_seq=self.last_seq,
        )

    def merge(self, overlay: CadState, *, last_seq: int) -> None:
        """Take the writes of an overlay made by `overlay()` into this state."""
        for mine, theirs in (
            (self.incidents, overlay.incidents),
            (self.calls, overlay.calls),
            (self.units, overlay.units),
        ):
            assert isinstance(theirs, ChainMap)
            mine.update(theirs.maps[0])
        assert isinstance(overlay.numbers, ChainMap)
        self.numbers.update(overlay.numbers.maps[0])
        self.last_seq = last_seq

    def apply(self, rec: Recorded) -> set[tuple[str, str]]:
        """Apply one recorded event; return the (kind, id) keys it touched."""
        if rec.seq <= self.last_seq:
            return set()
        self.last_seq = rec.seq
        ev = rec.event
        touched: set[tuple[str, str]] = set()
        if isinstance(ev, IncidentEvent):
            self._apply_incident(rec, ev, touched)
        elif isinstance(ev, UnitEvent):
            self._apply_unit(rec, ev, touched)
        return touched

    def _apply_incident(
        self, rec: Recorded, ev: IncidentEvent, touched: set[tuple[str, str]]
    ) -> None:
        touched.add(("incident", ev.incident_id))
        if isinstance(ev, IncidentOpened):
            self.incidents[ev.incident_id] = Incident(
                id=ev.incident_id,
                type=ev.type,
                priority=ev.priority,
                status=IncidentStatus.PENDING,
                agency=ev.agency,
                location=ev.location,
                address=ev.address,
                description=ev.description,
                opened_at=rec.at,
                updated_at=rec.at,
                caused_by_rule=ev.rule,
                number=ev.number,
            )
            note_number(self.numbers, ev.number)
            return
        inc = self.incidents[ev.incident_id]
        if isinstance(ev, CallReceived):
            self.calls[ev.call_id] = Call(
                id=ev.call_id,
                incident_id=ev.incident_id,
                received_at=ev.received_at,
                location=ev.location,
                accuracy_m=ev.accuracy_m,
                address=ev.address,
                nature=ev.nature,
                notes=ev.notes,
                call_taker=rec.actor,
                has_personal_data=ev.has_personal_data,
            )
            touched.add(("call", ev.call_id))
            inc = msgspec.structs.replace(inc, call_ids=(*inc.call_ids, ev.call_id))
        elif isinstance(ev, IncidentUpdated):
            changes = {
                name: getattr(ev, name)
                for name in ("type", "priority", "agency", "location", "address", "description")
                if getattr(ev, name) is not None
            }
            inc = msgspec.structs.replace(inc, **changes)
        elif isinstance(ev, IncidentStatusChanged):
            inc = msgspec.structs.replace(inc, status=ev.new)
        elif isinstance(ev, IncidentClosed):
            inc = msgspec.structs.replace(
                inc, status=IncidentStatus.CLOSED, closed_at=rec.at, disposition=ev.disposition
            )
        elif isinstance(ev, IncidentCancelled):
            inc = msgspec.structs.replace(
                inc, status=IncidentStatus.CANCELLED, closed_at=rec.at, disposition=ev.reason
            )
        elif isinstance(ev, IncidentReopened):
            inc = msgspec.structs.replace(
                inc, status=IncidentStatus.PENDING, closed_at=None, disposition=None
            )
        self.incidents[ev.incident_id] = msgspec.structs.replace(inc, updated_at=rec.at)

    def _apply_unit(self, rec: Recorded, ev: UnitEvent, touched: set[tuple[str, str]]) -> None:
        touched.add(("unit", ev.unit_id))
        if isinstance(ev, UnitRegistered):
            self.units[ev.unit_id] = Unit(
                id=ev.unit_id,
                callsign=ev.callsign,
                agency=ev.agency,
                type=ev.type,
                capabilities=ev.capabilities,
                station=ev.station,
                status=UnitStatus.AVAILABLE,
                incident_id=None,
                location=ev.location,
                location_at=rec.at if ev.location else None,
                updated_at=rec.at,
            )
            return
        unit = self.units[ev.unit_id]
        if isinstance(ev, UnitAssigned):
            unit = msgspec.structs.replace(
                unit, status=UnitStatus.DISPATCHED, incident_id=ev.incident_id
            )
            inc = self.incidents[ev.incident_id]
            ever = inc.units_ever if ev.unit_id in inc.units_ever else (*inc.units_ever, ev.unit_id)
            self.incidents[inc.id] = msgspec.structs.replace(
                inc, unit_ids=(*inc.unit_ids, ev.unit_id), units_ever=ever, updated_at=rec.at
            )
            touched.add(("incident", inc.id))
        elif isinstance(ev, UnitReleased):
            unit = msgspec.structs.replace(unit, status=UnitStatus.AVAILABLE, incident_id=None)
            inc = self.incidents[ev.incident_id]
            self.incidents[inc.id] = msgspec.structs.replace(
                inc,
                unit_ids=tuple(u for u in inc.unit_ids if u != ev.unit_id),
                updated_at=rec.at,
            )
            touched.add(("incident", inc.id))
        elif isinstance(ev, UnitStatusChanged):
            unit = msgspec.structs.replace(unit, status=ev.new)
        elif isinstance(ev, UnitPositionReported):
            unit = msgspec.structs.replace(unit, location=ev.location, location_at=ev.fix_at)
        self.units[ev.unit_id] = msgspec.structs.replace(unit, updated_at=rec.at)

    def snapshot(self) -> bytes:
        """Return a canonical encoding of the whole state (for equality checks)."""
        return msgspec.json.encode(
            {
                "incidents": dict(sorted(self.incidents.items())),
                "calls": dict(sorted(self.calls.items())),
                "units": dict(sorted(self.units.items())),
            }
        )
