"""NATS for tests: the shared server (fail under CI when absent) and servers of our own.

The shared server is NATS 2.9 with JetStream on 127.0.0.1:4222 (override with
``VIGIL_TEST_NATS_URL``). Tests on it use random stream/subject prefixes and
delete their streams after; tests that stop or kill a server start their own
(`NatsServer`, `/usr/sbin/nats-server`) on free ports with their own store dirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import nats
import nats.js.errors
import pytest

T = TypeVar("T")

NATS_URL = os.environ.get("VIGIL_TEST_NATS_URL", "nats://127.0.0.1:4222")
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def _reachable(url: str) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 4222), timeout=1):
            return True
    except OSError:
        return False


def _absent(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must have it")
    pytest.skip(reason)


def nats_url() -> str:
    """Return the shared NATS server's URL, skipping (failing under CI) when it is absent."""
    if not _reachable(NATS_URL):
        _absent(f"NATS JetStream is not running at {NATS_URL}")
    return NATS_URL


def nats_binary() -> str:
    """Return the nats-server executable, skipping (failing under CI) when it is absent."""
    if not Path(NATS_SERVER).is_file():
        _absent(f"nats-server not found ({NATS_SERVER})")
    return NATS_SERVER


def run_coroutine(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a fresh event loop in its own thread.

    `asyncio.run` refuses to start in a thread that already runs a loop, and the
    browser tests' sync Playwright leaves one running in the main thread for the rest
    of the session; a thread of its own has none.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nats-test") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def delete_streams(url: str, prefix: str) -> None:
    """Delete the streams a NatsBus with this prefix created (a test's cleanup)."""

    async def go() -> None:
        nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=2)
        try:
            js = nc.jetstream()
            for kind in ("events", "topics", "dead"):
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    await js.delete_stream(f"{prefix}_{kind}")
        finally:
            await nc.close()

    run_coroutine(go)


def free_port() -> int:
    """Return a free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class NatsServer:
    """One nats-server process of our own (JetStream on, its own store directory)."""

    def __init__(
        self,
        store_dir: Path,
        *,
        name: str = "n1",
        port: int | None = None,
        cluster_port: int | None = None,
        routes: list[int] | None = None,
        cluster: str = "vigil-test",
    ) -> None:
        self.name = name
        self.port = port or free_port()
        self.cluster_port = cluster_port
        self.routes = routes or []
        self.cluster = cluster
        self.store_dir = store_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = store_dir.parent / f"{name}.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [nats_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port)]
        cmd += ["-sd", str(self.store_dir), "-n", self.name]
        if self.cluster_port is not None:
            cmd += ["--cluster_name", self.cluster]
            cmd += ["--cluster", f"nats://127.0.0.1:{self.cluster_port}"]
            routes = ",".join(f"nats://127.0.0.1:{p}" for p in self.routes)
            cmd += ["--routes", routes]
        return cmd

    def start(self, *, wait: bool = True) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT)
        if wait:
            self.wait_listening()
        return self

    def wait_listening(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"nats-server {self.name} exited: {self.log.read_text()[-2000:]}"
                )
            if _reachable(self.url):
                return
            time.sleep(0.05)
        raise RuntimeError(f"nats-server {self.name} did not listen on {self.port}")

    def kill(self) -> None:
        """Kill -9 (no clean shutdown)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None
