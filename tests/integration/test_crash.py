"""A real `vigil serve` killed with SIGKILL keeps every acknowledged write."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

VIGIL = [sys.executable, "-m", "vigil"]


class Server:
    """A `vigil serve` subprocess on a free port."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                *VIGIL,
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                str(self.port),
                "--admin-token",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.token = ""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in self.proc.stdout:
            if line.startswith("admin API token: "):
                self.token = line.split(": ", 1)[1].strip()
            if "serving on" in line:
                break
            if time.monotonic() > deadline:
                break
        assert self.token, "server did not print an admin token"
        self.url = f"http://127.0.0.1:{self.port}"
        self._drain = threading.Thread(target=self._read_rest, daemon=True)
        self._drain.start()
        while True:
            try:
                httpx.get(f"{self.url}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _read_rest(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self._finish()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self._finish()

    def _finish(self) -> None:
        self.proc.wait(timeout=20)
        self._drain.join(timeout=5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


def _writer(url: str, token: str, acked: list[str], stop: threading.Event, n: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=5) as client:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                r = client.post(
                    f"{url}/api/v1/calls",
                    json={
                        "nature": f"writer {n} call {i}",
                        "incident_type": "medical",
                        "location": {"lat": 60.17, "lon": 24.94},
                        "caller_phone": "+358 00 000",
                    },
                    headers=headers,
                )
            except httpx.TransportError:
                return
            if r.status_code == 201:
                acked.append(r.json()["incident"]["id"])


@pytest.mark.integration
@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_write(data_dir: Path) -> None:
    server = Server(data_dir)
    acked: list[str] = []
    stop = threading.Event()
    writers = [
        threading.Thread(target=_writer, args=(server.url, server.token, acked, stop, n))
        for n in range(3)
    ]
    for w in writers:
        w.start()
    deadline = time.monotonic() + 60
    while len(acked) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # mid-stream: writers are still sending
    stop.set()
    for w in writers:
        w.join(timeout=10)
    assert len(acked) >= 60, "too few writes acknowledged before the kill"

    server = Server(data_dir)
    try:
        headers = {"Authorization": f"Bearer {server.token}"}
        listed = httpx.get(f"{server.url}/api/v1/incidents", headers=headers, timeout=10).json()
        present = {i["id"] for i in listed}
        missing = set(acked) - present
        assert not missing, f"{len(missing)} acknowledged incidents lost"
        # Every incident is whole: opened and with its call, nothing half-written.
        assert all(len(i["call_ids"]) == 1 for i in listed)
    finally:
        server.stop()

    verify = subprocess.run(
        [*VIGIL, "audit", "verify", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "intact" in verify.stdout


@pytest.mark.integration
def test_audit_verify_names_a_tampered_event(data_dir: Path) -> None:
    env = {**os.environ}
    made = subprocess.run(
        [*VIGIL, "users", "add", "alice", "--role", "dispatcher", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert "token" in made.stdout
    subprocess.run(
        [*VIGIL, "users", "add", "bob", "--role", "analyst", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    ok = subprocess.run(
        [*VIGIL, "audit", "verify", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    with sqlite3.connect(data_dir / "vigil.sqlite3") as db:
        db.execute("UPDATE events SET data = replace(data, 'analyst', 'admin') WHERE seq = 3")
    bad = subprocess.run(
        [*VIGIL, "audit", "verify", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "BROKEN events chain at seq 3" in bad.stderr


@pytest.mark.integration
def test_store_rebuild_gets_the_same_state(data_dir: Path) -> None:
    server = Server(data_dir)
    try:
        headers = {"Authorization": f"Bearer {server.token}"}
        for uid in ("E1", "M1"):
            httpx.post(
                f"{server.url}/api/v1/units",
                json={
                    "id": uid,
                    "type": "engine" if uid == "E1" else "medic_als",
                    "location": {"lat": 60.17, "lon": 24.94},
                },
                headers=headers,
            ).raise_for_status()
        inc = httpx.post(
            f"{server.url}/api/v1/incidents",
            json={"type": "medical", "location": {"lat": 60.17, "lon": 24.94}},
            headers=headers,
        ).json()
        httpx.post(
            f"{server.url}/api/v1/incidents/{inc['id']}/assignments",
            json={"unit_ids": ["M1"]},
            headers=headers,
        ).raise_for_status()
    finally:
        server.stop()
    with sqlite3.connect(data_dir / "vigil.sqlite3") as db:
        before = db.execute("SELECT kind, id, body FROM projection ORDER BY kind, id").fetchall()
        db.execute("DELETE FROM projection")  # projections are disposable: the log is the truth
    out = subprocess.run(
        [*VIGIL, "store", "rebuild", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "rebuilt from" in out.stdout
    with sqlite3.connect(data_dir / "vigil.sqlite3") as db:
        after = db.execute("SELECT kind, id, body FROM projection ORDER BY kind, id").fetchall()
    assert after == before
    again = subprocess.run(
        [*VIGIL, "store", "rebuild", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "identical" in again.stdout
