"""A real `vigil serve` subprocess on a free port, for integration tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from tests.conftest import free_port

VIGIL = [sys.executable, "-m", "vigil"]


class VigilServer:
    """`vigil serve --admin-token` on a free port; `kill()` is SIGKILL, `stop()` SIGTERM."""

    def __init__(
        self,
        data_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        port: int | None = None,
        timeout: float = 90.0,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            [
                *VIGIL,
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                str(self.port),
                "--admin-token",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.token = ""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        for line in self.proc.stdout:
            self.output.append(line)
            if line.startswith("admin API token: "):
                self.token = line.split(": ", 1)[1].strip()
            if "serving on" in line or time.monotonic() > deadline:
                break
        if not self.token:
            self.proc.kill()
            self.proc.wait(10)
            raise RuntimeError("server did not start:\n" + "".join(self.output[-30:]))
        self._drain = threading.Thread(target=self._read_rest, daemon=True)
        self._drain.start()
        while True:
            try:
                httpx.get(f"{self.url}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.1)

    @property
    def pid(self) -> int:
        """Return the server's process id."""
        return self.proc.pid

    def headers(self) -> dict[str, str]:
        """Return the admin's Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}

    def _read_rest(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            del self.output[:-200]

    def kill(self) -> None:
        """SIGKILL the server and reap it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self._finish()

    def stop(self) -> None:
        """SIGTERM the server and reap it."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self._finish()

    def _finish(self) -> None:
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._drain.join(timeout=5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
