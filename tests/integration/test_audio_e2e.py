"""End to end: the acoustic worker on a real recording → Mosquitto → Vigil's ingest → rules.

The recording (distant city traffic, public domain) is looped for 13 minutes of
signal and processed as fast as the CPU allows; the worker's clock is injected
so the readings carry a night-time or a day-time timestamp. The built-in
night-noise rule (LAeq averaged over 15 min above 55 dB(A), 22:00-07:00 in the
Kruununhaka zone) must open an incident for the night run and not for the day
run. Uses the system Mosquitto on 127.0.0.1:1883 (unique site and client ids).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from vigil.app import build
from vigil.audio.settings import MicsFile
from vigil.audio.worker import Worker
from vigil.config import load_settings
from vigil.core.clock import ManualClock
from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId, new_id
from vigil.ingest.model import DeviceKind
from vigil.ingest.mqtt import close_client
from vigil.ingest.registry import make_device

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RECORDING = Path(__file__).resolve().parents[1] / "data" / "audio" / "hum.mp3"
KRUUNUNHAKA = LatLon(60.1725, 24.9580)
NIGHT = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)  # 23:00 in Helsinki (EEST)
DAY = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)  # 12:00 in Helsinki


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


def run_city(tmp_path: Path, start: datetime) -> tuple[list[str], int, dict[str, object]]:
    """Run Vigil and the worker for 13 minutes of signal from `start`; return incident types,
    the readings stored and the worker's last health message."""
    site = new_id("aud").lower()
    ingest_id, worker_id = new_id("vigil-audio-e2e"), new_id("audio-e2e")
    app = build(
        load_settings(
            data_dir=tmp_path / "data",
            ingest={"mqtt": {"enabled": True, "site": site, "client_id": ingest_id}},
        ),
        clock=ManualClock(start + timedelta(minutes=14)),
    )
    app.ingest.registry.register(
        [
            make_device(
                id=DeviceId("nm-kru-1"),
                kind=DeviceKind.NOISE_METER,
                location=KRUUNUNHAKA,
                zone=None,
                site=site,
                streams=None,
                interval_s=60,
            ),
            make_device(
                id=DeviceId("nm-kru-1-ac"),
                kind=DeviceKind.ACOUSTIC_DETECTOR,
                location=KRUUNUNHAKA,
                zone=None,
                site=site,
                streams=None,
                interval_s=60,
            ),
        ],
        actor="test",
    )
    cfg = MicsFile.model_validate(
        {
            "worker_id": "w1",
            "timezone": "Europe/Helsinki",
            "report_s": 60,
            "mqtt": {"host": "127.0.0.1", "port": 1883, "site": site, "client_id": worker_id},
            "mics": [
                {
                    "id": "nm-kru-1",
                    "lat": KRUUNUNHAKA.lat,
                    "lon": KRUUNUNHAKA.lon,
                    "input": {
                        "kind": "file",
                        "path": str(RECORDING),
                        "loop": True,
                        "realtime": False,
                        "max_s": 780,
                    },
                    "calibration": {
                        "full_scale_db": 100
                    },  # LAeq about 60 dB(A): above the night limit
                    "limits": [{"start": "22:00", "end": "07:00", "period_s": 900, "laeq_db": 55}],
                }
            ],
        }
    )
    health: dict[str, object] = {}
    got_health = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=new_id("audio-health"))

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        health.update(json.loads(msg.payload))
        got_health.set()

    sub.on_message = on_message
    try:
        app.start()
        assert app.ingest.mqtt.connected.wait(10), "ingest did not connect to the broker"
        time.sleep(0.3)
        worker = Worker(cfg, clock=ManualClock(start))
        worker.run()
        # 13 minutes: laeq + lamax of the noise meter, laeq of the detector, once a minute.
        _wait(lambda: app.ingest.stats().stored >= 39, 15.0)
        _wait(lambda: len(app.cad.incidents()) > 0, 3.0)
        stats = app.ingest.stats()
        assert stats.rejected == 0, stats.by_reason
        sub.connect("127.0.0.1", 1883)
        sub.subscribe(f"vigil/{site}/audio/w1/health", qos=1)
        sub.loop_start()
        got_health.wait(5)
        return [f"{i.type}:{i.caused_by_rule}" for i in app.cad.incidents()], stats.stored, health
    finally:
        close_client(sub)
        app.close()
        _drop_session(ingest_id)


def test_night_noise_opens_an_incident_at_night_and_not_by_day(tmp_path: Path) -> None:
    if not _listening():
        pytest.skip("Mosquitto is not running on 127.0.0.1:1883")
    night, stored, health = run_city(tmp_path / "night", NIGHT)
    assert stored == 39
    assert night == ["disturbance:night-noise-kruununhaka@v1"], night
    mics = health["mics"]
    assert isinstance(mics, dict)
    assert mics["nm-kru-1"]["state"] == "ended" and mics["nm-kru-1"]["frames"] == 780 * 8
    day, _, _ = run_city(tmp_path / "day", DAY)
    assert day == [], day
