"""`vigil demo` as a user runs it: it serves the UI and API, dispatches, and stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from vigil.cad.service import rebuild_state
from vigil.store.sqlite import SqliteStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _broker_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=1):
            return True
    except OSError:
        return False


def _start(data_dir: Path, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from vigil.cli import main; main()",
            "demo",
            "--port",
            "0",
            "--speed",
            "240",
            "--no-browser",
            "--data-dir",
            str(data_dir),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _banner(proc: subprocess.Popen[str]) -> tuple[str, str, list[str]]:
    assert proc.stdout is not None
    seen: list[str] = []
    url = password = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line.rstrip())
        if m := re.search(r"open\s+(http://\S+)/", line):
            url = m.group(1)
        if m := re.search(r"login\s+demo / (\S+)", line):
            password = m.group(1)
        if "Ctrl-C stops everything" in line:
            break
    assert url is not None and password is not None, "\n".join(seen)
    return url, password, seen


def test_demo_serves_dispatches_and_stops(tmp_path: Path) -> None:
    if not _broker_up():
        pytest.skip("Mosquitto is not running on 127.0.0.1:1883")
    data_dir = tmp_path / "demo"
    proc = _start(data_dir, "--duration", "15")
    try:
        url, password, _ = _banner(proc)
        with httpx.Client(base_url=url, timeout=30) as http:
            page = http.get("/")
            assert page.status_code == 200
            assert "<html" in page.text.lower()
            login = http.post("/api/v1/auth/login", json={"username": "demo", "password": password})
            assert login.status_code == 200, login.text
            token = login.json()["token"]
            assert login.json()["role"] == "dispatcher"
            units = http.get("/api/v1/units", headers={"Authorization": f"Bearer {token}"})
            assert units.status_code == 200
            # The busy city: the default fleet times three, plus the crew unit a person plays.
            assert len(units.json()) >= 60
            assert "H1" in {u["id"] for u in units.json()}
            devices = http.get("/api/v1/devices", headers={"Authorization": f"Bearer {token}"})
            assert len(devices.json()) >= 1000
            crew = http.post("/api/v1/auth/login", json={"username": "h1", "password": password})
            assert crew.status_code == 200, crew.text
            assert crew.json()["role"] == "field_unit"
            assert http.get("/field/").status_code == 200
            # A citizen's report waits for moderation; the public report form is served.
            reports = http.get("/api/v1/reports", headers={"Authorization": f"Bearer {token}"})
            assert [r["category"] for r in reports.json()] == ["flooding"]
            assert http.get("/report").status_code == 200
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "Vigil demo stopped." in out
    store = SqliteStore(data_dir / "vigil.sqlite3")
    try:
        state = rebuild_state(store)
    finally:
        store.close()
    assert state.calls, out
    assert state.incidents
    assert any(i.units_ever for i in state.incidents.values())


def test_ctrl_c_stops_everything_cleanly(tmp_path: Path) -> None:
    if not _broker_up():
        pytest.skip("Mosquitto is not running on 127.0.0.1:1883")
    proc = _start(tmp_path / "demo")
    try:
        url, _, _ = _banner(proc)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "Vigil demo stopped." in out
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/api/v1/health", timeout=2)
