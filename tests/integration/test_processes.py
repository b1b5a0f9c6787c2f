"""Several processes on one store and one NATS bus: 2 API processes and 2 rules/ingest workers.

Real `vigil serve` processes (``--role api`` twice, ``--role ingest,rules``
with partitions 0-1 and 2-3 of 4) on one store (SQLite files in WAL mode in
one data directory, or a PostgreSQL database of its own) and the shared NATS
server (a random prefix). Smoke panels are registered through the first
API process; an alarm posted to the *second* is committed there, goes over
JetStream to the worker owning the panel's partition, whose rule opens an
incident; the live feed of the second API process streams it, both processes'
incident lists show it, and a client reconnecting to the first process with
the second's event id resumes without a gap. Run on SQLite files and on
PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml

from tests.natsutil import delete_streams, free_port, nats_url
from tests.postgres import temp_database
from vigil.bus.nats import partition_of
from vigil.serve import listening_socket
from vigil.store.ports import Store
from vigil.store.postgres.database import Database
from vigil.store.postgres.store import PostgresStore
from vigil.store.sqlite import SqliteStore

pytestmark = pytest.mark.integration

PARTITIONS = 4


def _panels() -> tuple[str, str]:
    """Two smoke panels: one in partitions 0-1 (worker A), one in 2-3 (worker B)."""
    low = next(f"smoke-{i}" for i in range(100) if partition_of(f"smoke-{i}", PARTITIONS) < 2)
    high = next(f"smoke-{i}" for i in range(100) if partition_of(f"smoke-{i}", PARTITIONS) >= 2)
    return low, high


class Proc:
    """One `vigil serve` process and its output (read on a thread)."""

    def __init__(self, name: str, args: list[str], log: Path) -> None:
        self.name = name
        self.lines: list[str] = []
        self.log = log
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vigil", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.log.open("w") as out:
            for line in self.proc.stdout:
                self.lines.append(line)
                out.write(line)
                out.flush()

    def wait_for(self, text: str, timeout: float = 180.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{''.join(self.lines)[-3000:]}")
            time.sleep(0.1)
        raise AssertionError(f"{self.name}: no {text!r} in:\n{''.join(self.lines)[-3000:]}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code


class Feed:
    """A live-feed client on a thread: every frame's id and type."""

    def __init__(self, base: str, token: str, last_event_id: int | None = None) -> None:
        self.frames: list[tuple[int, str, dict[str, object]]] = []
        self.stop = False
        self.error: httpx.TransportError | None = None
        headers = {"Authorization": f"Bearer {token}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.thread = threading.Thread(target=self._run, args=(base, headers), daemon=True)
        self.connected = threading.Event()
        self.thread.start()

    def _run(self, base: str, headers: dict[str, str]) -> None:
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(5.0, read=30.0)) as client,
                client.stream("GET", f"{base}/api/v1/live", headers=headers) as resp,
            ):
                self.connected.set()
                seq: int | None = None
                kind = ""
                for line in resp.iter_lines():
                    if self.stop:
                        return
                    if line.startswith("id: "):
                        seq = int(line[4:])
                    elif line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and seq is not None:
                        self.frames.append((seq, kind, json.loads(line[6:])))
                        seq = None
        except httpx.TransportError as exc:
            # The server went away (the test stops the processes while the feed is open);
            # `wait` reports what the feed saw, so the error is kept, not raised on the thread.
            self.error = exc

    def wait(self, cond: Callable[[list[tuple[int, str, dict[str, object]]]], bool]) -> None:
        deadline = time.monotonic() + 60
        while not cond(list(self.frames)):
            assert time.monotonic() < deadline, f"live feed saw only {self.frames} ({self.error})"
            time.sleep(0.1)


def register_panels(
    http: httpx.Client, base: str, admin_token: str, devices: Iterable[str]
) -> dict[str, str]:
    """Register smoke panels through one API process; return each panel's device token."""
    tokens: dict[str, str] = {}
    for d in devices:
        r = http.post(
            f"{base}/api/v1/devices",
            headers={"Authorization": f"Bearer {admin_token}"},
            json={"id": d, "kind": "smoke_panel", "lat": 60.17, "lon": 24.94, "interval_s": 3600},
        )
        assert r.status_code == 201, r.text
        tokens[d] = r.json()["token"]
    return tokens


def post_alarm(http: httpx.Client, base: str, device: str, device_token: str) -> None:
    """Post one alarm reading (seq 1, now) as the panel itself; it must be accepted."""
    r = http.post(
        f"{base}/api/v1/observations",
        headers={"Authorization": f"Bearer {device_token}"},
        json={
            "device_id": device,
            "stream": "alarm",
            "seq": 1,
            "ts": datetime.now(UTC).isoformat(),
            "value": 1.0,
        },
    )
    assert r.status_code in (200, 201, 202), r.text


