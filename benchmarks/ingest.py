"""Ingest benchmark: 10,000 simulated devices → Mosquitto → Vigil ingest (+ rules).

A separate publisher process (this script with ``--publish``) sends readings
over MQTT QoS 1 to a private mosquitto started here (temp config, free port);
this process runs the real App (MQTT adapter with manual ack, observation
store, rules engine with a generated set of rules) and measures:

- sustained observations/s stored, one reading per message and gateway-batched;
- lost = observations the broker acknowledged to the publisher minus those stored;
- latency publish → stored (the `ts` of each reading is its publish time);
- latency reading → incident opened (smoke-panel alarms that a rule turns into incidents);
- CPU (cores) and peak RSS of Vigil, the publisher and the broker.

Run: ``.venv/bin/python benchmarks/ingest.py`` (about 3 minutes); writes
benchmarks/results/ingest.json and prints a table.

With ``--store-url postgresql://127.0.0.1:5432/postgres`` it runs twice in one
go, on SQLite (the baseline) and on a fresh database of its own on that
PostgreSQL server (dropped after), and writes ingest-postgres.json with the
Vigil CPU per observation of both, their ratio (target: PostgreSQL at most 2x
SQLite), and the database server's CPU, which SQLite spends inside Vigil.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from vigil.core.ids import DeviceId
from vigil.ingest.mqtt import close_client

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ingest.json"
RESULTS_POSTGRES = ROOT / "benchmarks" / "results" / "ingest-postgres.json"
SITE = "bench"

# kind, stream, share of devices, normal value range
MIX: list[tuple[str, str, float, tuple[float, float]]] = [
    ("noise_meter", "laeq", 0.30, (35.0, 75.0)),
    ("air_quality", "pm25", 0.15, (2.0, 40.0)),
    ("flood_gauge", "level", 0.10, (0.5, 2.5)),
    ("crowd_counter", "density", 0.15, (0.0, 2.0)),
    ("smoke_panel", "alarm", 0.10, (0.0, 0.0)),
    ("acoustic_detector", "impulse", 0.10, (40.0, 90.0)),
    ("weather_station", "temp_c", 0.10, (-5.0, 25.0)),
]


def device_plan(n: int) -> list[tuple[str, str, str, float, float]]:
    """Return (device_id, kind, stream, low, high) for n devices in the mix."""
    out: list[tuple[str, str, str, float, float]] = []
    for kind, stream, share, (low, high) in MIX:
        for i in range(round(n * share)):
            out.append((f"{kind[:2]}-{i:05d}", kind, stream, low, high))
    return out[:n]


# ----------------------------------------------------------------- publisher


def publish(args: argparse.Namespace) -> None:
    """The publisher process: paced QoS 1 publishing; prints a JSON summary."""
    plan = device_plan(args.devices)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}")
    client.max_inflight_messages_set(args.inflight)
    client.max_queued_messages_set(0)
    acked = [0]  # messages PUBACKed by the broker (only the network thread writes it)

    def on_publish(_c: Any, _u: Any, _mid: int, _rc: Any, _p: Any) -> None:
        acked[0] += 1

    client.on_publish = on_publish
    client.connect("127.0.0.1", args.port, keepalive=60)
    client.loop_start()
    rng = np.random.default_rng(7)
    alarm_devices = [p for p in plan if p[1] == "smoke_panel"][: args.alarms]
    alarm_every = args.duration / max(1, len(alarm_devices) + 1)
    alarms: list[tuple[str, float]] = []
    per_msg = args.batch if args.mode == "batched" else 1
    msg_rate = args.rate / per_msg
    sent_obs = 0
    i = 0
    seq = args.seq_offset
    t0 = time.monotonic()
    cpu0 = time.process_time()
    next_alarm = alarm_every
    while True:
        elapsed = time.monotonic() - t0
        if elapsed >= args.duration:
            break
        due = int(elapsed * msg_rate) - sent_obs // per_msg
        if due <= 0:
            time.sleep(0.002)
            continue
        for _ in range(min(due, 200)):
            if sent_obs // per_msg - acked[0] >= args.inflight:
                # Closed loop at the in-flight window: paho's own queue of unsent
                # messages costs O(queue) per PUBACK and would starve the publisher.
                time.sleep(0.001)
                break
            now = time.time()
            ts = datetime.fromtimestamp(now, UTC).isoformat()
            items: list[bytes] = []
            for _k in range(per_msg):
                dev, kind, stream, low, high = plan[i % len(plan)]
                i += 1
                if i % len(plan) == 0:
                    seq += 1
                value: float | bool
                if kind == "smoke_panel":
                    value = False
                    if alarm_devices and elapsed >= next_alarm and dev == alarm_devices[0][0]:
                        value = True
                        alarms.append((dev, now))
                        alarm_devices.pop(0)
                        next_alarm += alarm_every
                else:
                    value = round(float(low + (high - low) * rng.random()), 2)
                # The wire format, written directly (a dict + encoder per reading
                # costs the publisher more than the broker's work for it).
                v = "true" if value is True else "false" if value is False else repr(value)
                if per_msg == 1:
                    topic = f"vigil/{SITE}/devices/{dev}/{stream}"
                    items.append(f'{{"seq":{seq},"ts":"{ts}","value":{v}}}'.encode())
                else:
                    items.append(
                        f'{{"device_id":"{dev}","stream":"{stream}","seq":{seq},'
                        f'"ts":"{ts}","value":{v}}}'.encode()
                    )
            if per_msg == 1:
                payload = items[0]
            else:
                topic = f"vigil/{SITE}/gateways/gw-{i % 50}/batch"
                payload = b'{"observations":[' + b",".join(items) + b"]}"
            client.publish(topic, payload, qos=1)
            sent_obs += per_msg
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and acked[0] * per_msg < sent_obs:
        time.sleep(0.05)
    wall = time.monotonic() - t0
    close_client(client)
    print(
        json.dumps(
            {
                "sent_obs": sent_obs,
                "acked_obs": acked[0] * per_msg,
                "wall_s": wall,
                "cpu_s": time.process_time() - cpu0,
                "alarms": alarms,
            }
        ),
        flush=True,
    )


# -------------------------------------------------------------------- broker


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start a private mosquitto tuned for throughput (QoS 1 windows, deep queues)."""
    port = free_port()
    (workdir / "db").mkdir()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\n"
        f"persistence true\npersistence_location {workdir / 'db'}/\n"
        "max_inflight_messages 10000\nmax_queued_messages 5000000\n"
        "log_dest stdout\n" + ("user root\n" if os.geteuid() == 0 else "")
    )
    log = (workdir / "mosquitto.log").open("ab")
    proc = subprocess.Popen(
        [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


# --------------------------------------------------------------------- rules


def write_rules(path: Path, n: int) -> int:
    """Write n rules: thresholds, windows, sustained conditions and one alarm rule.

    HOOK (rules engine): the format is the rules engineer's (vigil/rules); if it
    changes, adapt this generator. Values published stay in normal ranges, so
    only the smoke-alarm rule fires (the event → incident measurement).
    """
    rules: list[dict[str, Any]] = [
        {
            "name": "bench-smoke-alarm",
            "version": 1,
            "description": "bench: smoke panel alarm opens an incident",
            "match": {"kind": "smoke_panel", "stream": "alarm"},
            "condition": "value >= 1.0",
            "key": "device",
            "fire": "edge",
            "cooldown": "15m",
            "actions": [
                {"do": "open_incident", "type": "alarm_fire", "description": "bench {device}"}
            ],
        }
    ]
    streams = [(k, s, hi) for k, s, _, (_, hi) in MIX if k != "smoke_panel"]
    for i in range(1, n):
        kind, stream, high = streams[i % len(streams)]
        rule: dict[str, Any] = {
            "name": f"bench-{i:03d}-{kind}",
            "version": 1,
            "description": f"bench rule {i}",
            "match": {"kind": kind, "stream": stream},
            "key": "device",
            "cooldown": "1h",
            "actions": [
                {"do": "open_incident", "type": "disturbance", "description": "bench {device}"}
            ],
        }
        threshold = high * 10 + i
        match i % 3:
            case 0:
                rule["condition"] = f"value > {threshold}"
            case 1:
                rule["window"] = {
                    "size": "5m",
                    "aggregate": "avg",
                    "op": ">",
                    "threshold": threshold,
                    "min_count": 3,
                }
            case _:
                rule["condition"] = f"value > {threshold}"
                rule["sustained"] = "2m"
        rules.append(rule)
    path.write_text(json.dumps({"rules": rules}, indent=1))  # JSON is YAML
    return len(rules)


# ------------------------------------------------------------------ consumer


class Probe:
    """Latency and throughput of committed batches; incident latency from the bus."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: list[float] = []
        self.stored = 0
        self.first: float | None = None
        self.last = 0.0
        self.incidents: dict[str, float] = {}

    def on_commit(self, batch: Sequence[Any]) -> None:
        now = time.time()
        lat = [now - o.observed_at.timestamp() for o in batch]
        with self.lock:
            self.latency.extend(lat)
            self.stored += len(batch)
            if self.first is None:
                self.first = now
            self.last = now

    def on_record(self, rec: Any) -> None:
        if rec.type == "incident.opened" and rec.event.description.startswith("bench "):
            self.incidents[rec.event.description.split(" ", 1)[1]] = time.time()

    def reset(self) -> None:
        with self.lock:
            self.latency, self.stored, self.first, self.last = [], 0, None, 0.0
            self.incidents = {}


def sample(procs: dict[str, psutil.Process], stop: threading.Event, out: dict[str, Any]) -> None:
    """Record CPU time and peak RSS of each process until stopped."""
    start = {k: sum(p.cpu_times()[:2]) for k, p in procs.items()}
    peak = dict.fromkeys(procs, 0)
    t0 = time.monotonic()
    while not stop.wait(0.5):
        for k, p in procs.items():
            try:
                peak[k] = max(peak[k], p.memory_info().rss)
                out[f"{k}_cpu_s"] = sum(p.cpu_times()[:2]) - start[k]
            except psutil.NoSuchProcess:
                pass
    wall = time.monotonic() - t0
    for k in procs:
        out[f"{k}_cpu_cores"] = round(out.get(f"{k}_cpu_s", 0.0) / wall, 2)
        out[f"{k}_rss_mb"] = round(peak[k] / 2**20, 1)


def run_mode(
    app: Any,
    probe: Probe,
    broker: subprocess.Popen[bytes],
    port: int,
    args: argparse.Namespace,
    *,
    mode: str,
    rate: float,
    seq_offset: int,
) -> dict[str, Any]:
    """Publish for `duration` seconds in one mode; measure until everything is stored."""
    probe.reset()
    stats0 = app.ingest.stats()
    cmd = [
        sys.executable,
        __file__,
        "--publish",
        f"--port={port}",
        f"--devices={args.devices}",
        f"--mode={mode}",
        f"--batch={args.batch}",
        f"--rate={rate}",
        f"--duration={args.duration}",
        f"--seq-offset={seq_offset}",
        f"--alarms={args.alarms if mode == 'batched' else 0}",
    ]
    pub = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    spy = None
    if args.profile and shutil.which("py-spy"):
        # Sample Vigil itself (all threads) mid-run: where the time goes.
        spy = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(os.getpid()),
                "--duration",
                str(int(min(30, args.duration))),
                "--format",
                "raw",
                "--output",
                str(RESULTS.parent / f"{Path(args.out or RESULTS).stem}-profile-{mode}.txt"),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    procs = {
        "vigil": psutil.Process(),
        "publisher": psutil.Process(pub.pid),
        "broker": psutil.Process(broker.pid),
    }
    usage: dict[str, Any] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=sample, args=(procs, stop, usage))
    pg_cpu = getattr(args, "pg_cpu", None)  # PostgreSQL backends of this run's database
    if pg_cpu is not None:
        pg_cpu.start()
    sampler.start()
    try:
        out, _ = pub.communicate(timeout=args.duration + 300)
    except subprocess.TimeoutExpired:
        pub.kill()
        pub.wait()
        stop.set()
        raise
    if spy is not None:
        spy.wait(60)
    summary = json.loads(out.strip().splitlines()[-1])
    acked = int(summary["acked_obs"])
    # Drain: wait while Vigil still makes progress on the broker's backlog; a
    # backlog is late, not lost, so `lost` is only counted once drained.
    last, stalled_since, drain_start = -1, time.monotonic(), time.monotonic()
    while probe.stored < acked and time.monotonic() - drain_start < args.max_drain:
        if probe.stored != last:
            last, stalled_since = probe.stored, time.monotonic()
        elif time.monotonic() - stalled_since > 30:
            break
        time.sleep(0.2)
    drained = probe.stored >= acked
    time.sleep(1.0)
    stop.set()
    sampler.join()
    if pg_cpu is not None:
        usage["postgres_cpu_s"] = pg_cpu.seconds()
    stats1 = app.ingest.stats()
    with probe.lock:
        lat = np.array(probe.latency) * 1000
        span = probe.last - (probe.first or probe.last)
        stored = probe.stored
        incidents = dict(probe.incidents)
    inc_lat = [(incidents[dev] - at) * 1000 for dev, at in summary["alarms"] if dev in incidents]
    rejected = stats1.rejected - stats0.rejected
    return {
        "mode": mode,
        "target_obs_per_s": rate,
        "published_obs": summary["sent_obs"],
        "acked_obs": acked,
        "stored": stored,
        "rejected_or_duplicate": rejected,
        "drained": drained,
        "drain_s": round(time.monotonic() - drain_start, 1),
        "lost": max(0, acked - stored) if drained else None,
        "not_stored_at_end": max(0, acked - stored),
        "obs_per_s": round(stored / span, 1) if span > 0 else 0.0,
        "publisher_obs_per_s": round(summary["sent_obs"] / summary["wall_s"], 1),
        "p50_store_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
        "p99_store_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
        "max_store_ms": round(float(lat.max()), 1) if len(lat) else None,
        "alarms_sent": len(summary["alarms"]),
        "incidents_opened": len(inc_lat),
        "p50_incident_ms": round(float(np.percentile(inc_lat, 50)), 1) if inc_lat else None,
        "p99_incident_ms": round(float(np.percentile(inc_lat, 99)), 1) if inc_lat else None,
        "commits": app.ingest.pipeline.commits,
        **usage,
        # Stored per CPU-second of Vigil: the figure least skewed by other load.
        "obs_per_vigil_cpu_s": round(stored / usage["vigil_cpu_s"], 1)
        if usage.get("vigil_cpu_s")
        else None,
        # The database server's share, where it is a process of its own (PostgreSQL).
        "obs_per_vigil_and_db_cpu_s": round(
            stored / (usage["vigil_cpu_s"] + usage["postgres_cpu_s"]), 1
        )
        if "postgres_cpu_s" in usage and usage.get("vigil_cpu_s")
        else None,
    }


def consume(args: argparse.Namespace, store_url: str | None = None) -> dict[str, Any]:
    """Run the broker and Vigil (on SQLite, or PostgreSQL at `store_url`), drive the publisher."""
    sys.path.insert(0, str(ROOT))
    from vigil.app import build  # noqa: PLC0415 - the publisher process never needs it
    from vigil.config import load_settings  # noqa: PLC0415
    from vigil.core.geometry import LatLon  # noqa: PLC0415
    from vigil.ingest.model import DeviceKind  # noqa: PLC0415
    from vigil.ingest.registry import make_device  # noqa: PLC0415
    from vigil.serve import tune_gc  # noqa: PLC0415

    load_before = list(os.getloadavg())  # other work on the machine skews every figure
    work = Path(tempfile.mkdtemp(prefix="vigil-bench-ingest-"))
    broker, port = start_broker(work)
    rules_file = work / "rules.yaml"
    n_rules = write_rules(rules_file, args.rules) if args.rules else 0
    settings = load_settings(
        data_dir=work / "data",
        ingest={
            "mqtt": {"enabled": True, "port": port, "site": SITE, "client_id": "bench-vigil"},
            "commit_batch": args.commit_batch,
        },
        rules={"files": [str(rules_file)]} if n_rules else None,
        store={"url": store_url} if store_url else None,
    )
    app = build(settings)
    try:
        rng = np.random.default_rng(1)
        devices = [
            make_device(
                id=DeviceId(dev),
                kind=DeviceKind(kind),
                location=LatLon(60.15 + 0.04 * rng.random(), 24.90 + 0.08 * rng.random()),
                zone=f"z{k % 20}",
                site=SITE,
                streams=None,
                interval_s=60.0,
            )
            for k, (dev, kind, _s, _lo, _hi) in enumerate(device_plan(args.devices))
        ]
        app.ingest.registry.register(devices, actor="bench")
        loaded = len(app.rules.info()) if n_rules else 0
        probe = Probe()
        app.ingest.pipeline.watch_commits(probe.on_commit)
        app.bus.subscribe("bench-probe", probe.on_record, durable=False)
        app.start()
        tune_gc()  # as `vigil serve` does once started
        if not app.ingest.mqtt.connected.wait(10):
            raise RuntimeError("Vigil did not connect to the benchmark broker")
        time.sleep(0.5)
        results = []
        for k, (mode, rate) in enumerate(
            [("batched", args.rate_batched), ("single", args.rate_single)]
        ):
            if rate > 0:
                r = run_mode(
                    app, probe, broker, port, args, mode=mode, rate=rate, seq_offset=k * 10**6
                )
                results.append(r)
                print(json.dumps(r), flush=True)
    finally:
        app.close()
        broker.send_signal(signal.SIGTERM)
        broker.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    batched = next((r for r in results if r["mode"] == "batched"), {})
    single = next((r for r in results if r["mode"] == "single"), {})
    report = {
        "store": "postgresql" if store_url else "sqlite",
        "devices": args.devices,
        "rules": loaded,
        "obs_per_s": batched.get("obs_per_s"),
        "lost": (sum(r["lost"] for r in results) if all(r["drained"] for r in results) else None),
        "p50_store_ms": batched.get("p50_store_ms"),
        "p99_store_ms": batched.get("p99_store_ms"),
        "p99_incident_ms": batched.get("p99_incident_ms"),
        "obs_per_vigil_cpu_s": batched.get("obs_per_vigil_cpu_s"),
        "target_obs_per_s": batched.get("target_obs_per_s"),
        "obs_per_s_unbatched": single.get("obs_per_s"),
        "batch_size": args.batch,
        "duration_s": args.duration,
        "machine": f"{os.cpu_count()} cores, broker + publisher + Vigil on the same machine",
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "runs": results,
    }
    print(f"\n{report['store']:28}{'batched':>14}{'one per msg':>14}")
    for key in (
        "target_obs_per_s",
        "obs_per_s",
        "acked_obs",
        "stored",
        "lost",
        "p50_store_ms",
        "p99_store_ms",
        "p99_incident_ms",
        "vigil_cpu_cores",
        "obs_per_vigil_cpu_s",
        "postgres_cpu_s",
        "obs_per_vigil_and_db_cpu_s",
        "vigil_rss_mb",
        "publisher_cpu_cores",
        "broker_cpu_cores",
    ):
        print(f"{key:28}{batched.get(key)!s:>14}{single.get(key)!s:>14}")
    print(f"\n{args.devices} devices, {loaded} rules")
    return report


def compare_stores(args: argparse.Namespace) -> dict[str, Any]:
    """Run on SQLite (the baseline) and on PostgreSQL in one run; compare cost per observation."""
    from postgres_db import BackendCpu, fresh_database  # noqa: PLC0415 - beside this script

    sqlite = consume(args)
    with fresh_database(args.store_url) as url:
        args.pg_cpu = BackendCpu(url)
        postgres = consume(args, store_url=url)
    lite, pg = sqlite.get("obs_per_vigil_cpu_s"), postgres.get("obs_per_vigil_cpu_s")
    ratio = round(lite / pg, 2) if lite and pg else None
    return {
        "obs_per_vigil_cpu_s_sqlite": lite,
        "obs_per_vigil_cpu_s_postgres": pg,
        # Vigil CPU per observation on PostgreSQL / on SQLite (target: at most 2).
        "cost_ratio_postgres_vs_sqlite": ratio,
        "obs_per_vigil_and_db_cpu_s_postgres": postgres["runs"][0].get("obs_per_vigil_and_db_cpu_s")
        if postgres.get("runs")
        else None,
        "obs_per_s_sqlite": sqlite.get("obs_per_s"),
        "obs_per_s_postgres": postgres.get("obs_per_s"),
        "lost_sqlite": sqlite.get("lost"),
        "lost_postgres": postgres.get("lost"),
        "sqlite": sqlite,
        "postgres": postgres,
    }


def main() -> None:
    """Parse arguments; run as the benchmark or as its publisher."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--publish", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--mode", default="batched")
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--seq-offset", type=int, default=0)
    p.add_argument("--inflight", type=int, default=1000)
    p.add_argument("--alarms", type=int, default=40)
    p.add_argument("--devices", type=int, default=10_000)
    p.add_argument("--rules", type=int, default=100)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--rate-batched", type=float, default=60_000)
    p.add_argument("--rate-single", type=float, default=20_000)
    p.add_argument("--commit-batch", type=int, default=5000)
    p.add_argument("--max-drain", type=float, default=600.0, help="longest wait for backlog")
    p.add_argument("--profile", action="store_true", help="py-spy Vigil during each run")
    p.add_argument("--out", default=None, help="where to write the JSON results")
    p.add_argument(
        "--store-url",
        default=None,
        help="a PostgreSQL server (postgresql://host:port/db): run on SQLite, then on a "
        "fresh database of its own there, and compare (default out: ingest-postgres.json)",
    )
    args = p.parse_args()
    if args.publish:
        publish(args)
        return
    if args.store_url:
        report = compare_stores(args)
        print(
            f"\nVigil CPU per observation, PostgreSQL / SQLite: {report['cost_ratio_postgres_vs_sqlite']}"
        )
    else:
        report = consume(args)
    out = Path(args.out or (RESULTS_POSTGRES if args.store_url else RESULTS))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
