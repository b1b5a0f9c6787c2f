"""Login flood: does call-taking stay fast while 60 clients hammer /auth/login?

Three processes, so that no client's GIL skews the server's figures:
- a server (`python -m tests.security.flood serve`): the real API on an
  embedded store, no road network;
- a hammer (`... hammer`): 60 concurrent clients posting wrong passwords to
  /api/v1/auth/login for the whole measurement (on the same host, so it also
  takes CPU from the server, which remote attackers would not);
- this process: one call-taker posting `POST /api/v1/calls` back to back,
  recording each latency.

Phases, in one run: no flood (baseline); flood with the default login limits
(most attempts are refused 429 before any hashing); flood with the limits
lifted (every attempt reaches the bounded hashing pool, which answers 503 when
its queue is full). Reports p50/p99 of POST /calls, the hammer's status counts,
the server's peak RSS and its CPU-seconds (the machine is shared: wall times
are skewed, CPU-seconds less so).

The benchmark is `.venv/bin/python -m benchmarks.login_flood` (writes
benchmarks/results/login_flood.json); tests/security/test_login_flood.py runs
the flood phases with the p99 target. This module is their shared harness.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "login_flood.json"
CLIENTS = 60
LIFTED = {
    "VIGIL_AUTH__LOGIN_ATTEMPTS_PER_MINUTE": "100000000",
    "VIGIL_AUTH__LOGIN_FAILURES_PER_ACCOUNT": "100000000",
}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def serve(data_dir: Path, port: int) -> None:
    """Run the API on `data_dir` until killed (the server process)."""
    import uvicorn  # noqa: PLC0415 - only the server process needs it

    from vigil.api.http import create_api  # noqa: PLC0415
    from vigil.app import build  # noqa: PLC0415
    from vigil.audit.roles import Role  # noqa: PLC0415
    from vigil.config import load_settings  # noqa: PLC0415

    app = build(load_settings(data_dir=data_dir))
    if app.store.user("taker") is None:
        app.users.add("taker", Role.CALL_TAKER, None, actor="bench")
        app.users.add("victim", Role.DISPATCHER, "correct horse battery", actor="bench")
    token = app.users.issue_token("taker", label="bench", actor="bench", ttl=None)
    (data_dir / "taker.token").write_text(token)
    try:
        uvicorn.run(create_api(app), host="127.0.0.1", port=port, log_level="error")
    finally:
        app.close()


def hammer(port: int, seconds: float, out: Path) -> None:
    """Post wrong passwords from CLIENTS concurrent clients; write status counts to `out`."""

    async def run() -> Counter[int]:
        counts: Counter[int] = Counter()
        stop = time.monotonic() + seconds
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60
        ) as client:

            async def one(i: int) -> None:
                while time.monotonic() < stop:
                    body = {"username": f"victim{i % 3 or ''}", "password": f"guess-{i}-wrong"}
                    try:
                        r = await client.post("/api/v1/auth/login", json=body)
                        counts[r.status_code] += 1
                    except httpx.HTTPError:
                        counts[0] += 1

            await asyncio.gather(*(one(i) for i in range(CLIENTS)))
        return counts

    out.write_text(json.dumps(dict(asyncio.run(run()))))


def _start_server(data_dir: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.security.flood", "serve", str(data_dir), str(port)],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not start")


def _loop_cpu_s(ps: psutil.Process) -> float:
    """CPU-seconds of the server's main thread: the event loop every request passes through."""
    for t in ps.threads():
        if t.id == ps.pid:
            return float(t.user_time + t.system_time)
    return 0.0


def _calls(port: int, token: str, seconds: float) -> list[float]:
    latencies: list[float] = []
    body = {
        "nature": "smoke from a window",
        "incident_type": "structure_fire",
        "location": {"lat": 60.1699, "lon": 24.9384},
    }
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        client.post("/api/v1/calls", json=body, headers=headers).raise_for_status()  # warm up
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            r = client.post("/api/v1/calls", json=body, headers=headers)
            latencies.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
    return latencies


