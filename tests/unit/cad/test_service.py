"""The command handler: group commit, refusals isolated, idempotency within and across groups."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from vigil.app import App
from vigil.cad.service import NewCall, Outcome
from vigil.core.errors import NotFoundError, StoreError
from vigil.core.events import Recorded
from vigil.core.geometry import LatLon
from vigil.core.ids import IncidentId

HERE = LatLon(60.17, 24.94)


def _call(n: int) -> NewCall:
    return NewCall(nature=f"call {n}", location=HERE, incident_type="medical")


def _hold_first_append(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> tuple[threading.Event, threading.Event]:
    """Make the first append wait until released, so later commands queue up behind it."""
    real = app.store.append
    entered, release = threading.Event(), threading.Event()
    calls = [0]

    def append(*args: Any, **kwargs: Any) -> list[Recorded]:
        calls[0] += 1
        if calls[0] == 1:
            entered.set()
            assert release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(app.store, "append", append)
    return entered, release


def _in_threads(fns: Sequence[Callable[[], Outcome]]) -> list[Outcome | BaseException]:
    results: list[Outcome | BaseException | None] = [None] * len(fns)

    def run(i: int) -> None:
        try:
            results[i] = fns[i]()
        except BaseException as err:  # noqa: BLE001 - collected for the assertions
            results[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
        time.sleep(0.01)
    for t in threads:
        t.join(10)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def test_commands_arriving_during_a_commit_are_written_together(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = _hold_first_append(app, monkeypatch)
    first = threading.Thread(target=lambda: app.cad.take_call(_call(0), actor="t"))
    first.start()
    assert entered.wait(10)
    groups = app.cad.groups

    def later() -> list[Outcome | BaseException]:
        return _in_threads(
            [
                *(lambda n=n: app.cad.take_call(_call(n), actor="t") for n in range(1, 6)),
                lambda: app.cad.add_note(IncidentId("INC-NOPE"), actor="t", text="refused alone"),
            ]
        )

    out: list[list[Outcome | BaseException]] = []
    waiter = threading.Thread(target=lambda: out.append(later()))
    waiter.start()
    time.sleep(0.3)  # every later command is queued behind the held commit
    release.set()
    first.join(10)
    waiter.join(10)
    (results,) = out
    assert app.cad.groups - groups == 2  # the held one, then the five together
    assert isinstance(results[-1], NotFoundError)
    calls = [r for r in results[:-1] if isinstance(r, Outcome)]
    assert len(calls) == 5
    assert len(app.cad.incidents()) == 6
    seqs = [rec.seq for o in calls for rec in o.records]
    assert sorted(seqs) == list(range(3, 13))  # two events per call, one transaction


def test_a_command_id_repeated_in_one_group_is_applied_once(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = _hold_first_append(app, monkeypatch)
    first = threading.Thread(target=lambda: app.cad.take_call(_call(0), actor="t"))
    first.start()
    assert entered.wait(10)
    out: list[list[Outcome | BaseException]] = []
    both = threading.Thread(
        target=lambda: out.append(
            _in_threads([lambda: app.cad.take_call(_call(1), actor="t", command_id="K1")] * 2)
        )
    )
    both.start()
    time.sleep(0.3)
    release.set()
    first.join(10)
    both.join(10)
    (results,) = out
    a, b = results
    assert isinstance(a, Outcome) and isinstance(b, Outcome)
    assert [r.id for r in a.records] == [r.id for r in b.records]
    assert sorted([a.replayed, b.replayed]) == [False, True]
    assert len(app.cad.incidents()) == 2
    again = app.cad.take_call(_call(1), actor="t", command_id="K1")
    assert again.replayed and [r.id for r in again.records] == [r.id for r in a.records]


def test_a_failing_store_fails_the_group_and_changes_nothing(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> list[Recorded]:
        raise StoreError("disk full")

    monkeypatch.setattr(app.store, "append", broken)
    before = app.cad.state.snapshot()
    with pytest.raises(StoreError):
        app.cad.take_call(_call(1), actor="t")
    assert app.cad.state.snapshot() == before
