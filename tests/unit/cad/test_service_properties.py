"""Any sequence of CAD commands keeps the invariants, and the log rebuilds the same state."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.conftest import T0
from vigil.bus.log import LogBus
from vigil.cad.service import Cad, NewCall, load_state, rebuild_state
from vigil.core.clock import ManualClock
from vigil.core.errors import VigilError
from vigil.core.geometry import LatLon
from vigil.core.ids import IncidentId, UnitId
from vigil.incidents.catalogue import load_catalogue
from vigil.incidents.model import ACTIVE_INCIDENT
from vigil.store.sqlite import SqliteStore
from vigil.units.model import COMMITTED, UnitStatus

CATALOGUE = load_catalogue()
UNIT_TYPES = ["engine", "ladder", "medic_als", "patrol"]
INCIDENT_TYPES = ["structure_fire", "medical", "crime_in_progress", "flood"]
STATUSES = list(UnitStatus)
Id = TypeVar("Id", IncidentId, UnitId)


class CadMachine(RuleBasedStateMachine):
    """Drive the real service with random commands; refusals must change nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="vigil-prop-"))
        self.store = SqliteStore(self.dir / "s.sqlite3")
        self.bus = LogBus(self.store)
        self.clock = ManualClock(T0)
        self.cad = Cad(
            store=self.store,
            bus=self.bus,
            clock=self.clock,
            catalogue=CATALOGUE,
            personal_data_retention=timedelta(days=1),
        )
        self.unit_count = 0

    def teardown(self) -> None:
        self.bus.close()
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _attempt(self, command: object) -> None:
        """Run a command; if refused, the state and the log must be untouched."""
        before, seq = self.cad.state.snapshot(), self.store.last_seq()
        try:
            assert callable(command)
            command()
        except VigilError:
            assert self.cad.state.snapshot() == before
            assert self.store.last_seq() == seq
        self.clock.advance(7)

    def _pick(self, ids: Sequence[Id], index: int) -> Id | None:
        return sorted(ids)[index % len(ids)] if ids else None

    @precondition(lambda self: self.unit_count < 6)
    @rule(kind=st.sampled_from(UNIT_TYPES))
    def register(self, kind: str) -> None:
        self.unit_count += 1
        uid = UnitId(f"U{self.unit_count}")
        self._attempt(
            lambda: self.cad.register_unit(
                actor="t",
                unit_id=uid,
                callsign=None,
                type=kind,
                station=None,
                location=LatLon(60.17, 24.94),
            )
        )

    @rule(kind=st.sampled_from(INCIDENT_TYPES), attach=st.integers(0, 50), new=st.booleans())
    def call(self, kind: str, attach: int, new: bool) -> None:
        target = None if new else self._pick(list(self.cad.state.incidents), attach)
        self._attempt(
            lambda: self.cad.take_call(
                NewCall(
                    nature="test",
                    location=LatLon(60.17, 24.94),
                    incident_type=kind,
                    incident_id=target,
                    caller_name="Test Caller" if attach % 2 else None,
                ),
                actor="t",
            )
        )

    @precondition(lambda self: bool(self.cad.state.incidents and self.cad.state.units))
    @rule(
        i=st.integers(0, 50),
        u=st.lists(st.integers(0, 50), min_size=1, max_size=3),
        legal=st.booleans(),
    )
    def assign(self, i: int, u: list[int], legal: bool) -> None:
        state = self.cad.state
        incidents = [x.id for x in state.incidents.values() if x.active or not legal]
        units = [
            x.id for x in state.units.values() if x.status is UnitStatus.AVAILABLE or not legal
        ]
        inc = self._pick(incidents, i)
        chosen = [self._pick(units, x) or UnitId("") for x in u]
        if inc is not None:
            self._attempt(lambda: self.cad.assign(inc, chosen, actor="t"))

    @precondition(lambda self: bool(self.cad.state.units))
    @rule(u=st.integers(0, 50), status=st.sampled_from(STATUSES), legal=st.integers(0, 3))
    def status(self, u: int, status: UnitStatus, legal: int) -> None:
        busy = [x.id for x in self.cad.state.units.values() if x.committed]
        unit = self._pick(busy if legal and busy else list(self.cad.state.units), u)
        assert unit is not None
        if legal:
            # Mostly walk the normal path so deep states (transporting, ...) are reached.
            following = {
                UnitStatus.DISPATCHED: UnitStatus.EN_ROUTE,
                UnitStatus.EN_ROUTE: UnitStatus.ON_SCENE,
                UnitStatus.ON_SCENE: UnitStatus.TRANSPORTING,
                UnitStatus.TRANSPORTING: UnitStatus.AT_HOSPITAL,
                UnitStatus.AT_HOSPITAL: UnitStatus.AVAILABLE,
                UnitStatus.AVAILABLE: UnitStatus.OUT_OF_SERVICE,
                UnitStatus.OUT_OF_SERVICE: UnitStatus.AVAILABLE,
            }
            status = following[self.cad.state.units[unit].status]
        self._attempt(lambda: self.cad.set_unit_status(unit, status, actor="t"))

    @precondition(lambda self: bool(self.cad.state.units))
    @rule(u=st.integers(0, 50), i=st.integers(0, 50))
    def release(self, u: int, i: int) -> None:
        unit = self._pick(list(self.cad.state.units), u)
        inc = self._pick(list(self.cad.state.incidents), i)
        assert unit is not None
        self._attempt(
            lambda: self.cad.release(inc or IncidentId("none"), unit, actor="t", reason="test")
        )

    @precondition(lambda self: bool(self.cad.state.incidents))
    @rule(i=st.integers(0, 50), action=st.sampled_from(["close", "cancel", "reopen"]))
    def lifecycle(self, i: int, action: str) -> None:
        inc = self._pick(list(self.cad.state.incidents), i)
        assert inc is not None
        commands = {
            "close": lambda: self.cad.close_incident(inc, actor="t", disposition="done"),
            "cancel": lambda: self.cad.cancel_incident(inc, actor="t", reason="unfounded"),
            "reopen": lambda: self.cad.reopen_incident(inc, actor="t", reason="new info"),
        }
        self._attempt(commands[action])

    @invariant()
    def unit_on_at_most_one_active_incident(self) -> None:
        state = self.cad.state
        for unit in state.units.values():
            holders = [
                i.id
                for i in state.incidents.values()
                if i.status in ACTIVE_INCIDENT and unit.id in i.unit_ids
            ]
            assert len(holders) <= 1, (unit.id, holders)
            assert (unit.status in COMMITTED) == (unit.incident_id is not None)
            if unit.incident_id is not None:
                assert holders == [unit.incident_id]

    @invariant()
    def closed_incidents_have_no_active_units(self) -> None:
        for inc in self.cad.state.incidents.values():
            if inc.status not in ACTIVE_INCIDENT:
                assert inc.unit_ids == ()
            for uid in inc.unit_ids:
                assert self.cad.state.units[uid].incident_id == inc.id

    @invariant()
    def log_rebuilds_the_live_state(self) -> None:
        assert rebuild_state(self.store).snapshot() == self.cad.state.snapshot()
        assert load_state(self.store).snapshot() == self.cad.state.snapshot()

    @invariant()
    def incident_numbers_are_gap_free_per_year(self) -> None:
        by_year: dict[str, list[int]] = {}
        for inc in self.cad.state.incidents.values():
            assert inc.number is not None
            year, seq = inc.number.split("-")
            by_year.setdefault(year, []).append(int(seq))
        for seqs in by_year.values():
            assert sorted(seqs) == list(range(1, len(seqs) + 1))

    @invariant()
    def chain_is_intact(self) -> None:
        assert self.store.verify() == []


CadMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestCadProperties = CadMachine.TestCase
