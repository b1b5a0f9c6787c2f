"""Unit registration, assignment, release, status and positions as pure decisions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from tests.conftest import T0
from vigil.core.errors import NotFoundError, TransitionError, ValidationError
from vigil.core.geometry import LatLon
from vigil.core.ids import IncidentId, UnitId
from vigil.incidents.catalogue import Catalogue, load_catalogue
from vigil.incidents.events import IncidentStatusChanged
from vigil.incidents.model import Agency, Incident, IncidentStatus
from vigil.units.decide import (
    AssignUnits,
    Fix,
    RegisterUnit,
    ReleaseUnit,
    ReportPositions,
    ReportStatus,
    clear_incident,
    decide,
)
from vigil.units.events import (
    UnitAssigned,
    UnitPositionReported,
    UnitRegistered,
    UnitReleased,
    UnitStatusChanged,
)
from vigil.units.model import Unit, UnitStatus

CATALOGUE = load_catalogue()
HERE = LatLon(60.17, 24.94)


@dataclass(frozen=True)
class State:
    incidents: Mapping[IncidentId, Incident] = field(default_factory=dict)
    units: Mapping[UnitId, Unit] = field(default_factory=dict)
    catalogue: Catalogue = CATALOGUE


def _incident(status: IncidentStatus, unit_ids: tuple[str, ...] = ()) -> Incident:
    return Incident(
        id=IncidentId("INC-1"),
        type="medical",
        priority=2,
        status=status,
        agency=Agency.EMS,
        location=HERE,
        address=None,
        description="",
        opened_at=T0,
        updated_at=T0,
        unit_ids=tuple(UnitId(u) for u in unit_ids),
    )


def _unit(
    uid: str, status: UnitStatus = UnitStatus.AVAILABLE, incident_id: str | None = None
) -> Unit:
    return Unit(
        id=UnitId(uid),
        callsign=uid,
        agency=Agency.EMS,
        type="medic_als",
        capabilities=("als",),
        station=None,
        status=status,
        incident_id=None if incident_id is None else IncidentId(incident_id),
        location=HERE,
        location_at=T0,
        updated_at=T0,
    )


def test_registering_takes_the_types_capabilities_and_refuses_duplicates() -> None:
    cmd = RegisterUnit(
        unit_id=UnitId("M1"),
        callsign=None,
        type="medic_als",
        station="S1",
        location=HERE,
        extra_capabilities=("bariatric",),
    )
    (ev,) = decide(State(), cmd, T0)
    assert isinstance(ev, UnitRegistered)
    assert ev.callsign == "M1"
    assert ev.capabilities == (*CATALOGUE.unit_type("medic_als").capabilities, "bariatric")
    with pytest.raises(TransitionError):
        decide(State(units={UnitId("M1"): _unit("M1")}), cmd, T0)
    with pytest.raises(ValidationError):
        decide(
            State(),
            RegisterUnit(
                unit_id=UnitId(""), callsign=None, type="medic_als", station=None, location=None
            ),
            T0,
        )


def test_assigning_dispatches_a_pending_incident() -> None:
    state = State(
        {IncidentId("INC-1"): _incident(IncidentStatus.PENDING)},
        {UnitId("M1"): _unit("M1"), UnitId("M2"): _unit("M2")},
    )
    events = decide(
        state,
        AssignUnits(
            incident_id=IncidentId("INC-1"),
            unit_ids=(UnitId("M1"), UnitId("M2")),
            etas={UnitId("M1"): 240.0},
        ),
        T0,
    )
    assert [type(e) for e in events] == [UnitAssigned, UnitAssigned, IncidentStatusChanged]
    first = events[0]
    assert isinstance(first, UnitAssigned) and first.eta_s == 240.0
    last = events[-1]
    assert isinstance(last, IncidentStatusChanged) and last.new is IncidentStatus.DISPATCHED


def test_assigning_more_units_to_a_dispatched_incident_changes_only_the_units() -> None:
    state = State(
        {IncidentId("INC-1"): _incident(IncidentStatus.DISPATCHED, ("M1",))},
        {UnitId("M2"): _unit("M2")},
    )
    events = decide(
        state, AssignUnits(incident_id=IncidentId("INC-1"), unit_ids=(UnitId("M2"),)), T0
    )
    assert [type(e) for e in events] == [UnitAssigned]


@pytest.mark.parametrize(
    ("unit_ids", "error"),
    [
        ((), ValidationError),
        (("M1", "M1"), ValidationError),
        (("BUSY",), TransitionError),
        (("NOPE",), NotFoundError),
    ],
)
def test_assignment_refusals(unit_ids: tuple[str, ...], error: type[Exception]) -> None:
    state = State(
        {IncidentId("INC-1"): _incident(IncidentStatus.PENDING)},
        {UnitId("M1"): _unit("M1"), UnitId("BUSY"): _unit("BUSY", UnitStatus.EN_ROUTE, "INC-0")},
    )
    with pytest.raises(error):
        decide(
            state,
            AssignUnits(incident_id=IncidentId("INC-1"), unit_ids=tuple(map(UnitId, unit_ids))),
            T0,
        )


def test_a_closed_incident_takes_no_units() -> None:
    state = State(
        {IncidentId("INC-1"): _incident(IncidentStatus.CLOSED)}, {UnitId("M1"): _unit("M1")}
    )
    with pytest.raises(TransitionError, match="cannot be assigned"):
        decide(state, AssignUnits(incident_id=IncidentId("INC-1"), unit_ids=(UnitId("M1"),)), T0)


def test_releasing_the_last_unit_puts_the_incident_back_in_the_queue() -> None:
    state = State(
        {IncidentId("INC-1"): _incident(IncidentStatus.ON_SCENE, ("M1",))},
        {UnitId("M1"): _unit("M1", UnitStatus.ON_SCENE, "INC-1"), UnitId("M2"): _unit("M2")},
    )
    released, back = decide(
        state,
        ReleaseUnit(
            incident_id=IncidentId("INC-1"), unit_id=UnitId("M1"), reason="needed elsewhere"
        ),
        T0,
    )
    assert isinstance(released, UnitReleased)
    assert isinstance(back, IncidentStatusChanged) and back.new is IncidentStatus.PENDING
    with pytest.raises(TransitionError):
        decide(
            state,
            ReleaseUnit(incident_id=IncidentId("INC-1"), unit_id=UnitId("M2"), reason="x"),
            T0,
        )


def test_arriving_puts_a_dispatched_incident_on_scene_and_clearing_releases() -> None:
    state = State(
        {IncidentId("INC-1"): _incident(IncidentStatus.DISPATCHED, ("M1",))},
        {UnitId("M1"): _unit("M1", UnitStatus.EN_ROUTE, "INC-1")},
    )
    arrived, on_scene = decide(
        state, ReportStatus(unit_id=UnitId("M1"), status=UnitStatus.ON_SCENE), T0
    )
    assert isinstance(arrived, UnitStatusChanged) and arrived.incident_id == "INC-1"
    assert isinstance(on_scene, IncidentStatusChanged) and on_scene.new is IncidentStatus.ON_SCENE
    cleared = decide(state, ReportStatus(unit_id=UnitId("M1"), status=UnitStatus.AVAILABLE), T0)
    assert [type(e) for e in cleared] == [UnitReleased, IncidentStatusChanged]


def test_a_unit_cannot_report_itself_dispatched_or_jump_states() -> None:
    state = State(units={UnitId("M1"): _unit("M1")})
    with pytest.raises(TransitionError, match="by assignment"):
        decide(state, ReportStatus(unit_id=UnitId("M1"), status=UnitStatus.DISPATCHED), T0)
    with pytest.raises(TransitionError):
        decide(state, ReportStatus(unit_id=UnitId("M1"), status=UnitStatus.TRANSPORTING), T0)
    (oos,) = decide(state, ReportStatus(unit_id=UnitId("M1"), status=UnitStatus.OUT_OF_SERVICE), T0)
    assert isinstance(oos, UnitStatusChanged) and oos.incident_id is None


def test_positions_of_known_units_and_not_from_the_future() -> None:
    state = State(units={UnitId("M1"): _unit("M1")})
    fix = Fix(unit_id=UnitId("M1"), location=HERE, fix_at=T0, heading_deg=90.0, speed_mps=12.0)
    (ev,) = decide(state, ReportPositions(fixes=(fix,)), T0)
    assert isinstance(ev, UnitPositionReported) and ev.speed_mps == 12.0
    with pytest.raises(ValidationError, match="future"):
        decide(
            state,
            ReportPositions(
                fixes=(Fix(unit_id=UnitId("M1"), location=HERE, fix_at=T0 + timedelta(minutes=6)),)
            ),
            T0,
        )
    with pytest.raises(NotFoundError):
        decide(
            state, ReportPositions(fixes=(Fix(unit_id=UnitId("X"), location=HERE, fix_at=T0),)), T0
        )


def test_clearing_an_incident_releases_every_unit_on_it() -> None:
    state = State(
        {IncidentId("INC-1"): _incident(IncidentStatus.ON_SCENE, ("M1", "M2"))},
        {
            UnitId("M1"): _unit("M1", UnitStatus.ON_SCENE, "INC-1"),
            UnitId("M2"): _unit("M2", UnitStatus.EN_ROUTE, "INC-1"),
        },
    )
    events = clear_incident(state, IncidentId("INC-1"), "incident closed")
    assert [(e.unit_id, e.reason) for e in events if isinstance(e, UnitReleased)] == [
        ("M1", "incident closed"),
        ("M2", "incident closed"),
    ]
