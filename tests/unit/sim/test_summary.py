"""The summary is computed from recorded events: counts and NFPA-style intervals."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from vigil.core.events import Event, Recorded
from vigil.core.geometry import LatLon
from vigil.core.ids import CallId, EventId, IncidentId, UnitId
from vigil.incidents.events import CallReceived, IncidentClosed, IncidentOpened
from vigil.incidents.model import Agency
from vigil.sim.summary import percentile, summarise
from vigil.units.events import UnitAssigned, UnitStatusChanged
from vigil.units.model import UnitStatus

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HERE = LatLon(60.17, 24.94)


class _Log:
    def __init__(self) -> None:
        self.records: list[Recorded] = []

    def add(self, at_s: float, event: Event) -> None:
        n = len(self.records) + 1
        self.records.append(
            Recorded(
                seq=n,
                id=EventId(f"E{n}"),
                at=T0 + timedelta(seconds=at_s),
                actor="test",
                cause=None,
                event=event,
                prev_hash="",
                hash="",
            )
        )


def _opened(inc: str, rule: str | None = None) -> IncidentOpened:
    return IncidentOpened(
        incident_id=IncidentId(inc),
        type="medical",
        priority=2,
        agency=Agency.EMS,
        location=HERE,
        address=None,
        description="",
        rule=rule,
    )


def _call(inc: str, received_s: float) -> CallReceived:
    return CallReceived(
        incident_id=IncidentId(inc),
        call_id=CallId(f"C-{inc}-{received_s}"),
        received_at=T0 + timedelta(seconds=received_s),
        location=HERE,
        accuracy_m=None,
        address=None,
        nature="x",
        notes="",
        has_personal_data=False,
    )


def _status(unit: str, inc: str, old: UnitStatus, new: UnitStatus) -> UnitStatusChanged:
    return UnitStatusChanged(unit_id=UnitId(unit), old=old, new=new, incident_id=IncidentId(inc))


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10], 90) == 10
    assert math.isclose(percentile(list(range(11)), 90), 9.0)
    assert math.isnan(percentile([], 50))


def test_intervals_use_the_first_arriving_unit() -> None:
    log = _Log()
    # Incident A: call received at 0, entered at 40, two units.
    log.add(40, _opened("A"))
    log.add(40, _call("A", 0))
    log.add(100, UnitAssigned(unit_id=UnitId("M1"), incident_id=IncidentId("A"), recommended=True))
    log.add(100, UnitAssigned(unit_id=UnitId("E1"), incident_id=IncidentId("A"), recommended=True))
    log.add(160, _status("M1", "A", UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE))
    log.add(130, _status("E1", "A", UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE))
    log.add(300, _status("M1", "A", UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE))  # first
    log.add(330, _status("E1", "A", UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE))
    log.add(900, IncidentClosed(incident_id=IncidentId("A"), disposition="done"))
    # Incident B, opened by a rule: the clock starts at the opening.
    log.add(1000, _opened("B", rule="smoke@v1"))
    log.add(1030, UnitAssigned(unit_id=UnitId("P1"), incident_id=IncidentId("B")))
    log.add(1050, _status("P1", "B", UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE))
    log.add(1150, _status("P1", "B", UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE))
    # Incident C: never reached.
    log.add(2000, _opened("C"))
    log.add(2000, _call("C", 1990))
    summary = summarise(log.records)
    assert summary.calls == 2
    assert summary.incidents == 3
    assert summary.incidents_closed == 1
    assert summary.incidents_active == 2
    assert summary.incidents_by_rule == {"smoke@v1": 1}
    assert summary.assignments == 3
    assert summary.recommended_assignments == 2
    cp = summary.intervals["call_processing"]
    assert cp.n == 2  # A: 100 s, B: 30 s; C has no unit yet
    assert cp.p50_s == 65.0
    turnout = summary.intervals["turnout"]
    assert turnout.n == 2
    assert turnout.p50_s == (60 + 20) / 2  # M1 (first arriving on A): 60 s; P1: 20 s
    travel = summary.intervals["travel"]
    assert (travel.n, travel.p50_s) == (2, (140 + 100) / 2)
    total = summary.intervals["total"]
    assert (total.n, total.p50_s) == (2, (300 + 150) / 2)
    assert summary.events_by_type["unit.status_changed"] == 6
    text = summary.render()
    assert "call_processing" in text
    assert "smoke" not in summary.rule_firings  # only rule.fired events count as firings


def test_empty_log() -> None:
    summary = summarise([])
    assert summary.incidents == 0
    assert summary.intervals["total"].n == 0
    assert summary.intervals["total"].p90_s is None
    assert "-" in summary.render()
