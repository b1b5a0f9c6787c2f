"""Scale-out: 10,000 live subscribers, throughput on SQLite vs PostgreSQL, faults survived.

Every server here is a real ``vigil serve`` subprocess; PostgreSQL is a private
cluster of this run (initdb into a temp dir, its own port), NATS a private
``nats-server -js`` on a free port, MQTT the machine's Mosquitto on
127.0.0.1:1883 (a random site and client ids). Nothing shared is stopped.

1. **Live feed**: N subscribers (default 10,000; authenticated with 1,000
   distinct dispatcher tokens) open ``/api/v1/live`` from several client
   processes (raw asyncio sockets, ``tests/integration/swarm.py``); 20 changes
   per second are committed over HTTP, each carrying its send time, and every
   subscriber notes when each arrives. ``live_p50_ms``/``live_p99_ms`` are over
   every (subscriber, change) pair, from the HTTP request's start to receipt.
   Server RSS before and after the connections gives memory per subscriber.
2. **Throughput** per store (SQLite, then PostgreSQL; the log bus, one
   process): calls over HTTP (4 writers) -> ``calls_per_s``; observations over
   MQTT (gateway batches of 50) -> stored per CPU second of the Vigil process.
   Then on PostgreSQL + NATS split over processes: one ``--role api`` process
   and 1, then 2 ``--role ingest,rules --partitions ...`` workers (one MQTT site
   each) -> ``workers``: calls/s and observations/s, with CPU seconds per call
   and per observation summed over every Vigil process.
3. **Faults** (``tests/integration/faults.py``): calls over HTTP and readings
   over MQTT keep coming while one fault happens: kill -9 of ``vigil serve``
   (SQLite, then PostgreSQL), a 60-second PostgreSQL outage (immediate stop,
   start 60 s later), and a NATS restart when Vigil runs on the NATS bus.

Usage: ``python benchmarks/scale.py [--subscribers 10000] [--live-seconds 30]
[--skip-live] [--skip-faults] [--outage-s 60] [--observations 100000]
[--workers 1,2]``; writes
benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

# Run as a script (python benchmarks/scale.py): the repo root holds `tests`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import free_port
from tests.integration.faults import (
    CallLoad,
    FaultResult,
    ObservationLoad,
    count,
    drop_session,
    register_devices,
    wait_for,
)
from tests.integration.servers import VIGIL, VigilServer
from tests.integration.swarm import Swarm, Tally, marker
from tests.natsutil import NatsServer
from tests.postgres import Cluster
from vigil.app import build
from vigil.audit.roles import Role
from vigil.config import load_settings
from vigil.core.ids import new_id
from vigil.ingest.mqtt import close_client
from vigil.store.postgres.migrations import upgrade

RESULTS = Path(__file__).resolve().parent / "results" / "scale.json"
CLK = os.sysconf("SC_CLK_TCK")
MQTT_PORT = 1883


def say(msg: str) -> None:
    """Print progress with a timestamp."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cpu_s(pid: int) -> float:
    """Return a process's user + system CPU seconds (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def tree_cpu_s(root: int) -> float:
    """Return the CPU seconds of a server and its children, live and exited.

    PostgreSQL's backends, WAL writer and checkpointer are children of the
    postmaster; those that exited were reaped by it, so their time is in its
    ``cutime``/``cstime``.
    """
    fields = Path(f"/proc/{root}/stat").read_text().rsplit(")", 1)[1].split()
    total = sum(int(f) for f in fields[11:15])
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            f = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        if int(f[1]) == root:
            total += int(f[11]) + int(f[12])
    return total / CLK


def servers_cpu_s(pids: list[int]) -> float:
    """Return the CPU seconds of the store and bus servers (see `tree_cpu_s`)."""
    return sum(tree_cpu_s(pid) for pid in pids)


def postmaster_pid(cluster: Cluster) -> int:
    """Return the pid of a cluster's postmaster (first line of ``postmaster.pid``)."""
    return int((cluster.data / "postmaster.pid").read_text().split()[0])


