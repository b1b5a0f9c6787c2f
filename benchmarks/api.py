"""Foundation benchmark: event-log write rate and API latency on this machine.

Measures, in one run:
- events/s written by the CAD service straight to the store (each command its
  own fsynced transaction, as in production), and by batched AVL reports;
- calls/s, p50/p99 latency of `POST /api/v1/calls` and `GET /api/v1/incidents?active=true`
  against a real `vigil serve` process, with 8 concurrent clients in a separate
  load-generator process, and the CPU-seconds the server spent.

Run: ``.venv/bin/python benchmarks/api.py [--out FILE]``; writes
benchmarks/results/api.json (or FILE) and prints a table.

With ``--store-url postgresql://127.0.0.1:5432/postgres`` it measures both
stores in one run, SQLite (the baseline) and a fresh database of its own on
that PostgreSQL server (dropped after), and writes api-postgres.json with both
sets of figures, the server's CPU on PostgreSQL, and their ratios.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from vigil.app import build
from vigil.cad.service import NewCall
from vigil.config import load_settings
from vigil.core.geometry import LatLon
from vigil.core.ids import UnitId

RESULTS = Path(__file__).parent / "results" / "api.json"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def store_rates(n_commands: int = 2000, store_url: str | None = None) -> dict[str, float]:
    """Return events/s for single-command transactions and for batched AVL fixes."""
    with tempfile.TemporaryDirectory() as tmp:
        store = {"url": store_url} if store_url else None
        app = build(load_settings(data_dir=Path(tmp), store=store))
        try:
            for i in range(100):
                app.cad.register_unit(
                    actor="bench",
                    unit_id=UnitId(f"U{i}"),
                    callsign=None,
                    type="patrol",
                    station=None,
                    location=LatLon(60.17, 24.94),
                )
            before = app.store.last_seq()
            t0 = time.perf_counter()
            for i in range(n_commands):
                app.cad.take_call(
                    NewCall(
                        nature=f"bench {i}", location=LatLon(60.17, 24.94), incident_type="medical"
                    ),
                    actor="bench",
                )
            single = (app.store.last_seq() - before) / (time.perf_counter() - t0)
            before = app.store.last_seq()
            now = datetime.now(UTC)
            t0 = time.perf_counter()
            for _ in range(50):
                app.cad.report_positions(
                    [(UnitId(f"U{i}"), LatLon(60.17, 24.94), now, None, None) for i in range(100)],
                    actor="bench",
                )
            batched = (app.store.last_seq() - before) / (time.perf_counter() - t0)
        finally:
            app.close()
    return {"events_per_s_single_command": single, "events_per_s_avl_batch_100": batched}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def load(url: str, token: str, clients: int, seconds: float) -> dict[str, Any]:
    """The load generator (its own process): `clients` threads creating calls, listing incidents."""
    headers = {"Authorization": f"Bearer {token}"}
    posts: list[float] = []
    gets: list[float] = []
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=10) as c:
            i = 0
            while time.monotonic() < stop:
                i += 1
                t0 = time.perf_counter()
                r = c.post(
                    "/api/v1/calls",
                    json={
                        "nature": f"c{n}-{i}",
                        "incident_type": "medical",
                        "location": {"lat": 60.17, "lon": 24.94},
                    },
                )
                posts.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
                if i % 5 == 0:
                    t0 = time.perf_counter()
                    c.get("/api/v1/incidents", params={"active": "true"}).raise_for_status()
                    gets.append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    t_start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"elapsed_s": time.perf_counter() - t_start, "posts": posts, "gets": gets}


def api_latency(
    clients: int = 8, seconds: float = 15.0, store_url: str | None = None
) -> dict[str, float]:
    """Return throughput, latency and server CPU of creating calls and listing incidents.

    Three processes: the `vigil serve` under test, this orchestrator, and the load
    generator (this script with ``--load``), so the clients' CPU never competes
    with Vigil inside one interpreter. Server CPU-seconds come from the kernel
    (user + system of the server process) over the load phase: on a shared
    machine they are a fairer figure than wall time.
    """
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vigil",
                "serve",
                "--data-dir",
                tmp,
                "--port",
                str(port),
                "--admin-token",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "VIGIL_STORE__URL": store_url} if store_url else None,
        )
        assert proc.stdout is not None
        token = ""
        for line in proc.stdout:
            if line.startswith("admin API token: "):
                token = line.split(": ", 1)[1].strip()
            if "serving on" in line:
                break
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(f"{url}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        server = psutil.Process(proc.pid)
        db_cpu = None
        if store_url:
            from postgres_db import BackendCpu  # noqa: PLC0415 - beside this script

            db_cpu = BackendCpu(store_url)
            db_cpu.start()
        cpu0 = sum(server.cpu_times()[:2])
        gen = subprocess.run(
            [sys.executable, __file__, "--load", url, token, str(clients), str(seconds)],
            capture_output=True,
            text=True,
            check=True,
        )
        server_cpu_s = sum(server.cpu_times()[:2]) - cpu0
        postgres_cpu_s = db_cpu.seconds() if db_cpu is not None else None
        proc.terminate()
        proc.wait(timeout=20)
        proc.stdout.close()
    result = json.loads(gen.stdout.strip().splitlines()[-1])
    posts, gets, elapsed = result["posts"], result["gets"], result["elapsed_s"]
    return {
        "clients": clients,
        "calls_created": len(posts),
        "calls_per_s": len(posts) / elapsed,
        "p50_call_ms": statistics.median(posts),
        "p99_call_ms": _pct(posts, 0.99),
        "list_active_p50_ms": statistics.median(gets),
        "list_active_p99_ms": _pct(gets, 0.99),
        "vigil_cpu_s": server_cpu_s,
        "calls_per_vigil_cpu_s": len(posts) / server_cpu_s,
        "vigil_cpu_ms_per_request": 1000 * server_cpu_s / (len(posts) + len(gets)),
        "load_average": os.getloadavg()[0],
        **({"postgres_cpu_s": postgres_cpu_s} if postgres_cpu_s is not None else {}),
    }


def compare_stores(server_url: str) -> dict[str, Any]:
    """Measure on SQLite (the baseline) and on a fresh PostgreSQL database, in one run."""
    from postgres_db import fresh_database  # noqa: PLC0415 - beside this script

    sqlite: dict[str, float] = {**store_rates(), **api_latency()}
    with fresh_database(server_url) as url:
        rates = store_rates(store_url=url)
    with fresh_database(server_url) as url:
        postgres: dict[str, float] = {**rates, **api_latency(store_url=url)}
    return {
        "calls_per_s_sqlite": sqlite["calls_per_s"],
        "calls_per_s_postgres": postgres["calls_per_s"],
        "calls_per_vigil_cpu_s_sqlite": sqlite["calls_per_vigil_cpu_s"],
        "calls_per_vigil_cpu_s_postgres": postgres["calls_per_vigil_cpu_s"],
        # Vigil CPU per created call on PostgreSQL / on SQLite.
        "cost_ratio_postgres_vs_sqlite": round(
            sqlite["calls_per_vigil_cpu_s"] / postgres["calls_per_vigil_cpu_s"], 2
        ),
        "sqlite": sqlite,
        "postgres": postgres,
    }


def main() -> None:
    """Run both measurements, print them and save them (or, with --load, generate load)."""
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        url, token, clients, seconds = sys.argv[2:6]
        print(json.dumps(load(url, token, int(clients), float(seconds))))
        return
    argv = sys.argv[1:]
    opts = dict(zip(argv[::2], argv[1::2], strict=False))
    server_url = opts.get("--store-url")
    default = RESULTS.with_name("api-postgres.json") if server_url else RESULTS
    out = Path(opts.get("--out", default))
    if server_url:
        report = compare_stores(server_url)
        rows = {
            k: v
            for part in ("sqlite", "postgres")
            for k, v in ((f"{k} [{part}]", v) for k, v in report[part].items())
        }
        rows["cost_ratio_postgres_vs_sqlite"] = report["cost_ratio_postgres_vs_sqlite"]
    else:
        report = rows = {**store_rates(), **api_latency()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    width = max(len(k) for k in rows)
    for key, value in rows.items():
        print(f"{key:<{width}}  {value:10.1f}")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
