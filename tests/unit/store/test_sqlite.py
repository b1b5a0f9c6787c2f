"""The event log: append-only, idempotent, atomic, and tamper-evident."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from tests.conftest import T0
from vigil.core.errors import ConflictError
from vigil.core.events import Pending
from vigil.core.geometry import LatLon
from vigil.core.ids import EventId, IncidentId
from vigil.incidents.events import IncidentNoteAdded, IncidentOpened
from vigil.incidents.model import Agency
from vigil.store.records import PersonalData
from vigil.store.sqlite import SqliteStore


def _opened(n: int) -> Pending:
    return Pending(
        id=EventId(f"EV-{n}"),
        at=T0,
        actor="tester",
        cause=None,
        event=IncidentOpened(
            incident_id=IncidentId(f"INC-{n}"),
            type="medical",
            priority=2,
            agency=Agency.EMS,
            location=LatLon(60.17, 24.94),
            address=None,
            description=f"incident {n}",
        ),
    )


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(tmp_path / "log.sqlite3")
    s.append([_opened(n) for n in range(1, 6)])
    s.append_audit(
        at=T0, actor="a", action="read_caller", subject="call/1", purpose="callback", detail=""
    )
    s.append_audit(
        at=T0, actor="b", action="read_caller", subject="call/2", purpose="review", detail=""
    )
    return s


def test_events_read_back_in_order_with_links(store: SqliteStore) -> None:
    recs = list(store.read())
    assert [r.seq for r in recs] == [1, 2, 3, 4, 5]
    assert all(b.prev_hash == a.hash for a, b in pairwise(recs))
    assert isinstance(recs[0].event, IncidentOpened)
    assert recs[0].event.incident_id == "INC-1"
    assert store.verify() == []


def test_resending_an_event_id_is_acknowledged_not_applied_twice(store: SqliteStore) -> None:
    again = store.append([_opened(3), _opened(6)])
    assert [r.id for r in again] == ["EV-6"]
    assert store.last_seq() == 6


def test_a_failing_append_writes_nothing(store: SqliteStore) -> None:
    bad_row = ("incident", "INC-X", b"{}")
    with pytest.raises(ConflictError):
        # A projection row with a NULL kind violates NOT NULL mid-transaction.
        store.append([_opened(7)], projection=[bad_row, (None, "x", b"{}")])  # type: ignore[list-item] # deliberately invalid
    assert store.last_seq() == 5
    assert not store.has_event(EventId("EV-7"))
    assert store.verify() == []


def test_editing_one_event_is_named_by_verify(store: SqliteStore, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "log.sqlite3") as db:
        db.execute(
            "UPDATE events SET data = replace(data, 'incident 3', 'incident 9') WHERE seq = 3"
        )
    breaks = store.verify()
    assert [(b.chain, b.seq) for b in breaks] == [("events", 3)]
    assert "edited" in breaks[0].reason


def test_rehashing_an_edited_event_still_breaks_the_next_link(
    store: SqliteStore, tmp_path: Path
) -> None:
    with sqlite3.connect(tmp_path / "log.sqlite3") as db:
        db.execute(
            "UPDATE events SET actor = 'mallory', hash = 'f' || substr(hash, 2) WHERE seq = 2"
        )
    breaks = store.verify()
    assert breaks[0].seq == 2


def test_deleting_a_middle_event_is_detected(store: SqliteStore, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "log.sqlite3") as db:
        db.execute("DELETE FROM events WHERE seq = 4")
    breaks = store.verify()
    assert (breaks[0].chain, breaks[0].seq) == ("events", 4)
    assert "missing" in breaks[0].reason


def test_truncating_the_tail_is_detected_by_the_head(store: SqliteStore, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "log.sqlite3") as db:
        db.execute("DELETE FROM events WHERE seq = 5")
    breaks = store.verify()
    assert breaks and breaks[0].chain == "events"
    assert "deleted" in breaks[0].reason


def test_editing_the_audit_log_is_detected(store: SqliteStore, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "log.sqlite3") as db:
        db.execute("UPDATE audit SET purpose = 'curiosity' WHERE seq = 1")
    breaks = store.verify()
    assert [(b.chain, b.seq) for b in breaks] == [("audit", 1)]


def test_timeline_includes_related_events(store: SqliteStore) -> None:
    store.append(
        [
            Pending(
                id=EventId("EV-note"),
                at=T0,
                actor="t",
                cause="EV-1",
                event=IncidentNoteAdded(incident_id=IncidentId("INC-1"), text="hello"),
            )
        ]
    )
    assert [r.id for r in store.stream("incident/INC-1")] == ["EV-1", "EV-note"]
    assert [r.id for r in store.events_caused_by("EV-1")] == ["EV-note"]


def test_personal_data_expires(store: SqliteStore) -> None:
    store.append(
        [_opened(8)],
        personal=[
            PersonalData(
                call_id="C1",
                caller_name="N",
                caller_phone="1",
                stored_at=T0,
                expires_at=T0 + timedelta(days=1),
            )
        ],
    )
    assert store.personal("C1") is not None
    assert store.purge_personal(T0) == []
    assert store.purge_personal(T0 + timedelta(days=2)) == ["C1"]
    assert store.personal("C1") is None
    assert store.verify() == []
