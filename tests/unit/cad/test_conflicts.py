"""Optimistic concurrency in the command handler: two writers on one log, one of them stale.

Two `Cad` services on two connections to one SQLite file stand for two API
processes. The second one's append is intercepted so that the first commits a
command *after* the second decided and *before* it appends: the race the
expectation guards against. The second must then catch up, decide again and
either commit on the fresh state or refuse with the ordinary domain error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import T0
from vigil.api.problems import status_of
from vigil.bus.log import LogBus
from vigil.cad.service import ATTEMPTS, Cad, NewCall, Outcome
from vigil.core.clock import ManualClock
from vigil.core.errors import TransitionError, WriteConflictError
from vigil.core.events import Recorded
from vigil.core.geometry import LatLon
from vigil.core.ids import IncidentId, UnitId
from vigil.incidents.catalogue import load_catalogue
from vigil.incidents.events import IncidentOpened
from vigil.store.sqlite import SqliteStore
from vigil.units.events import UnitAssigned

HERE = LatLon(60.17, 24.94)
U1 = UnitId("U1")
CATALOGUE = load_catalogue()


@dataclass
class Writer:
    """One "process": its store connection, bus and CAD service."""

    store: SqliteStore
    bus: LogBus
    cad: Cad


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Writer, Writer]]:
    """Two writers on one store file, both shared-log (they catch up before deciding)."""
    clock = ManualClock(T0)
    made: list[Writer] = []
    for _ in range(2):
        store = SqliteStore(tmp_path / "vigil.sqlite3")
        bus = LogBus(store)
        cad = Cad(
            store=store,
            bus=bus,
            clock=clock,
            catalogue=CATALOGUE,
            personal_data_retention=timedelta(days=1),
            shared_log=True,
        )
        made.append(Writer(store, bus, cad))
    yield made[0], made[1]
    for w in made:
        w.bus.close()
        w.store.close()


def _interleave(
    w: Writer, monkeypatch: pytest.MonkeyPatch, other: Callable[[], object], times: int = 1
) -> list[int]:
    """Run `other` just before each of the first `times` appends of `w` (after it decided)."""
    real = w.store.append
    calls = [0]

    def append(*args: Any, **kwargs: Any) -> list[Recorded]:
        calls[0] += 1
        if calls[0] <= times:
            other()
        return real(*args, **kwargs)

    monkeypatch.setattr(w.store, "append", append)
    return calls


def _setup(a: Writer, b: Writer) -> tuple[IncidentId, IncidentId]:
    """Register U1 and open two incidents through `a`; `b` catches up; return the incidents."""
    a.cad.register_unit(
        actor="t", unit_id=U1, callsign=None, type="medic_als", station=None, location=HERE
    )
    x, y = (
        a.cad.take_call(NewCall(nature=n, location=HERE, incident_type="medical"), actor="t")
        .records[0]
        .event
        for n in ("x", "y")
    )
    assert isinstance(x, IncidentOpened) and isinstance(y, IncidentOpened)
    (last,) = a.store.read(after_seq=a.store.last_seq() - 1)
    b.cad.follow(last)  # as the bus would deliver it
    assert b.cad.state.last_seq == a.store.last_seq()
    return x.incident_id, y.incident_id


def _assignments(store: SqliteStore) -> list[tuple[str, str]]:
    return [
        (r.event.unit_id, r.event.incident_id)
        for r in store.read()
        if isinstance(r.event, UnitAssigned)
    ]


def test_a_command_no_longer_valid_on_the_fresh_state_gets_the_domain_error(
    pair: tuple[Writer, Writer], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pair
    x, y = _setup(a, b)
    appends = _interleave(b, monkeypatch, lambda: a.cad.assign(x, [U1], actor="a"))
    with pytest.raises(TransitionError, match="only available units can be assigned"):
        b.cad.assign(y, [U1], actor="b")
    assert appends[0] == 1  # refused by the second decision: nothing more was appended
    assert b.cad.conflicts == 1
    assert _assignments(a.store) == [("U1", x)]  # the log holds one assignment, not two
    assert b.cad.state.units[U1].incident_id == x  # the loser's state caught up
    assert a.store.verify() == []


def test_a_command_still_valid_on_the_fresh_state_commits_after_it(
    pair: tuple[Writer, Writer], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pair
    _, y = _setup(a, b)
    # The other writer only adds a note to the same incident: the assignment still holds.
    note = _interleave(b, monkeypatch, lambda: a.cad.add_note(y, actor="a", text="hazard"))
    out = b.cad.assign(y, [U1], actor="b")
    assert note[0] == 2 and b.cad.conflicts == 1
    types = [r.event.type_name() for r in a.store.read(after_seq=out.records[0].seq - 2)]
    assert types == ["incident.note_added", "unit.assigned", "incident.status_changed"]
    assert _assignments(a.store) == [("U1", y)]
    assert b.cad.state.incidents[y].unit_ids == ("U1",)


def test_an_idempotency_key_recorded_by_the_other_writer_meanwhile_is_answered_from_it(
    pair: tuple[Writer, Writer], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pair
    x, _ = _setup(a, b)
    first: list[Outcome] = []
    _interleave(
        b, monkeypatch, lambda: first.append(a.cad.assign(x, [U1], actor="a", command_id="K1"))
    )
    again = b.cad.assign(x, [U1], actor="b", command_id="K1")
    assert again.replayed
    assert again.records == first[0].records
    assert _assignments(a.store) == [("U1", x)]


def test_the_incident_number_is_taken_again_when_another_writer_took_it(
    pair: tuple[Writer, Writer], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pair
    _setup(a, b)
    call = NewCall(nature="n", location=HERE, incident_type="medical")
    _interleave(b, monkeypatch, lambda: a.cad.take_call(call, actor="a"))
    b.cad.take_call(call, actor="b")
    assert b.cad.conflicts == 1
    numbers = [r.event.number for r in a.store.read() if isinstance(r.event, IncidentOpened)]
    assert numbers == ["26-000001", "26-000002", "26-000003", "26-000004"]


def test_retries_are_bounded_and_the_caller_gets_the_conflict(
    pair: tuple[Writer, Writer], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = pair
    _, y = _setup(a, b)
    head = a.store.last_seq()
    notes = _interleave(
        b, monkeypatch, lambda: a.cad.add_note(y, actor="a", text="again"), times=ATTEMPTS
    )
    with pytest.raises(WriteConflictError) as caught:
        b.cad.assign(y, [U1], actor="b")
    assert notes[0] == ATTEMPTS and b.cad.conflicts == ATTEMPTS
    assert a.store.last_seq() == head + ATTEMPTS  # only the other writer's notes
    assert _assignments(a.store) == []
    assert status_of(caught.value) == (409, "Concurrent change")


def test_one_writer_alone_never_conflicts(pair: tuple[Writer, Writer]) -> None:
    a, _ = pair
    x, y = _setup(a, a)
    a.cad.assign(x, [U1], actor="a")
    with pytest.raises(TransitionError):
        a.cad.assign(y, [U1], actor="a")
    assert a.cad.conflicts == 0


def test_a_replay_of_what_the_other_writer_just_recorded_brings_the_state_up_to_it(
    pair: tuple[Writer, Writer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other writer commits the same key after this one caught up, before it looked it up."""
    a, b = pair
    x, _ = _setup(a, b)
    real = b.store.events_with_prefix
    first: list[Outcome] = []

    def events_with_prefix(prefix: str) -> list[Recorded]:
        if not first:
            first.append(a.cad.assign(x, [U1], actor="a", command_id="K2"))
        return real(prefix)

    monkeypatch.setattr(b.store, "events_with_prefix", events_with_prefix)
    again = b.cad.assign(x, [U1], actor="b", command_id="K2")
    assert again.replayed and again.records == first[0].records
    assert b.cad.conflicts == 0  # nothing was appended: answered from the log
    assert b.cad.state.units[U1].incident_id == x  # what the caller reads next is there
    assert b.cad.state.last_seq == a.store.last_seq()
