"""Incident numbers through the CAD service: sequential, gap-free, across restarts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vigil.bus.log import LogBus
from vigil.cad.service import Cad, NewCall, Outcome, load_state, rebuild_state
from vigil.core.clock import ManualClock
from vigil.core.errors import VigilError
from vigil.core.geometry import LatLon
from vigil.incidents.catalogue import load_catalogue
from vigil.incidents.events import IncidentOpened
from vigil.store.sqlite import SqliteStore

AT = LatLon(60.17, 24.94)


def make_cad(store: SqliteStore, clock: ManualClock) -> Cad:
    return Cad(
        store=store,
        bus=LogBus(store),  # no consumers: it starts no thread
        clock=clock,
        catalogue=load_catalogue(),
        personal_data_retention=timedelta(days=1),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "s.sqlite3")
    yield s
    s.close()


def number_of(cad: Cad, out: Outcome) -> str | None:
    ev = out.records[0].event
    assert isinstance(ev, IncidentOpened)
    assert cad.incident(ev.incident_id).number == ev.number
    return ev.number


def call(cad: Cad, nature: str = "x") -> str | None:
    out = cad.take_call(NewCall(location=AT, nature=nature, incident_type="medical"), actor="ana")
    return number_of(cad, out)


def test_numbers_are_sequential_survive_a_restart_and_rebuild(
    tmp_path: Path, store: SqliteStore
) -> None:
    clock = ManualClock(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    cad = make_cad(store, clock)
    assert [call(cad) for _ in range(3)] == ["26-000001", "26-000002", "26-000003"]
    opened = cad.open_incident(actor="rule", type="flood", location=AT, rule="r1")
    assert number_of(cad, opened) == "26-000004"
    store.close()

    # A new process on the same store continues the sequence.
    reopened = SqliteStore(tmp_path / "s.sqlite3")
    try:
        cad2 = make_cad(reopened, clock)
        assert call(cad2) == "26-000005"
        clock.advance(120)  # 2027 begins
        assert call(cad2) == "27-000001"
        # The log alone reproduces every number.
        assert rebuild_state(reopened).snapshot() == cad2.state.snapshot()
        assert load_state(reopened).numbers == {2026: 5, 2027: 1}
    finally:
        reopened.close()


def test_a_refused_or_failed_commit_uses_no_number(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    cad = make_cad(store, ManualClock(datetime(2026, 5, 1, tzinfo=UTC)))
    assert call(cad) == "26-000001"
    with pytest.raises(VigilError):
        cad.take_call(NewCall(location=AT, nature="x", incident_type="no_such"), actor="ana")

    def broken(*args: object, **kwargs: object) -> None:
        raise VigilError("disk full")

    with monkeypatch.context() as m:
        m.setattr(store, "append", broken)
        with pytest.raises(VigilError, match="disk full"):
            call(cad)
    assert call(cad) == "26-000002"


def test_a_replayed_command_keeps_its_number(store: SqliteStore) -> None:
    cad = make_cad(store, ManualClock(datetime(2026, 5, 1, tzinfo=UTC)))
    new = NewCall(location=AT, nature="x", incident_type="medical")
    first = cad.take_call(new, actor="ana", command_id="cmd-1")
    again = cad.take_call(new, actor="ana", command_id="cmd-1")
    assert again.replayed
    assert first.records[0].event == again.records[0].event
    assert call(cad) == "26-000002"
