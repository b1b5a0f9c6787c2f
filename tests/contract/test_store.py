"""The store contract: every adapter of `vigil.store.ports.Store` behaves like this."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from itertools import pairwise

import pytest

from tests.conftest import T0
from tests.contract.conftest import StoreFactory
from vigil.auth.events import UserAdded
from vigil.core.errors import ConflictError, WriteConflictError
from vigil.core.events import Pending, Recorded
from vigil.core.geometry import LatLon
from vigil.core.ids import EventId, IncidentId, UnitId
from vigil.incidents.events import IncidentNoteAdded, IncidentOpened
from vigil.incidents.model import Agency
from vigil.store.ports import Expectation, Store
from vigil.store.records import PersonalData, UserRecord
from vigil.units.events import UnitAssigned


def _opened(n: int, *, prefix: str = "EV") -> Pending:
    return Pending(
        id=EventId(f"{prefix}-{n}"),
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


def _note(ident: str, incident: str, cause: str | None = None) -> Pending:
    return Pending(
        id=EventId(ident),
        at=T0,
        actor="t",
        cause=cause,
        event=IncidentNoteAdded(incident_id=IncidentId(incident), text="hello"),
    )


# ------------------------------------------------------------------ event log


def test_events_read_back_in_log_order_chained(store: Store) -> None:
    recorded = store.append([_opened(n) for n in range(1, 4)])
    assert [r.seq for r in recorded] == [1, 2, 3]
    recs = list(store.read())
    assert recs == recorded
    assert all(b.prev_hash == a.hash for a, b in pairwise(recs))
    assert [r.seq for r in store.read(after_seq=1, limit=1)] == [2]
    assert store.last_seq() == 3
    assert store.verify() == []


def test_a_resent_event_id_is_acknowledged_and_not_applied_twice(store: Store) -> None:
    store.append([_opened(1), _opened(2)])
    again = store.append([_opened(2), _opened(3)])
    assert [r.id for r in again] == ["EV-3"]
    assert [r.id for r in store.read()] == ["EV-1", "EV-2", "EV-3"]
    assert store.has_event(EventId("EV-2"))
    assert not store.has_event(EventId("EV-9"))


def test_a_failing_append_writes_nothing_at_all(store: Store) -> None:
    store.append([_opened(1)])
    with pytest.raises(ConflictError):
        _fail_mid_append(store)
    assert store.last_seq() == 1
    assert not store.has_event(EventId("EV-2"))
    assert store.personal("C2") is None
    assert store.projection_rows() == (0, [])
    assert store.verify() == []


def _fail_mid_append(store: Store) -> None:
    # A projection row with a NULL kind is refused by every adapter mid-transaction.
    store.append(
        [_opened(2)],
        projection=[("incident", "INC-2", b"{}"), (None, "x", b"{}")],  # type: ignore[list-item] # deliberately invalid
        personal=[
            PersonalData(
                call_id="C2",
                caller_name="N",
                caller_phone=None,
                stored_at=T0,
                expires_at=T0 + timedelta(days=1),
            )
        ],
    )


def test_one_commands_events_are_found_by_their_id_prefix(store: Store) -> None:
    store.append([_opened(1, prefix="CMD-A/0"), _opened(2, prefix="CMD-B/0")])
    assert [r.id for r in store.events_with_prefix("CMD-A/")] == ["CMD-A/0-1"]
    assert store.events_with_prefix("CMD-C/") == []


def test_a_timeline_holds_the_stream_and_related_events(store: Store) -> None:
    store.append([_opened(1), _opened(2), _note("EV-n", "INC-1", cause="EV-1")])
    assert [r.id for r in store.stream("incident/INC-1")] == ["EV-1", "EV-n"]
    assert [r.id for r in store.events_caused_by("EV-1")] == ["EV-n"]
    assert store.stream("incident/INC-9") == []


def test_events_survive_a_restart(open_store: StoreFactory) -> None:
    first = open_store()
    recorded = first.append([_opened(1), _opened(2)])
    first.close()
    again = open_store()
    assert list(again.read()) == recorded
    assert again.append([_opened(3)])[0].prev_hash == recorded[-1].hash


# ------------------------------------------------------ optimistic concurrency


def _assigned(ident: str, unit: str, incident: str) -> Pending:
    return Pending(
        id=EventId(ident),
        at=T0,
        actor="t",
        cause=None,
        event=UnitAssigned(unit_id=UnitId(unit), incident_id=IncidentId(incident)),
    )


def _expect(after: int, *streams: str, types: tuple[str, ...] = ()) -> Expectation:
    return Expectation(after_seq=after, streams=frozenset(streams), types=frozenset(types))


def test_an_expectation_met_appends_as_usual(store: Store) -> None:
    store.append([_opened(1)])
    # Met at the head, and behind it when what came after is on other streams.
    first = store.append([_note("N-1", "INC-1")], expect=_expect(1, "incident/INC-1"))
    assert [r.seq for r in first] == [2]
    store.append([_opened(2), _note("N-2", "INC-2"), _assigned("A-1", "U2", "INC-2")])
    later = store.append(
        [_note("N-3", "INC-1")],
        expect=_expect(2, "incident/INC-1", "unit/U1", types=("incident.closed",)),
    )
    assert [r.seq for r in later] == [6]
    assert later[0].prev_hash == store.stream("incident/INC-2")[-1].hash
    assert store.verify() == []


@pytest.mark.parametrize(
    "expect",
    [
        # INC-1 got a note at seq 3: its own stream changed.
        _expect(2, "incident/INC-1"),
        # U1 was assigned to INC-1 at seq 4: a unit's own stream.
        _expect(2, "unit/U1"),
        # The assignment names INC-1 among its related streams (the incident changed).
        _expect(3, "incident/INC-1"),
        # An incident was opened (a number taken) after seq 1, on a stream of its own.
        _expect(1, "incident/INC-9", types=("incident.opened",)),
    ],
    ids=["stream", "unit-stream", "related-stream", "type"],
)
def test_a_violated_expectation_writes_nothing(store: Store, expect: Expectation) -> None:
    store.append([_opened(1), _opened(2), _note("N-1", "INC-1"), _assigned("A-1", "U1", "INC-1")])
    head = store.last_seq()
    with pytest.raises(WriteConflictError) as caught:
        store.append(
            [_note("N-x", "INC-1"), _assigned("A-x", "U1", "INC-1")],
            projection=[("incident", "INC-1", b"{}")],
            personal=[
                PersonalData(
                    call_id="C-x",
                    caller_name="N",
                    caller_phone=None,
                    stored_at=T0,
                    expires_at=T0 + timedelta(days=1),
                )
            ],
            expect=expect,
        )
    assert isinstance(caught.value, ConflictError)  # a conflict to the API (409)
    changed_at = caught.value.extra["seq"]
    assert isinstance(changed_at, int) and changed_at > expect.after_seq
    assert store.last_seq() == head
    assert not store.has_event(EventId("N-x")) and not store.has_event(EventId("A-x"))
    assert store.projection_rows() == (0, [])
    assert store.personal("C-x") is None
    assert store.verify() == []


def test_changes_to_unrelated_streams_leave_an_expectation_met(store: Store) -> None:
    store.append([_opened(1), _opened(2)])
    # After seq 2: other incidents, another unit, and an assignment relating to INC-2 only.
    store.append([_opened(3), _note("N-3", "INC-3"), _assigned("A-1", "U2", "INC-2")])
    recorded = store.append(
        [_assigned("A-2", "U1", "INC-1")],
        expect=_expect(2, "unit/U1", "incident/INC-1", types=("incident.closed",)),
    )
    assert [r.id for r in recorded] == ["A-2"]
    # A stream whose name is a prefix of a changed one is another stream.
    store.append([_note("N-10", "INC-10")])
    assert store.append([_note("N-1", "INC-1")], expect=_expect(6, "incident/INC-1"))


def test_an_event_already_logged_breaks_an_expectation(store: Store) -> None:
    """The same command recorded by another writer: a conflict, not a silent skip."""
    store.append([_note("CMD-1/0", "INC-1")])
    with pytest.raises(WriteConflictError):
        store.append([_note("CMD-1/0", "INC-1")], expect=_expect(1, "incident/INC-2"))
    assert store.append([_note("CMD-1/0", "INC-1")]) == []  # without one: a resend, skipped


def _race(
    appends: list[Callable[[], list[Recorded]]],
) -> tuple[list[list[Recorded]], list[WriteConflictError]]:
    """Run appends on threads released at once; return what was recorded and what conflicted."""
    gate = threading.Barrier(len(appends))
    won: list[list[Recorded]] = []
    lost: list[WriteConflictError] = []

    def run(append: Callable[[], list[Recorded]]) -> None:
        gate.wait(10)
        try:
            won.append(append())
        except WriteConflictError as err:
            lost.append(err)

    threads = [threading.Thread(target=run, args=(a,)) for a in appends]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return won, lost


def test_two_writers_deciding_on_the_same_state_never_both_append(
    open_store: StoreFactory,
) -> None:
    """Two stores (two processes' connections) race to assign one unit: one wins each round."""
    writers = [open_store(), open_store()]
    writers[0].append([_opened(1), _opened(2)])
    rounds = 30
    for n in range(rounds):
        head = writers[0].last_seq()
        won, lost = _race(
            [
                partial(
                    writers[w].append,
                    [_assigned(f"A{n}-{w}", f"U{n}", incident)],
                    expect=_expect(head, f"unit/U{n}", f"incident/{incident}"),
                )
                for w, incident in ((0, "INC-1"), (1, "INC-2"))
            ]
        )
        assert (len(won), len(lost)) == (1, 1), (n, won, lost)
    units = [r.event for r in writers[1].read() if isinstance(r.event, UnitAssigned)]
    assert sorted(str(u.unit_id) for u in units) == sorted(f"U{n}" for n in range(rounds))
    assert writers[1].verify() == []


# ---------------------------------------------------------------- projections


def test_projection_rows_are_written_with_their_events(store: Store) -> None:
    store.append([_opened(1)], projection=[("incident", "INC-1", b'{"a":1}')])
    store.append([_opened(2)], projection=[("incident", "INC-2", b'{"a":2}')])
    store.append([_note("EV-n", "INC-1")], projection=[("incident", "INC-1", None)])
    assert store.projection_rows() == (3, [("incident", "INC-2", b'{"a":2}')])
    store.replace_projection([("unit", "U1", b"{}")], seq=7)
    assert store.projection_rows() == (7, [("unit", "U1", b"{}")])


# -------------------------------------------------------------- personal data


def test_personal_data_is_held_until_its_retention_ends(store: Store) -> None:
    store.append(
        [_opened(1)],
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
    held = store.personal("C1")
    assert held is not None and held.caller_name == "N"
    assert store.purge_personal(T0) == []
    assert store.purge_personal(T0 + timedelta(days=2)) == ["C1"]
    assert store.personal("C1") is None


# ---------------------------------------------------------------- audit trail


def test_audit_entries_chain_and_filter(store: Store) -> None:
    a = store.append_audit(
        at=T0, actor="a", action="read_caller", subject="call/1", purpose="callback", detail=""
    )
    b = store.append_audit(
        at=T0, actor="b", action="read_caller", subject="call/2", purpose="review", detail=""
    )
    assert (a.seq, b.seq) == (1, 2)
    assert b.prev_hash == a.hash
    assert store.audit_entries() == [b, a]
    assert store.audit_entries(actor="a") == [a]
    assert store.audit_entries(subject="call/2") == [b]
    assert store.audit_entries(limit=1) == [b]
    assert store.verify() == []


# ------------------------------------------------------------------- accounts


def _user(name: str) -> tuple[UserRecord, Pending]:
    user = UserRecord(name=name, role="analyst", password_hash="!", created_at=T0)
    event = Pending(
        id=EventId(f"EV-{name}"),
        at=T0,
        actor="t",
        cause=None,
        event=UserAdded(name=name, role="analyst"),
    )
    return user, event


def test_a_login_is_stored_with_its_event_and_only_once(store: Store) -> None:
    store.add_user(*_user("bo"))
    assert store.user("bo") == _user("bo")[0]
    assert [r.id for r in store.read()] == ["EV-bo"]
    with pytest.raises(ConflictError):
        store.add_user(_user("bo")[0], _user("bo2")[1])
    assert store.last_seq() == 1
    assert [u.name for u in store.users()] == ["bo"]


def test_tokens_find_their_active_login_until_they_expire_or_are_revoked(store: Store) -> None:
    store.add_user(*_user("bo"))
    store.add_token(token_hash="h1", user="bo", label="cli", created_at=T0, expires_at=None)
    store.add_token(
        token_hash="h2", user="bo", label="s", created_at=T0, expires_at=T0 + timedelta(hours=1)
    )
    found = store.user_for_token("h1", T0)
    assert found is not None and found.name == "bo"
    assert store.user_for_token("h2", T0 + timedelta(hours=2)) is None
    assert store.user_for_token("nope", T0) is None
    assert store.revoke_tokens("bo") == 2
    assert store.user_for_token("h1", T0) is None


# -------------------------------------------------------------------- cursors


def test_a_consumer_cursor_is_durable_and_never_moves_back(open_store: StoreFactory) -> None:
    store = open_store()
    assert store.cursor("rules") is None
    store.save_cursor("rules", 5)
    store.save_cursor("rules", 3)  # a late, redelivered batch finishing
    store.save_cursor("live", 1)
    store.close()
    again = open_store()
    assert again.cursor("rules") == 5
    assert again.cursor("live") == 1


def test_open_records_near_a_point_nearest_first(store: Store) -> None:
    def body(lat: float, lon: float, status: str) -> bytes:
        return json.dumps({"location": {"lat": lat, "lon": lon}, "status": status}).encode()

    store.replace_projection(
        [
            ("incident", "near", body(60.1700, 24.9400, "pending")),  # ~ 0 m
            ("incident", "mid", body(60.1720, 24.9400, "dispatched")),  # ~ 223 m north
            ("incident", "closed", body(60.1701, 24.9400, "closed")),
            ("incident", "far", body(60.1800, 24.9400, "pending")),  # ~ 1.1 km
            ("incident", "nowhere", b'{"location": null, "status": "pending"}'),
            ("unit", "U1", body(60.1700, 24.9400, "pending")),
        ],
        seq=1,
    )
    here = LatLon(60.1700, 24.9400)
    found = store.open_near("incident", here, 500.0, statuses=["pending", "dispatched"])
    assert [i for i, _ in found] == ["near", "mid"]
    assert found[0][1] == pytest.approx(0.0, abs=0.5)
    assert found[1][1] == pytest.approx(223.0, rel=0.01)
    ((ident, metres),) = store.open_near("incident", here, 5000.0, statuses=["closed"])
    assert ident == "closed"
    assert metres == pytest.approx(11.1, rel=0.02)
