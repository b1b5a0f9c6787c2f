"""The registry lives in the log: rebuilt at start, idempotent loads, devices files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.ingest.conftest import device
from vigil.app import App
from vigil.core.errors import ConfigError, ValidationError
from vigil.core.ids import DeviceId
from vigil.ingest.model import DeviceKind
from vigil.ingest.registry import DeviceRegistry, load_devices_file

YAML = """
devices:
  - {id: nm-1, kind: noise_meter, lat: 60.17, lon: 24.94, zone: market, interval_s: 60}
  - id: cam-7
    kind: camera_analytics
    lat: 60.16
    lon: 24.95
    interval_s: 10
    streams: {count: people}
"""


def test_registry_is_rebuilt_from_the_log(app: App, tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text(YAML)
    changed = app.ingest.registry.register(load_devices_file(path), actor="test")
    assert [d.id for d in changed] == ["nm-1", "cam-7"]
    assert app.ingest.registry.register(load_devices_file(path), actor="test") == []
    moved = device("nm-1", DeviceKind.NOISE_METER, zone="pier")
    assert app.ingest.registry.register([moved], actor="test") == [moved]
    rebuilt = DeviceRegistry(app.store, app.bus, app.users, app.clock)
    assert rebuilt.get(DeviceId("nm-1")).zone == "pier"
    assert rebuilt.get(DeviceId("cam-7")).streams == {"count": "people", "alert": "level"}
    assert [r.type for r in app.store.stream("device/nm-1")] == ["device.registered"] * 2


def test_bad_devices_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_text("devices:\n  - {id: x, kind: toaster, lat: 0, lon: 0, interval_s: 1}\n")
    with pytest.raises(ConfigError, match=r"devices\.0\.kind"):
        load_devices_file(path)


def test_ids_differing_only_in_case_are_refused(app: App) -> None:
    app.ingest.registry.register([device("NM-1", DeviceKind.NOISE_METER)], actor="t")
    with pytest.raises(ValidationError, match="case"):
        app.ingest.registry.register([device("nm-1", DeviceKind.NOISE_METER)], actor="t")