def rss_mb(pid: int) -> float:
    """Return a process's resident memory in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ------------------------------------------------------------------ live feed


def _swarm_worker(port: int, tokens: list[str], n: int, conn: Any, go: Any, done: Any) -> None:
    """A client process: open n subscribers, report, count markers until told to stop."""

    async def main() -> None:
        swarm = Swarm("127.0.0.1", port, tokens)
        await swarm.connect(n, concurrency=100, timeout=600)
        conn.send(("connected", swarm.tally.connected, swarm.tally.failed))
        while not go.is_set():
            await asyncio.sleep(0.05)
        cpu0 = time.process_time()
        while not done.is_set():
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # what is still in flight
        cpu = time.process_time() - cpu0  # this client's CPU while changes streamed in
        tally = swarm.tally
        lagging = sum(1 for s in swarm.subs if s.closed)
        swarm.close()
        conn.send(("tally", tally.__dict__, lagging, cpu))

    asyncio.run(main())


def live_phase(
    subscribers: int, seconds: float, rate: float, procs: int, flush_s: float
) -> dict[str, Any]:
    """Measure delivery latency to `subscribers` at `rate` changes per second."""
    work = Path(tempfile.mkdtemp(prefix="vigil-scale-live-"))
    data = work / "data"
    say(f"live: preparing {subscribers} subscribers' logins")
    prep = build(load_settings(data_dir=data))
    try:
        names = [f"disp-{i:03d}" for i in range(100)]
        for name in names:
            prep.users.add(name, Role.DISPATCHER, None, actor="bench")
        tokens = [
            prep.users.issue_token(names[i % 100], label="live", actor="bench", ttl=None)
            for i in range(1000)
        ]
    finally:
        prep.close()
    server = VigilServer(data, env={"VIGIL_SERVER__LIVE_FLUSH_S": str(flush_s)})
    try:
        pid = server.pid
        r = httpx.post(
            f"{server.url}/api/v1/incidents",
            json={"type": "medical", "location": {"lat": 60.17, "lon": 24.94}},
            headers=server.headers(),
        )
        r.raise_for_status()
        incident = r.json()["id"]
        rss0, cpu0 = rss_mb(pid), cpu_s(pid)
        ctx = mp.get_context("spawn")
        go, done = ctx.Event(), ctx.Event()
        pipes, workers = [], []
        per = [subscribers // procs + (1 if i < subscribers % procs else 0) for i in range(procs)]
        t0 = time.monotonic()
        for i, n in enumerate(per):
            parent, child = ctx.Pipe()
            p = ctx.Process(
                target=_swarm_worker,
                args=(server.port, tokens[i::procs], n, child, go, done),
                daemon=True,
            )
            p.start()
            pipes.append(parent)
            workers.append(p)
        connected = failed = 0
        for parent in pipes:
            _, c, f = parent.recv()
            connected += c
            failed += f
        connect_s = time.monotonic() - t0
        time.sleep(2)
        rss1, cpu1 = rss_mb(pid), cpu_s(pid)
        say(
            f"live: {connected} connected ({failed} failed) in {connect_s:.1f} s; server RSS "
            f"{rss0:.0f} -> {rss1:.0f} MiB, connect CPU {cpu1 - cpu0:.1f} s"
        )
        go.set()
        changes = int(seconds * rate)
        cpu2 = cpu_s(pid)
        with httpx.Client(base_url=server.url, headers=server.headers(), timeout=30) as http:
            start = time.monotonic()
            for n in range(changes):
                http.patch(
                    f"/api/v1/incidents/{incident}", json={"description": marker(n)}
                ).raise_for_status()
                delay = start + (n + 1) / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if n and n % int(rate * 5) == 0:
                    say(f"live: {n}/{changes} changes")
            achieved = changes / (time.monotonic() - start)
        done.set()
        tally = Tally()
        closed = 0
        client_cpu = 0.0
        for parent in pipes:
            _, d, lag, used = parent.recv()
            tally.merge(Tally(**d))
            closed += lag
            client_cpu += used
        cpu3 = cpu_s(pid)
        for p in workers:
            p.join(timeout=30)
        expected = connected * changes
        out = {
            "subscribers": connected,
            "live_flush_s": flush_s,
            "failed_connects": failed,
            "changes": changes,
            "changes_per_s": round(achieved, 1),
            "delivered": tally.received,
            "delivered_fraction": round(tally.received / expected, 5) if expected else None,
            "resyncs": tally.resyncs,
            "closed_early": closed,
            "live_p50_ms": tally.percentile(50),
            "live_p99_ms": tally.percentile(99),
            "live_max_ms": _max(tally),
            "connect_s": round(connect_s, 1),
            "server_rss_mb_before": round(rss0, 1),
            "server_rss_mb_with_subscribers": round(rss1, 1),
            "server_kib_per_subscriber": round((rss1 - rss0) * 1024 / max(connected, 1), 1),
            "server_cpu_s_connecting": round(cpu1 - cpu0, 2),
            "server_cpu_s_per_change": round((cpu3 - cpu2) / max(changes, 1), 4),
            "server_cpu_us_per_change_per_subscriber": round(
                (cpu3 - cpu2) / max(changes, 1) / max(connected, 1) * 1e6, 2
            ),
            # Writes are what the feed pays for (a change costs 1/batch of one): per
            # socket read that carried changes, the figure holds whatever the rate
            # a loaded machine let through.
            "changes_per_write": round(tally.received / max(tally.reads, 1), 2),
            "server_cpu_us_per_write": round((cpu3 - cpu2) / max(tally.reads, 1) * 1e6, 1),
            "client_cpu_us_per_read": round(client_cpu / max(tally.reads, 1) * 1e6, 1),
            # The load generator shares the machine: its CPU over the same stretch
            # (plus the 3 s it waits for what is in flight) shows it is not the limit.
            "client_cpu_s": round(client_cpu, 1),
            "client_cpu_s_per_change": round(client_cpu / max(changes, 1), 4),
            "load_average": round(os.getloadavg()[0], 2),
        }
        say(
            f"live: p50 {out['live_p50_ms']} ms, p99 {out['live_p99_ms']} ms over "
            f"{tally.received} deliveries ({out['delivered_fraction']} of expected), "
            f"{tally.resyncs} resyncs; server {(cpu3 - cpu2) / max(changes, 1) * 1000:.1f} ms "
            f"CPU per change, clients {client_cpu / max(changes, 1) * 1000:.1f} ms; "
            f"{out['changes_per_write']} changes per write, server {out['server_cpu_us_per_write']} "
            f"us per write, clients {out['client_cpu_us_per_read']} us per read; load "
            f"{out['load_average']}"
        )
        return out
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def _max(t: Tally) -> float | None:
    top = [i for i, n in enumerate(t.hist) if n]
    return float(top[-1] + 1) if top else None


# ------------------------------------------------------------------ backends


@contextlib.contextmanager
def postgres() -> Iterator[Cluster]:
    """A private PostgreSQL cluster with a `vigil` database upgraded to the schema."""
    cluster = Cluster(free_port())
    try:
        cluster.start()
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE vigil")
        cluster.url = cluster.url.rsplit("/", 1)[0] + "/vigil"
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            upgrade(conn)
        yield cluster
    finally:
        cluster.remove()


@contextlib.contextmanager
def nats_server(work: Path) -> Iterator[NatsServer]:
    """A private nats-server with JetStream on a free port."""
    nats = NatsServer(work / "nats-store", name="scale").start()
    try:
        yield nats
    finally:
        nats.stop()


class Setup:
    """One deployment under test: its data dir, its environment, its devices."""

    def __init__(
        self,
        backend: str,
        work: Path,
        store_url: str | None,
        devices: int,
        *,
        nats_url: str | None = None,
        servers: list[int] | None = None,
    ) -> None:
        self.backend = backend
        # The PostgreSQL and NATS servers' pids: their CPU is counted beside Vigil's.
        self.servers = servers or []
        self.run = new_id("b").lower()
        self.site = f"s{self.run}"
        self.data = work / f"data-{self.run}"
        self.env = {
            "VIGIL_INGEST__MQTT__ENABLED": "true",
            "VIGIL_INGEST__MQTT__SITE": self.site,
            "VIGIL_INGEST__MQTT__CLIENT_ID": f"vigil-{self.run}",
            "VIGIL_INGEST__MQTT__RECONNECT_MIN_S": "1",
            "VIGIL_INGEST__MQTT__RECONNECT_MAX_S": "2",
            "VIGIL_INGEST__MAX_AGE_S": "86400",
        }
        overrides: dict[str, Any] = {}
        if store_url is not None:
            self.env["VIGIL_STORE__URL"] = store_url
            self.env["VIGIL_STORE__CONNECT_TIMEOUT_S"] = "1"
            overrides["store"] = {"url": store_url}
        if nats_url is not None:
            bus = {"kind": "nats", "url": nats_url, "prefix": f"v{self.run}"}
            self.env.update({f"VIGIL_BUS__{k.upper()}": v for k, v in bus.items()})
            overrides["bus"] = bus
        self.overrides = overrides
        app = build(load_settings(data_dir=self.data, **overrides))
        try:
            # Ids of their own: deployments may share one database in this run.
            self.devices = register_devices(app, self.site, devices, prefix=f"nm{self.run[-6:]}")
        finally:
            app.close()

    def app(self) -> Any:
        """Open the deployment's stores (to count what is there)."""
        return build(load_settings(data_dir=self.data, **self.overrides))

    def close(self) -> None:
        """Drop Vigil's persistent MQTT session from the broker."""
        drop_session(MQTT_PORT, f"vigil-{self.run}")