def phase(*, flood: bool, lifted: bool, seconds: float, port: int) -> dict[str, Any]:
    """Measure POST /calls latency on a fresh server, with or without a login flood."""
    return phases(floods=[flood], lifted=lifted, seconds=seconds, port=port)[0]


def phases(*, floods: list[bool], lifted: bool, seconds: float, port: int) -> list[dict[str, Any]]:
    """Measure POST /calls latency on one fresh server, once per entry of `floods`, in order.

    Measuring the baseline and the flood back to back on the same server makes
    their comparison fair on a shared host: same process, same moment.
    """
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        server = _start_server(data_dir, port, LIFTED if lifted else {})
        try:
            ps = psutil.Process(server.pid)
            token = (data_dir / "taker.token").read_text()
            return [
                _measure(ps, data_dir, token, port=port, flood=f, lifted=lifted, seconds=seconds)
                for f in floods
            ]
        finally:
            server.terminate()
            server.wait(timeout=30)


def _measure(
    ps: psutil.Process,
    data_dir: Path,
    token: str,
    *,
    port: int,
    flood: bool,
    lifted: bool,
    seconds: float,
) -> dict[str, Any]:
    rss_before = ps.memory_info().rss
    cpu_before = sum(ps.cpu_times()[:2])
    loop_before = _loop_cpu_s(ps)
    counts_file = data_dir / "hammer.json"
    hammer_proc = None
    if flood:
        hammer_proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.security.flood",
                "hammer",
                str(port),
                str(seconds + 2),
                str(counts_file),
            ],
            cwd=ROOT,
        )
        time.sleep(2)  # let the flood build up before measuring
    peak = [rss_before]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.1):
            peak[0] = max(peak[0], ps.memory_info().rss)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        t0 = time.monotonic()
        loop_start = _loop_cpu_s(ps)  # the measured window only (after the flood built up)
        latencies = _calls(port, token, seconds)
        window_s = time.monotonic() - t0
        loop_window = _loop_cpu_s(ps) - loop_start
    finally:
        done.set()
        watcher.join()
        if hammer_proc is not None:
            try:
                hammer_proc.wait(timeout=seconds + 60)
            except subprocess.TimeoutExpired:
                hammer_proc.kill()
                hammer_proc.wait()
    counts = json.loads(counts_file.read_text()) if flood else {}
    return {
        "flood": flood,
        "limits_lifted": lifted,
        "calls": len(latencies),
        "p50_ms": _pct(latencies, 0.50),
        "p99_ms": _pct(latencies, 0.99),
        "max_ms": max(latencies),
        "login_status_counts": counts,
        "server_rss_mib_before": rss_before / 2**20,
        "server_rss_mib_peak": peak[0] / 2**20,
        "server_cpu_s": sum(ps.cpu_times()[:2]) - cpu_before,
        "loop_cpu_s": _loop_cpu_s(ps) - loop_before,
        # Event-loop CPU-seconds per second of measurement: what the call-taker's
        # requests queue behind. CPU time is work done, so other processes' load
        # on the host does not inflate it the way it inflates wall-clock latency.
        "loop_cpu_per_s": loop_window / window_s,
        "load_average_1m": os.getloadavg()[0],
    }


def run_benchmark() -> None:
    """Run the three phases, print a table and save the JSON."""
    seconds = float(os.environ.get("FLOOD_SECONDS", "10"))
    phases = {
        "baseline": phase(flood=False, lifted=False, seconds=seconds, port=free_port()),
        "flood_default_limits": phase(flood=True, lifted=False, seconds=seconds, port=free_port()),
        "flood_limits_lifted": phase(flood=True, lifted=True, seconds=seconds, port=free_port()),
    }
    results: dict[str, Any] = {
        **phases,
        "clients": CLIENTS,
        "seconds_per_phase": seconds,
        "target_p99_ms": 100,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"{'phase':24} {'calls':>6} {'p50 ms':>8} {'p99 ms':>8} {'RSS peak MiB':>13} logins")
    for name, r in phases.items():
        print(
            f"{name:24} {r['calls']:6} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f}"
            f" {r['server_rss_mib_peak']:13.0f} {r['login_status_counts']}"
        )
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(Path(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1:2] == ["hammer"]:
        hammer(int(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4]))