def _opened(frames: list[tuple[int, str, dict[str, object]]]) -> list[tuple[int, str]]:
    return [
        (seq, str(data["data"]["incident_id"]))  # type: ignore[index]
        for seq, kind, data in frames
        if kind == "incident.opened"
    ]


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Path, str, str, str | None]]:
    """A config: the store (SQLite files in WAL mode, or a PostgreSQL database) and NATS."""
    url = nats_url()
    prefix = f"t{secrets.token_hex(6)}"
    low, high = _panels()
    with contextlib.ExitStack() as stack:
        config: dict[str, object] = {
            "data_dir": str(tmp_path / "data"),
            "bus": {"kind": "nats", "url": url, "prefix": prefix, "partitions": PARTITIONS},
        }
        db: str | None = None
        if request.param == "postgres":
            db = stack.enter_context(temp_database())
            config["store"] = {"url": db}
        (tmp_path / "city.yaml").write_text(yaml.safe_dump(config))
        yield tmp_path, low, high, db
        delete_streams(url, prefix)


def test_two_api_processes_and_two_workers_on_one_store_and_bus(
    deployment: tuple[Path, str, str, str | None],
) -> None:
    tmp, low, high, db = deployment
    cfg = ["--config", str(tmp / "city.yaml")]
    port1, port2 = free_port(), free_port()
    procs: list[Proc] = []
    try:
        api1 = Proc(
            "api1", [*cfg, "--role", "api", "--port", str(port1), "--admin-token"], tmp / "api1.log"
        )
        procs.append(api1)
        token = api1.wait_for("admin API token:").split(":", 1)[1].strip()
        api1.wait_for("Vigil serving")
        api2 = Proc("api2", [*cfg, "--role", "api", "--port", str(port2)], tmp / "api2.log")
        workers = [
            Proc(f"w{i}", [*cfg, "--role", "ingest,rules", "--partitions", part], tmp / f"w{i}.log")
            for i, part in enumerate(("0-1", "2-3"))
        ]
        procs += [api2, *workers]
        api2.wait_for("Vigil serving")
        for w in workers:
            w.wait_for("worker running")
        base1, base2 = f"http://127.0.0.1:{port1}", f"http://127.0.0.1:{port2}"
        admin = {"Authorization": f"Bearer {token}"}
        with httpx.Client(timeout=30) as http:
            device_tokens = register_panels(http, base1, token, (low, high))
            # The devices were registered through the first process only: the second
            # follows the registrations through the bus.
            time.sleep(1.0)
            feed2 = Feed(base2, token)  # the other API process's live feed, from now on
            assert feed2.connected.wait(30)
            time.sleep(1.0)
            for d in (low, high):
                post_alarm(http, base2, d, device_tokens[d])
            feed2.wait(lambda frames: len(_opened(frames)) == 2)
            opened = _opened(feed2.frames)
            # Each worker's rule opened one (the panels are in different partitions).
            for base in (base1, base2):  # both processes' CAD state followed the workers'
                incidents = http.get(f"{base}/api/v1/incidents", headers=admin).json()
                assert {i["id"] for i in incidents} >= {iid for _, iid in opened}
            # Resume on the first process from the second's first incident frame.
            first_seq = opened[0][0]
            feed1 = Feed(base1, token, last_event_id=first_seq)
            feed1.wait(lambda frames: opened[1][0] in [s for s, _, _ in frames])
            # Both feeds carry the same frames in the same order: compare up to the last
            # frame the second had when looked at (the first may be behind it or ahead).
            expected = [s for s, _, _ in feed2.frames if s > first_seq]
            feed1.wait(lambda frames: expected[-1] in [s for s, _, _ in frames])
            seqs = [s for s, _, _ in feed1.frames]
            assert seqs[0] == first_seq + 1  # nothing between the two is missed
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
            assert seqs[: len(expected)] == expected
            feed1.stop = feed2.stop = True
    finally:
        codes = [p.stop() for p in procs]
    assert codes == [0] * len(procs), [p.lines[-20:] for p in procs]
    store: Store = SqliteStore(tmp / "data" / "vigil.sqlite3") if db is None else _pg(db)
    try:
        # Each worker kept its own durable cursor (its member name), both at the head.
        head = store.last_seq()
        for part in ("0-1", "2-3"):
            assert store.cursor(f"rules@ingest-rules-{part}") == head
    finally:
        store.close()


def _pg(url: str) -> Store:
    return PostgresStore(Database(url, what="store"))


def test_api_processes_share_one_port() -> None:
    """Two API processes bind the same port with SO_REUSEPORT (the kernel balances)."""
    port = free_port()
    a = listening_socket("127.0.0.1", port, reuse_port=True)
    b = listening_socket("127.0.0.1", port, reuse_port=True)
    try:
        assert a.getsockname()[1] == b.getsockname()[1] == port
    finally:
        a.close()
        b.close()