def _rates(
    n_calls: int,
    call_wall: float,
    call_cpu: float,
    stored: int,
    wall: float,
    cpu: float,
    ok: bool,
    server_cpu: float,
) -> dict[str, Any]:
    """Return the throughput and CPU figures of a calls phase and an observations phase.

    ``server_cpu`` is the store and bus servers' CPU during the observations
    (none for SQLite, which runs inside Vigil and is in its CPU already).
    """
    return {
        "calls_per_s": round(n_calls / call_wall, 1),
        "vigil_cpu_ms_per_call": round(call_cpu / max(n_calls, 1) * 1000, 2),
        "obs_per_s": round(stored / wall, 1),
        "obs_per_vigil_cpu_s": round(stored / cpu, 1),
        "vigil_cpu_us_per_obs": round(cpu / max(stored, 1) * 1e6, 1),
        "server_cpu_us_per_obs": round(server_cpu / max(stored, 1) * 1e6, 1),
        "obs_per_vigil_and_server_cpu_s": round(stored / (cpu + server_cpu), 1),
        "observations": stored,
        "all_stored": ok,
    }


def throughput(setup: Setup, seconds: float, observations: int) -> dict[str, Any]:
    """Calls per second over HTTP, then observations per Vigil CPU second over MQTT."""
    server = VigilServer(setup.data, env=setup.env)
    try:
        pid = server.pid
        calls = CallLoad(server.url, server.token, setup.run, writers=4)
        c0, t0 = cpu_s(pid), time.monotonic()
        calls.start()
        time.sleep(seconds)
        calls.stop()
        call_wall, call_cpu = time.monotonic() - t0, cpu_s(pid) - c0
        n_calls = len(calls.acked)
        say(
            f"{setup.backend}: {n_calls} calls in {call_wall:.1f} s = {n_calls / call_wall:.1f}/s, "
            f"{call_cpu / max(n_calls, 1) * 1000:.1f} ms Vigil CPU per call"
        )
        stored0 = _stored(server)
        c0, s0, t0 = cpu_s(pid), servers_cpu_s(setup.servers), time.monotonic()
        ok = feed_mqtt(setup.run, [(setup.site, setup.devices)], observations, server, stored0)
        wall, cpu = time.monotonic() - t0, cpu_s(pid) - c0
        server_cpu = servers_cpu_s(setup.servers) - s0
        stored = _stored(server) - stored0
        say(
            f"{setup.backend}: {stored} observations in {wall:.1f} s = {stored / wall:.0f}/s, "
            f"{stored / cpu:.0f} per Vigil CPU s, {stored / (cpu + server_cpu):.0f} per CPU s "
            f"of Vigil and its servers{'' if ok else ' (NOT all stored)'}"
        )
        return _rates(n_calls, call_wall, call_cpu, stored, wall, cpu, ok, server_cpu)
    finally:
        server.stop()


