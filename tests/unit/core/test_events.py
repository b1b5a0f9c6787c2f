"""Events round-trip through their registry; ids sort by time."""

from __future__ import annotations

import pytest

from vigil.core.errors import ValidationError
from vigil.core.events import decode_event, encode_event, event_types
from vigil.core.geometry import LatLon
from vigil.core.ids import IncidentId, UnitId, new_id
from vigil.incidents.events import IncidentOpened
from vigil.incidents.model import Agency
from vigil.units.events import UnitAssigned


def test_round_trip_keeps_type_and_values() -> None:
    ev = IncidentOpened(
        incident_id=IncidentId("INC-1"),
        type="medical",
        priority=2,
        agency=Agency.EMS,
        location=LatLon(60.1, 24.9),
        address="Mannerheimintie 1",
        description="x",
    )
    assert decode_event(encode_event(ev)) == ev
    assert ev.stream() == "incident/INC-1"


def test_related_streams() -> None:
    ev = UnitAssigned(unit_id=UnitId("E1"), incident_id=IncidentId("INC-1"))
    assert ev.stream() == "unit/E1"
    assert ev.related() == ("incident/INC-1",)


def test_registry_knows_every_cad_event() -> None:
    names = set(event_types())
    assert {"incident.opened", "call.received", "unit.assigned", "unit.status_changed"} <= names


@pytest.mark.parametrize(
    "raw", [b"{}", b'{"event":"no.such"}', b"not json", b'{"event":"unit.assigned"}']
)
def test_undecodable_payloads_are_refused(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        decode_event(raw)


def test_ids_are_unique_prefixed_and_time_ordered() -> None:
    ids = [new_id("INC") for _ in range(2000)]
    assert len(set(ids)) == 2000
    assert all(i.startswith("INC-") and len(i) == 30 for i in ids)
    # Same-millisecond ids share the time prefix; across milliseconds they sort by time.
    assert [i[:14] for i in ids] == sorted(i[:14] for i in ids)
