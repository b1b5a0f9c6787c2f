"""`vigil demo` shows the platform at once: within its first five minutes (at the default 30x).

Run at 240x here: the first 150 simulated minutes (five wall minutes at 30x) must
bring a CAP flood warning awaiting approval (the flood rule, from the simulated
harbour gauges), an acoustic event (the shots-fired rule: microphones and calls)
and camera events (the camera worker on the shared clip: intrusion incident; the
simulated cameras near the shot: a behaviour reading) — all through the rules.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import shared_file
from tests.integration.test_demo import _banner
from vigil.sim.demo import DEMO_USER
from vigil.sim.scenario import load_scenario

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIVE_WALL_MINUTES_AT_30X = timedelta(minutes=150)


def _broker() -> None:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=1):
            return
    except OSError:
        if os.environ.get("CI") == "true":
            pytest.fail("Mosquitto is not running on 127.0.0.1:1883; CI must have it")
        pytest.skip("Mosquitto is not running on 127.0.0.1:1883")


def test_first_five_minutes_show_alert_acoustic_and_camera_events(tmp_path: Path) -> None:
    _broker()
    clip = shared_file("video/worker-zone-detection.gif")
    start = load_scenario(None).start
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from vigil.cli import main; main()", "demo",
         "--port", "0", "--speed", "240", "--no-browser", "--duration", "400",
         "--data-dir", str(tmp_path / "demo"), "--video", str(clip)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        url, password, banner = _banner(proc)
        assert any("sea rises" in line for line in banner), banner
        with httpx.Client(base_url=url + "/api/v1", timeout=30) as http:
            r = http.post("/auth/login", json={"username": DEMO_USER, "password": password})
            http.headers["Authorization"] = f"Bearer {r.json()['token']}"
            limit = start + FIVE_WALL_MINUTES_AT_30X
            deadline = time.monotonic() + 330
            now = start
            while now < limit and time.monotonic() < deadline:
                time.sleep(2)
                now = datetime.fromisoformat(http.get("/health").json()["now"])
            assert now >= limit, f"the simulation reached only {now} (wanted {limit})"
            drafts = http.get("/alerts", params={"state": "draft"}).json()
            incidents = http.get("/incidents", params={"until": limit.isoformat()}).json()
            cameras: list[dict[str, Any]] = [
                d
                for d in http.get("/devices").json()
                if d["kind"] == "camera_analytics" and "." not in d["id"]
            ]
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    flood = [a for a in drafts if a["infos"][0]["event"] == "Flood warning"]
    assert flood, drafts
    assert datetime.fromisoformat(flood[0]["composed_at"]) <= limit
    assert all(a["authors"] and not a["decided_by"] for a in flood)  # awaiting a supervisor

    by_rule = {i["caused_by_rule"] for i in incidents if i["caused_by_rule"]}
    assert any(r.startswith("shots-fired") for r in by_rule), by_rule  # acoustic
    assert any(r.startswith("camera-zone-intrusion") for r in by_rule), by_rule  # the clip
    assert any(r.startswith("flood") for r in by_rule), by_rule

    # The simulated cameras near the shot saw people running (a behaviour, no identity).
    running = [
        d["id"]
        for d in cameras
        for v in d["latest"]
        if v["stream"] == "behaviour" and datetime.fromisoformat(v["observed_at"]) <= limit
    ]
    assert running, "no simulated camera reported a behaviour"