def feed_mqtt(
    run: str,
    sites: list[tuple[str, list[str]]],
    observations: int,
    server: VigilServer,
    stored0: int,
) -> bool:
    """Publish `observations` in gateway batches of 50 (QoS 1), round-robin over the sites.

    Returns whether all were stored (counted through `server`'s ingest stats)
    within 300 s of the last publish.
    """
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gw-{run}", clean_session=True)
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", MQTT_PORT)
    pub.loop_start()
    batch = 50
    infos = []
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        for b in range(observations // batch):
            site, devices = sites[b % len(sites)]
            body = {
                "observations": [
                    {
                        "device_id": devices[(b * batch + i) % len(devices)],
                        "stream": "laeq",
                        "seq": b * batch + i + 1,
                        "ts": now,
                        "value": 55.0,
                    }
                    for i in range(batch)
                ]
            }
            infos.append(pub.publish(f"vigil/{site}/gateways/gw-1/batch", json.dumps(body), qos=1))
            if b % 100 == 99:
                # Stay well within the broker's queue for a slow subscriber (Mosquitto
                # keeps 1,000 messages by default and drops the rest): at most 400
                # batches ahead of what Vigil has stored.
                infos[-1].wait_for_publish(30)
                ahead = stored0 + (b - 400) * batch
                wait_for(partial(_stored_at_least, server, ahead), 120)
        target = stored0 + (observations // batch) * batch
        return wait_for(partial(_stored_at_least, server, target), 300)
    finally:
        close_client(pub)


def _stored_at_least(server: VigilServer, n: int) -> bool:
    return _stored(server) >= n


def _stored(server: VigilServer) -> int:
    r = httpx.get(f"{server.url}/api/v1/ingest/stats", headers=server.headers(), timeout=10)
    r.raise_for_status()
    n: int = r.json()["stored"]
    return n


# -------------------------------------------------------------------- workers


class Worker:
    """``vigil serve --role ingest,rules --partitions P``: its own MQTT site and client id."""

    def __init__(self, data: Path, env: dict[str, str], partitions: str, log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    *VIGIL,
                    "serve",
                    "--data-dir",
                    str(data),
                    "--role",
                    "ingest,rules",
                    "--partitions",
                    partitions,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
            )
        deadline = time.monotonic() + 120
        while b"worker running" not in log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        """Return the worker's process id."""
        return self.proc.pid

    def stop(self) -> None:
        """SIGTERM (cursors saved), then SIGKILL if it does not stop."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _ranges(partitions: int, workers: int) -> list[str]:
    """Split partitions 0..n-1 into `workers` contiguous ranges (``0-7``, ``8-15``)."""
    bounds = [partitions * i // workers for i in range(workers + 1)]
    return [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(bounds)]


def workers_run(
    work: Path,
    store_url: str,
    nats_url: str,
    workers: int,
    seconds: float,
    observations: int,
    servers: list[int],
) -> dict[str, Any]:
    """Calls and observations through one API process and `workers` ingest+rules workers.

    PostgreSQL + NATS (fresh streams: a prefix of this run). The API process takes
    the calls (4 HTTP writers); each worker holds the MQTT subscription of a site
    of its own (one site per worker, as docs/deployment.md says for several) and
    owns a range of the 16 device partitions, so its rules engine and device
    monitor get the observations of those devices from both sites. CPU seconds
    are summed over every Vigil process (the API's and the workers').
    """
    setup = Setup(f"{workers} worker(s)", work, store_url, 20, nats_url=nats_url, servers=servers)
    sites = [(setup.site, setup.devices)]
    app = setup.app()
    try:
        for w in range(1, workers):
            site = f"{setup.site}w{w}"
            ids = register_devices(app, site, 20, prefix=f"nm{setup.run[-6:]}w{w}")
            sites.append((site, ids))
    finally:
        app.close()
    api = VigilServer(setup.data, env=setup.env, args=["--role", "api"])
    procs: list[Worker] = []
    clients = [f"vigil-{setup.run}-w{w}" for w in range(workers)]
    try:
        for w, (part, (site, _)) in enumerate(zip(_ranges(16, workers), sites, strict=True)):
            env = {
                **setup.env,
                "VIGIL_INGEST__MQTT__SITE": site,
                "VIGIL_INGEST__MQTT__CLIENT_ID": clients[w],
            }
            procs.append(Worker(setup.data, env, part, work / f"worker-{setup.run}-{w}.log"))
        pids = [api.pid, *(p.pid for p in procs)]
        time.sleep(2)  # the workers' consumers bound, MQTT subscribed

        def cpu() -> float:
            return sum(cpu_s(pid) for pid in pids)

        calls = CallLoad(api.url, api.token, setup.run, writers=4)
        c0, t0 = cpu(), time.monotonic()
        calls.start()
        time.sleep(seconds)
        calls.stop()
        call_wall, call_cpu = time.monotonic() - t0, cpu() - c0
        n_calls = len(calls.acked)
        stored0 = _stored(api)
        c0, s0, t0 = cpu(), servers_cpu_s(servers), time.monotonic()
        ok = feed_mqtt(setup.run, sites, observations, api, stored0)
        wall, obs_cpu = time.monotonic() - t0, cpu() - c0
        server_cpu = servers_cpu_s(servers) - s0
        stored = _stored(api) - stored0
        out = {
            "workers": workers,
            "partitions": _ranges(16, workers),
            **_rates(n_calls, call_wall, call_cpu, stored, wall, obs_cpu, ok, server_cpu),
            "processes": len(pids),
        }
        say(
            f"{workers} worker(s): {out['calls_per_s']} calls/s, "
            f"{out['vigil_cpu_ms_per_call']} ms CPU per call; {stored} observations "
            f"{out['obs_per_s']:.0f}/s, {out['vigil_cpu_us_per_obs']} µs CPU per observation "
            f"(all Vigil processes){'' if ok else ' (NOT all stored)'}"
        )
        return out
    finally:
        for p in procs:
            p.stop()
        api.stop()
        for client in clients:
            drop_session(MQTT_PORT, client)
        setup.close()


# --------------------------------------------------------------------- faults


def fault_run(
    setup: Setup,
    name: str,
    inject: Any,
    *,
    warm_s: float = 5.0,
    after_s: float = 5.0,
    obs_rate: float = 10.0,
) -> FaultResult:
    """Load, fault, repair (inject returns the repaired server and time), count."""
    server = VigilServer(setup.data, env=setup.env)
    calls = CallLoad(server.url, server.token, new_id("r").lower(), writers=2)
    obs = ObservationLoad(
        MQTT_PORT, setup.site, setup.devices, rate=obs_rate, client_id=f"gw-{new_id('g')}"
    )
    calls.start()
    obs.start()
    try:
        time.sleep(warm_s)
        say(f"fault {name}: {len(calls.acked)} calls, {len(obs.acked)} readings acknowledged")
        server, repaired = inject(server)
        say(f"fault {name}: repaired; waiting for the next acknowledged call")
        wait_for(lambda: calls.acked_after(repaired) is not None, 120)
        time.sleep(after_s)
    finally:
        calls.stop()
        obs.stop()
    wait_for(lambda: _stored(server) >= _acked_count(obs), 60)
    server.stop()
    app = setup.app()
    try:
        result = count(app, name, calls, obs, repaired)
    finally:
        app.close()
    say(
        f"fault {name}: acknowledged {result.acknowledged}, found {result.found}, "
        f"duplicated {result.duplicated}, recovery {result.recovery_s} s; {result.detail}"
    )
    return result


def _acked_count(obs: ObservationLoad) -> int:
    return len(obs.acked)


def kill9(setup: Setup) -> Any:
    """Return an injector: SIGKILL the server, start it again at once (a supervisor's job)."""

    def inject(server: VigilServer) -> tuple[VigilServer, float]:
        server.kill()
        repaired = time.time()
        return VigilServer(setup.data, env=setup.env, port=server.port), repaired

    return inject


def nats_restart(nats: NatsServer) -> Any:
    """Return an injector: stop the NATS server (SIGTERM) and start it again on its port."""

    def inject(server: VigilServer) -> tuple[VigilServer, float]:
        nats.stop()
        time.sleep(1)
        nats.start()
        return server, time.time()

    return inject


def pg_outage(cluster: Cluster, seconds: float) -> Any:
    """Return an injector: stop PostgreSQL (immediate), start it `seconds` later."""

    def inject(server: VigilServer) -> tuple[VigilServer, float]:
        cluster.stop("immediate")
        say(f"postgres stopped for {seconds:.0f} s")
        time.sleep(seconds)
        cluster.start()
        return server, time.time()

    return inject


def worker_kill_run(
    setup: Setup,
    store_url: str,
    *,
    warm_s: float = 8.0,
    after_s: float = 8.0,
    obs_rate: float = 10.0,
    ttl_s: float = 4.0,
) -> FaultResult:
    """kill -9 one of two ``--partitions auto`` workers under load; the other takes over.

    One API process (calls over HTTP) and two ingest+rules workers (each its own
    MQTT session, readings committed idempotently by either) on PostgreSQL +
    NATS. One worker is killed with SIGKILL; ``recovery_s`` is the time until the
    survivor holds every partition by lease (read from the store).
    """
    import subprocess  # noqa: PLC0415 - only this fault starts bare workers

    from vigil.store.postgres.database import Database  # noqa: PLC0415
    from vigil.store.postgres.store import PostgresStore  # noqa: PLC0415

    prefix = setup.overrides["bus"]["prefix"]
    env = {
        **setup.env,
        "VIGIL_BUS__LEASE_TTL_S": str(ttl_s),
        "VIGIL_BUS__LEASE_MARGIN_S": "1",
        "VIGIL_BUS__ACK_WAIT_S": "5",
    }
    api = VigilServer(
        setup.data, env={**env, "VIGIL_INGEST__MQTT__ENABLED": "false"}, args=["--role", "api"]
    )
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vigil",
                "serve",
                "--data-dir",
                str(setup.data),
                "--role",
                "ingest,rules",
                "--partitions",
                "auto",
            ],
            env={**os.environ, **env, "VIGIL_INGEST__MQTT__CLIENT_ID": f"vigil-{setup.run}-w{i}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(2)
    ]
    store = PostgresStore(Database(store_url, what="store"))
    group = f"{prefix}:ingest+rules"

    def owners() -> dict[int, str]:
        now = time.time()
        return {
            int(x.name[1:]): x.owner
            for x in store.leases(group)
            if x.name.startswith("p") and x.expires > now
        }

    name = "kill -9 one of two workers (postgres+nats)"
    calls = CallLoad(api.url, api.token, new_id("r").lower(), writers=2)
    obs = ObservationLoad(
        MQTT_PORT, setup.site, setup.devices, rate=obs_rate, client_id=f"gw-{new_id('g')}"
    )
    took: float | None = None
    try:
        wait_for(lambda: len(set(owners().values())) == 2 and len(owners()) == 16, 120)
        calls.start()
        obs.start()
        time.sleep(warm_s)
        say(f"fault {name}: {len(calls.acked)} calls, {len(obs.acked)} readings acknowledged")
        # The victim: a worker holding partitions now (a lease being handed over between
        # the two at this instant is in neither's hands, so no fixed partition is asked).
        held = set(owners().values())
        victim = next(w for w in workers if any(f".{w.pid}." in m for m in held))
        victim.kill()
        victim.wait(10)
        killed = time.time()
        survivor = next(w for w in workers if w is not victim)
        if wait_for(
            lambda: (
                set(owners().values()) == {m for m in owners().values() if f".{survivor.pid}." in m}
                and len(owners()) == 16
            ),
            120,
        ):
            took = round(time.time() - killed, 2)
        time.sleep(after_s)
    finally:
        calls.stop()
        obs.stop()
    wait_for(lambda: _stored(api) >= _acked_count(obs), 60)
    api.stop()
    for w in workers:
        if w.poll() is None:
            w.terminate()
        w.wait(60)
    store.close()
    app = setup.app()
    try:
        result = count(app, name, calls, obs, killed)
    finally:
        app.close()
    result.detail["call_recovery_s"] = result.recovery_s
    result.recovery_s = took
    say(
        f"fault {name}: acknowledged {result.acknowledged}, found {result.found}, "
        f"duplicated {result.duplicated}, partitions taken over in {took} s; {result.detail}"
    )
    return result


# ----------------------------------------------------------------------- main


def main() -> None:
    """Run the phases and write the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--live-seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--client-procs", type=int, default=4)
    parser.add_argument("--live-flush-s", type=float, default=0.5)
    parser.add_argument("--calls-seconds", type=float, default=15.0)
    parser.add_argument("--observations", type=int, default=20_000)
    parser.add_argument("--outage-s", type=float, default=60.0)
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-faults", action="store_true")
    parser.add_argument(
        "--workers",
        default="1,2",
        help="worker counts of the API + workers run on PostgreSQL + NATS ('' skips it)",
    )
    args = parser.parse_args()

    out: dict[str, Any] = {
        "benchmark": "scale",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": os.getloadavg()[0],
        },
        "command": "python benchmarks/scale.py " + " ".join(sys.argv[1:]),
    }
    earlier = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    if args.skip_live and "live" in earlier:  # keep the last live run's figures, dated
        out["live"] = {
            **earlier["live"],
            "from_run": earlier["live"].get("from_run", earlier["when"]),
        }
        out["subscribers"] = earlier["subscribers"]
        out["live_p99_ms"] = earlier["live_p99_ms"]
    if not args.skip_live:
        live = live_phase(
            args.subscribers, args.live_seconds, args.rate, args.client_procs, args.live_flush_s
        )
        out["subscribers"] = live["subscribers"]
        out["live_p99_ms"] = live["live_p99_ms"]
        out["live"] = live
    faults: list[FaultResult] = []
    work = Path(tempfile.mkdtemp(prefix="vigil-scale-"))
    try:
        sqlite = Setup("sqlite", work, None, 20)
        try:
            out["sqlite"] = throughput(sqlite, args.calls_seconds, args.observations)
            if not args.skip_faults:
                faults.append(fault_run(sqlite, "kill -9 vigil serve (sqlite)", kill9(sqlite)))
        finally:
            sqlite.close()
        with postgres() as cluster, nats_server(work) as nats:
            assert nats.proc is not None
            servers = [postmaster_pid(cluster), nats.proc.pid]
            # PostgreSQL with the embedded bus too: which part of the cost is the store's.
            pg_log = Setup("postgres+log bus", work, cluster.url, 20, servers=servers[:1])
            try:
                out["postgres_log_bus"] = throughput(pg_log, args.calls_seconds, args.observations)
            finally:
                pg_log.close()
            counts = [int(n) for n in args.workers.split(",") if n.strip()]
            if counts:
                out["workers"] = [
                    workers_run(
                        work,
                        cluster.url,
                        nats.url,
                        n,
                        args.calls_seconds,
                        args.observations,
                        servers,
                    )
                    for n in counts
                ]
            pg = Setup("postgres+nats", work, cluster.url, 20, nats_url=nats.url, servers=servers)
            try:
                out["postgres"] = throughput(pg, args.calls_seconds, args.observations)
                if not args.skip_faults:
                    faults.append(fault_run(pg, "kill -9 vigil serve (postgres+nats)", kill9(pg)))
                    faults.append(fault_run(pg, "nats-server restart", nats_restart(nats)))
                    faults.append(worker_kill_run(pg, cluster.url))
                    faults.append(
                        fault_run(
                            pg,
                            f"postgres outage {args.outage_s:.0f} s",
                            pg_outage(cluster, args.outage_s),
                        )
                    )
            finally:
                pg.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out["faults"] = [f.row() for f in faults]
    out["fault_detail"] = {f.fault: f.detail for f in faults}
    if args.skip_faults and "faults" in earlier:  # keep the last fault runs, dated
        out["faults"] = earlier["faults"]
        out["fault_detail"] = earlier["fault_detail"]
        out["faults_from_run"] = earlier.get("faults_from_run", earlier["when"])
    out["obs_per_vigil_cpu_s_postgres"] = out["postgres"]["obs_per_vigil_cpu_s"]
    out["calls_per_s_postgres"] = out["postgres"]["calls_per_s"]
    out["obs_per_vigil_cpu_s_sqlite"] = out["sqlite"]["obs_per_vigil_cpu_s"]
    out["calls_per_s_sqlite"] = out["sqlite"]["calls_per_s"]
    out["postgres_cost_per_obs_vs_sqlite"] = round(
        out["sqlite"]["obs_per_vigil_cpu_s"] / out["postgres"]["obs_per_vigil_cpu_s"], 2
    )
    # The same with the PostgreSQL and NATS servers' CPU added (SQLite has none apart).
    out["postgres_cost_per_obs_vs_sqlite_with_servers"] = round(
        out["sqlite"]["obs_per_vigil_and_server_cpu_s"]
        / out["postgres"]["obs_per_vigil_and_server_cpu_s"],
        2,
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    say(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
