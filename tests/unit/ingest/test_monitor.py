"""Offline detection with an injected clock; lifecycle events in the main log and on the bus."""

from __future__ import annotations

import json

from tests.unit.ingest.conftest import device
from vigil.app import App
from vigil.core.clock import ManualClock
from vigil.core.events import Recorded
from vigil.ingest.events import DeviceOffline, DeviceOnline
from vigil.ingest.model import DeviceKind
from vigil.ingest.monitor import DeviceMonitor, DeviceState


def _reading(app: App, seq: int) -> None:
    ts = app.clock.now().isoformat()
    payload = json.dumps({"seq": seq, "ts": ts, "value": 1.5}).encode()
    parsed = app.ingest.parser.mqtt("vigil/hel/devices/g-1/level", payload, app.clock.now())
    assert parsed.observations, parsed.rejections
    app.ingest.pipeline.commit(parsed)
    assert app.bus.drain(10)  # the monitor is a bus listener: it runs after the commit


def test_silence_raises_offline_and_a_reading_online(app: App, clock: ManualClock) -> None:
    seen: list[Recorded] = []
    app.bus.subscribe("test", seen.append)
    app.ingest.registry.register([device("g-1", DeviceKind.FLOOD_GAUGE)], actor="test")
    grace = app.settings.ingest.offline_grace  # interval 60 s x grace
    assert app.ingest.monitor.state("g-1") is DeviceState.UNKNOWN
    _reading(app, 1)
    assert app.ingest.monitor.state("g-1") is DeviceState.ONLINE
    clock.advance(60 * grace - 1)
    assert app.ingest.monitor.check() == []
    clock.advance(2)
    (off,) = app.ingest.monitor.check()
    assert isinstance(off.event, DeviceOffline)
    assert off.stream == "device/g-1"
    assert off.event.silent_s == 60 * grace + 1
    assert app.ingest.monitor.state("g-1") is DeviceState.OFFLINE
    assert app.ingest.monitor.check() == []  # raised once per silence
    clock.advance(30)
    _reading(app, 2)
    assert app.ingest.monitor.state("g-1") is DeviceState.ONLINE
    assert app.bus.drain(10)
    types = [r.type for r in seen]
    assert types == ["device.registered", "device.offline", "device.online"]
    assert isinstance(seen[-1].event, DeviceOnline)
    assert [r.type for r in app.store.stream("device/g-1")] == types


def test_offline_state_survives_restart(app: App, clock: ManualClock) -> None:
    app.ingest.registry.register([device("g-1", DeviceKind.FLOOD_GAUGE)], actor="test")
    clock.advance(3600)
    assert len(app.ingest.monitor.check()) == 1
    again = DeviceMonitor(
        registry=app.ingest.registry,
        observations=app.ingest.observations,
        store=app.store,
        bus=app.bus,
        clock=clock,
        grace=3.0,
    )
    assert again.state("g-1") is DeviceState.OFFLINE
    assert again.check() == []
