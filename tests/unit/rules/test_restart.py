"""Rules' windows survive a restart: refilled from stored observations and log events."""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta
from pathlib import Path

from tests.unit.rules.conftest import HERE, T0
from vigil.app import App, build
from vigil.cad.service import NewCall
from vigil.config import Settings, load_settings
from vigil.core.clock import ManualClock
from vigil.core.events import Pending
from vigil.core.ids import DeviceId, EventId, IncidentId
from vigil.incidents.events import IncidentNoteAdded
from vigil.ingest.model import DeviceKind
from vigil.ingest.registry import make_device
from vigil.rules.engine import recent_events
from vigil.rules.events import RuleFired
from vigil.store.sqlite import SqliteStore

# Three loud readings of one meter within 10 minutes open an incident.
LOUD = """
rules:
  - name: loud
    version: 1
    match: {kind: noise_meter, stream: laeq}
    window: {size: 10m, aggregate: count, op: ">=", threshold: 3}
    condition: value > 80
    cooldown: 0s
    actions: [{do: open_incident, type: disturbance, description: "Loud at {device}"}]
"""


def _settings(tmp_path: Path) -> Settings:
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(LOUD), "utf-8")
    return load_settings(data_dir=tmp_path / "data", rules={"files": [path]})


def _reading(app: App, clock: ManualClock, seq: int, value: float = 85.0) -> None:
    body = {"device_id": "NM-1", "stream": "laeq", "seq": seq, "ts": clock.now().isoformat()}
    result = app.ingest.post(
        json.dumps({**body, "value": value}).encode(), source="http", scope=None
    )
    assert len(result.stored) == 1
    assert app.ingest.drain()


def _start(settings: Settings, clock: ManualClock) -> App:
    app = build(settings, clock=clock)
    app.start()
    return app


def test_a_window_half_full_before_a_restart_is_half_full_after(tmp_path: Path) -> None:
    settings, clock = _settings(tmp_path), ManualClock(T0)
    app = _start(settings, clock)
    meter = make_device(
        id=DeviceId("NM-1"),
        kind=DeviceKind.NOISE_METER,
        location=HERE,
        zone=None,
        site="default",
        streams=None,
        interval_s=60.0,
    )
    app.ingest.registry.register([meter], actor="t")
    _reading(app, clock, 1)
    clock.advance(60)
    _reading(app, clock, 2)
    assert app.cad.incidents() == []
    app.close()  # mid-window: two of the three readings seen

    clock.advance(60)
    again = _start(settings, clock)
    try:
        (loud,) = (i for i in again.rules.info() if i.name == "loud")
        assert loud.stats.fired == 0  # the replay decided nothing again
        _reading(again, clock, 3)
        (incident,) = again.cad.incidents()
        assert incident.type == "disturbance" and incident.caused_by_rule is not None
    finally:
        again.close()


def test_readings_older_than_every_window_are_not_replayed(tmp_path: Path) -> None:
    settings, clock = _settings(tmp_path), ManualClock(T0)
    app = _start(settings, clock)
    meter = make_device(
        id=DeviceId("NM-1"),
        kind=DeviceKind.NOISE_METER,
        location=HERE,
        zone=None,
        site="default",
        streams=None,
        interval_s=60.0,
    )
    app.ingest.registry.register([meter], actor="t")
    _reading(app, clock, 1)
    _reading(app, clock, 2)
    app.close()

    clock.advance(11 * 60)  # past the 10-minute window: those two no longer count
    again = _start(settings, clock)
    try:
        assert again.rules.memory_s() == 600
        _reading(again, clock, 3)
        assert again.cad.incidents() == []
    finally:
        again.close()


# Three calls within 10 minutes (anywhere) open an incident: a window over log events.
CALLS = """
rules:
  - name: calls
    version: 1
    match: {event: call.received}
    key: none
    window: {size: 10m, aggregate: count, op: ">=", threshold: 3}
    cooldown: 0s
    actions: [{do: open_incident, type: other, description: "Three calls in 10 minutes"}]
"""


def _fired_after_each_call(tmp_path: Path, *, restart_after: int | None) -> list[int]:
    """Take three calls a minute apart; return how many times the rule had fired after each."""
    tmp_path.mkdir()
    path = tmp_path / "rules.yaml"
    path.write_text(textwrap.dedent(CALLS), "utf-8")
    settings = load_settings(data_dir=tmp_path / "data", rules={"files": [path]})
    clock = ManualClock(T0)
    app = _start(settings, clock)
    fired: list[int] = []
    try:
        for n in range(1, 4):
            app.cad.take_call(
                NewCall(location=HERE, nature=f"call {n}", incident_type="medical"), actor="ct"
            )
            assert app.bus.drain()
            fired.append(
                sum(isinstance(r.event, RuleFired) for r in app.store.stream("rule/calls"))
            )
            clock.advance(60)
            if n == restart_after:
                app.close()  # mid-window: two of the three calls seen
                app = _start(settings, clock)
                (calls,) = (i for i in app.rules.info() if i.name == "calls")
                assert calls.stats.fired == 0  # the replay decided nothing again
    finally:
        app.close()
    return fired


def test_a_window_over_log_events_half_full_before_a_restart_is_half_full_after(
    tmp_path: Path,
) -> None:
    straight = _fired_after_each_call(tmp_path / "straight", restart_after=None)
    restarted = _fired_after_each_call(tmp_path / "restarted", restart_after=2)
    assert straight == restarted == [0, 0, 1]  # fires at the third call either way


def test_recent_events_are_those_since_the_time_up_to_the_cursor(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "log.sqlite3")
    try:
        for n in range(1, 41):  # one event a minute; a gap in time between 20 and 21
            at = T0 + timedelta(minutes=n + (30 if n > 20 else 0))
            note = IncidentNoteAdded(incident_id=IncidentId("INC-1"), text=f"note {n}")
            store.append([Pending(id=EventId(f"EV-{n}"), at=at, actor="t", cause=None, event=note)])
        since = T0 + timedelta(minutes=45)  # inside the gap: the first one after it is 21
        assert [r.seq for r in recent_events(store, since, upto=30)] == list(range(21, 31))
        assert [r.seq for r in recent_events(store, T0, upto=3)] == [1, 2, 3]
        assert list(recent_events(store, T0 + timedelta(days=1), upto=40)) == []
        assert list(recent_events(store, T0, upto=0)) == []
    finally:
        store.close()
