"""Fault harness: kill -9 of the server under HTTP and MQTT load loses nothing acknowledged."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.faults import CallLoad, ObservationLoad, count, register_devices, wait_for
from tests.integration.servers import VigilServer
from vigil.app import build
from vigil.config import load_settings
from vigil.core.ids import new_id

pytestmark = pytest.mark.integration


def _mosquitto() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=1):
            return True
    except OSError:
        return False


def _stored(server: VigilServer) -> int:
    r = httpx.get(f"{server.url}/api/v1/ingest/stats", headers=server.headers(), timeout=5)
    stored: int = r.json()["stored"]
    return stored


def test_kill_9_under_load_loses_no_acknowledged_call_or_observation(tmp_path: Path) -> None:
    if not _mosquitto():
        reason = "Mosquitto is not running on 127.0.0.1:1883"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must have it")
        pytest.skip(reason)
    run = new_id("f").lower()
    data = tmp_path / "data"
    site = f"s{run}"
    env = {
        "VIGIL_INGEST__MQTT__ENABLED": "true",
        "VIGIL_INGEST__MQTT__SITE": site,
        "VIGIL_INGEST__MQTT__CLIENT_ID": f"vigil-{run}",
        "VIGIL_INGEST__MQTT__RECONNECT_MIN_S": "1",
        "VIGIL_INGEST__MQTT__RECONNECT_MAX_S": "2",
    }
    prep = build(load_settings(data_dir=data))
    try:
        devices = register_devices(prep, site, 10)
    finally:
        prep.close()
    server = VigilServer(data, env=env)
    calls = CallLoad(server.url, server.token, run, writers=2)
    obs = ObservationLoad(1883, site, devices, rate=20, client_id=f"gw-{run}")
    calls.start()
    obs.start()
    try:
        assert wait_for(lambda: len(calls.acked) >= 30 and len(obs.acked) >= 30, 40)
        server.kill()  # mid-stream: writers and the gateway keep sending
        time.sleep(1)
        server = VigilServer(data, env=env, port=server.port)
        repaired = time.time()
        assert wait_for(lambda: calls.acked_after(repaired) is not None, 40)
        time.sleep(2)
    finally:
        calls.stop()
        obs.stop()
    # The broker hands Vigil what it queued while Vigil was down.
    wait_for(lambda: _stored(server) >= len(obs.acked), 30)
    server.stop()
    app = build(load_settings(data_dir=data))
    try:
        result = count(app, "kill -9 serve (sqlite)", calls, obs, repaired)
    finally:
        app.close()
    detail = result.detail
    assert detail["calls_acknowledged"] >= 30 and detail["observations_acknowledged"] >= 30
    assert result.found == result.acknowledged, detail
    assert result.duplicated == 0, detail
    assert result.recovery_s is not None
