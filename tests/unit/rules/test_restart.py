"""Rules' windows survive a restart: refilled from the stored observations at start-up."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.unit.rules.conftest import HERE, T0
from vigil.app import App, build
from vigil.config import Settings, load_settings
from vigil.core.clock import ManualClock
from vigil.ingest.model import DeviceKind
from vigil.ingest.registry import make_device

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
        id="NM-1",
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
        id="NM-1",
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
