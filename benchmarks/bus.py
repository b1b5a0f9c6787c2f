"""Bus benchmark: events and observation batches through the NATS JetStream bus vs the log bus.

One process, one SQLite store (in a temp dir), both buses in the same run:

* events: `--events` records appended in groups of 10 and published; one
  durable consumer and `--followers` non-durable ones (as in `vigil serve`:
  two durable, six non-durable) handle them; events per second and per
  CPU-second of this process (every thread: producer, consumers, nats-py's
  loop) until every consumer has every event;
* observations: `--batches` batches of 100 observations (10,000 devices) sent
  on a keyed topic (split into `partitions` subjects on NATS, each `send`
  waiting for the stream's acknowledgement) and handled by one listener.

The NATS server's own CPU is read from /proc for the server process when it
is local (`--nats-pid`, default: found by name). The machine is shared (2
cores, other suites running): CPU seconds are the figures, not wall time.

    .venv/bin/python benchmarks/bus.py [--events 20000] [--followers 6] [--batches 500]
        [--url nats://127.0.0.1:4222]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats

from vigil.bus import Bus
from vigil.bus.log import LogBus
from vigil.bus.nats import NatsBus
from vigil.core.events import Pending, Recorded
from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId, EventId, IncidentId
from vigil.incidents.events import IncidentNoteAdded
from vigil.ingest.model import DeviceKind, Observation
from vigil.ingest.pipeline import OBSERVATIONS
from vigil.store.sqlite import SqliteStore

RESULTS = Path(__file__).parent / "results" / "bus.json"
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def _server_cpu(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _find_nats_pid() -> int | None:
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == "nats-server":
                    return int(d.name)
            except OSError:
                continue
    return None


def _events(bus: Bus, store: SqliteStore, n: int, followers: int) -> dict[str, float]:
    got = [0] * (1 + followers)
    done = [threading.Event() for _ in got]

    def handler(i: int) -> Callable[[Recorded], None]:
        def handle(_: Recorded) -> None:
            got[i] += 1
            if got[i] >= n:
                done[i].set()

        return handle

    bus.subscribe("bench", handler(0))
    for i in range(1, 1 + followers):
        bus.subscribe(f"bench-follow-{i}", handler(i), durable=False)
    base = store.last_seq()
    cpu0, t0 = time.process_time(), time.perf_counter()
    for g in range(0, n, 10):
        recs = store.append(
            [
                Pending(
                    id=EventId(f"B-{base}-{g + i}"),
                    at=T0,
                    actor="bench",
                    cause=None,
                    event=IncidentNoteAdded(
                        incident_id=IncidentId(f"INC-{(g + i) % 97}"), text="x"
                    ),
                )
                for i in range(10)
            ]
        )
        bus.publish(recs)
    for i, d in enumerate(done):
        assert d.wait(600), f"consumer {i}: only {got[i]} of {n} events delivered"
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {
        "events": n,
        "consumers": len(got),
        "events_per_s": n / wall,
        "events_per_cpu_s": n / cpu,
    }


def _observations(bus: Bus, batches: int) -> dict[str, float]:
    got = 0
    total = batches * 100
    done = threading.Event()

    def handle(batch: Sequence[Observation]) -> None:
        nonlocal got
        got += len(batch)
        if got >= total:
            done.set()

    bus.listen(OBSERVATIONS, "bench", handle)
    make: Callable[[int], Observation] = lambda i: Observation(  # noqa: E731
        id=f"d{i % 10_000}:laeq:{i}",
        device_id=DeviceId(f"d{i % 10_000}"),
        kind=DeviceKind.NOISE_METER,
        stream="laeq",
        value=50.0,
        unit="dB(A)",
        observed_at=T0,
        received_at=T0,
        location=LatLon(60.17, 24.94),
        zone=None,
    )
    cpu0, t0 = time.process_time(), time.perf_counter()
    for b in range(batches):
        bus.send(OBSERVATIONS, [make(b * 100 + i) for i in range(100)])
    assert done.wait(600), f"only {got} of {total} observations delivered"
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"observations": total, "obs_per_s": total / wall, "obs_per_cpu_s": total / cpu}


def _delete(url: str, prefix: str) -> None:
    async def go() -> None:
        nc = await nats.connect(url)
        js = nc.jetstream()
        for kind in ("events", "topics", "dead"):
            with contextlib.suppress(Exception):  # not created
                await js.delete_stream(f"{prefix}_{kind}")
        await nc.close()

    asyncio.run(go())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--followers", type=int, default=6, help="non-durable event consumers")
    ap.add_argument("--batches", type=int, default=500)
    ap.add_argument("--url", default="nats://127.0.0.1:4222")
    ap.add_argument("--nats-pid", type=int, default=None)
    args = ap.parse_args()
    pid = args.nats_pid or _find_nats_pid()
    out: dict[str, Any] = {"machine_load": os.getloadavg()[0], "nats_server_pid": pid}
    for kind in ("log", "nats"):
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "bench.sqlite3")
            prefix = f"bench{secrets.token_hex(4)}"
            bus: Bus = (
                LogBus(store)
                if kind == "log"
                else NatsBus(store, url=args.url, prefix=prefix, partitions=16)
            )
            server0 = _server_cpu(pid) if kind == "nats" else None
            try:
                res = _events(bus, store, args.events, args.followers)
                res |= _observations(bus, args.batches)
            finally:
                bus.close()
                store.close()
                if kind == "nats":
                    server1 = _server_cpu(pid)
                    if server0 is not None and server1 is not None:
                        res["nats_server_cpu_s"] = server1 - server0
                    _delete(args.url, prefix)
            out[kind] = res
            print(kind, json.dumps({k: round(v, 1) for k, v in res.items()}))
    out["nats_vs_log_cpu_per_event"] = (
        out["log"]["events_per_cpu_s"] / out["nats"]["events_per_cpu_s"]
    )
    out["nats_vs_log_cpu_per_obs"] = out["log"]["obs_per_cpu_s"] / out["nats"]["obs_per_cpu_s"]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"saved {RESULTS}")


if __name__ == "__main__":
    main()
