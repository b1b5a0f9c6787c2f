"""End to end: the camera worker on a real clip → Mosquitto → Vigil's ingest → rule → incident.

The worker analyses the shared worker-zone clip flat out (realtime: false) with
a restricted zone on the far floor. During the restricted hours the built-in
`camera-zone-intrusion` rule must open an incident at the zone's place; outside
them no behaviour is published and no incident opens. Uses the system
Mosquitto on 127.0.0.1:1883 with unique site, client and device ids.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import shared_file
from vigil.app import build
from vigil.config import load_settings
from vigil.core.ids import new_id
from vigil.ingest.mqtt import close_client
from vigil.ingest.registry import DeviceIn
from vigil.video.config import CamerasFile
from vigil.video.publish import Reading, devices
from vigil.video.worker import Publisher, Worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KAMPPI = (60.1685, 24.9320)


def _listening(port: int = 1883) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait(cond: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def _drop_session(client_id: str) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    c.connect("127.0.0.1", 1883)
    c.loop_start()
    time.sleep(0.2)
    close_client(c)


def _cameras(tmp_path: Path, site: str, cam: str, window: tuple[str, str]) -> CamerasFile:
    return CamerasFile.model_validate(
        {
            "mqtt": {"site": site, "client_id": new_id("video-e2e")},
            "snapshots": {"dir": str(tmp_path / "snapshots"), "retention_days": 1},
            "cameras": [
                {
                    "id": cam,
                    "source": str(shared_file("video/worker-zone-detection.gif")),
                    "lat": KAMPPI[0],
                    "lon": KAMPPI[1],
                    "fps": 12.5,
                    "realtime": False,
                    "interval_s": 2,
                    "zones": [
                        {
                            "name": "far",
                            "polygon": [[0, 100], [480, 100], [480, 235], [0, 235]],
                            "lat": KAMPPI[0],
                            "lon": KAMPPI[1],
                            "restricted": [{"start": window[0], "end": window[1]}],
                        }
                    ],
                }
            ],
        }
    )


def run_city(tmp_path: Path, window: tuple[str, str]) -> tuple[list[str], int, int]:
    """Run Vigil and the worker on the clip; return incident types, behaviour readings, snapshots."""
    site = new_id("cam").lower()
    cam = new_id("cam")[:20]
    ingest_id = new_id("vigil-video-e2e")
    app = build(
        load_settings(
            data_dir=tmp_path / "data",
            ingest={"mqtt": {"enabled": True, "site": site, "client_id": ingest_id}},
        )
    )
    cams = _cameras(tmp_path, site, cam, window)
    # The worker's device definitions must be valid Vigil devices (what POST /devices takes).
    defs = [
        DeviceIn.model_validate(d).to_domain()
        for d in devices(cams.cameras[0], site=site, interval_s=30)
    ]
    app.ingest.registry.register(defs, actor="test")
    behaviours: list[float] = []
    pub = Publisher("127.0.0.1", 1883, site, cams.mqtt.client_id)
    try:
        app.start()
        assert app.ingest.mqtt is not None and app.ingest.mqtt.connected.wait(10)
        time.sleep(0.3)

        def publish(r: Reading) -> None:
            if r.stream == "behaviour":
                behaviours.append(r.value)
            pub.publish(r)

        stats = Worker(cams, publish=publish).run()
        pub.close()
        zone_dev = f"{cam}.far"
        _wait(lambda: bool(app.ingest.status(zone_dev).latest), 15)
        if behaviours:
            _wait(lambda: bool(app.cad.incidents()), 15)
        else:
            time.sleep(1.0)
        types = [i.type for i in app.cad.incidents()]
        assert app.ingest.status(cam).latest, "no health reading stored"
    finally:
        app.close()
        _drop_session(ingest_id)
    return types, len(behaviours), stats.snapshots


def test_intrusion_during_restricted_hours_opens_an_incident(tmp_path: Path) -> None:
    if not _listening():
        pytest.skip("Mosquitto is not running on 127.0.0.1:1883")
    types, behaviours, snapshots = run_city(tmp_path, ("00:00", "23:59"))
    assert behaviours >= 1 and snapshots >= 1
    assert types == ["crime_in_progress"]
    assert list((tmp_path / "snapshots").rglob("*.jpg")), "no blurred snapshot kept"


def test_no_incident_outside_the_restricted_hours(tmp_path: Path) -> None:
    if not _listening():
        pytest.skip("Mosquitto is not running on 127.0.0.1:1883")
    now = datetime.now(UTC)
    start, end = now + timedelta(hours=6), now + timedelta(hours=8)
    types, behaviours, _ = run_city(tmp_path, (f"{start:%H:%M}", f"{end:%H:%M}"))
    assert behaviours == 0 and types == []
