"""Fault runs: load over HTTP and MQTT, a fault, then what was acknowledged vs what is there.

The load is what a city sends: calls over HTTP (each with its own
``Idempotency-Key``, retried with the same key after any failure, as a CAD
client would) and device observations over real MQTT at QoS 1. The ledger keeps
what was *acknowledged*: a call answered 201, an observation the broker
PUBACKed (from then on the device forgets it; Vigil must not lose it, and only
acknowledges it to the broker after its commit). After the fault and a quiet
spell, the store is read directly:

* **found**: acknowledged calls (by their unique nature) and observations (by
  their id ``<device>:<stream>:<seq>``) present in the store;
* **duplicated**: calls recorded more than once (a retried key applied twice),
  plus observation rows beyond their distinct ids;
* **recovery_s**: from the moment the fault is repaired (the killed process
  restarted, the server back) to the next call acknowledged.

Used by ``tests/integration/test_faults.py`` (a kill -9 under a small load) and
``benchmarks/scale.py`` (every fault, under a larger one).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vigil.app import App
from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId
from vigil.incidents.events import CallReceived
from vigil.ingest.model import DeviceKind
from vigil.ingest.mqtt import close_client
from vigil.ingest.registry import make_device

HELSINKI = LatLon(60.17, 24.94)


@dataclass
class FaultResult:
    """One fault run's counts (the keys `benchmarks/results/scale.json` carries)."""

    fault: str
    acknowledged: int
    found: int
    duplicated: int
    recovery_s: float | None
    detail: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """Return the result's five keys."""
        return {
            "fault": self.fault,
            "acknowledged": self.acknowledged,
            "found": self.found,
            "duplicated": self.duplicated,
            "recovery_s": self.recovery_s,
        }


def register_devices(app: App, site: str, n: int, *, prefix: str = "nm") -> list[str]:
    """Register n noise meters on a site (ids ``<prefix>-<i>``); return their ids."""
    devices = [
        make_device(
            id=DeviceId(f"{prefix}-{i}"),
            kind=DeviceKind.NOISE_METER,
            location=HELSINKI,
            zone=None,
            site=site,
            streams=None,
            interval_s=60,
        )
        for i in range(n)
    ]
    app.ingest.registry.register(devices, actor="fault-harness")
    return [d.id for d in devices]


class CallLoad:
    """Writers posting calls, each retried with its key until acknowledged."""

    def __init__(
        self, url: str, token: str, run: str, *, writers: int = 3, gap_s: float = 0.0
    ) -> None:
        self.url = url
        self.token = token
        self.run = run
        self.gap_s = gap_s
        self.acked: dict[str, float] = {}  # key -> wall time of the 201
        self.failures: Counter[str] = Counter()
        self.sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._writer, args=(w,), name=f"calls-{w}", daemon=True)
            for w in range(writers)
        ]

    def start(self) -> None:
        """Start the writers."""
        for t in self._threads:
            t.start()

    def stop(self, grace_s: float = 30.0) -> None:
        """Stop after each writer's call in hand is acknowledged (or `grace_s` passes)."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=grace_s + 10)

    def acked_after(self, t: float) -> float | None:
        """Return the wall time of the first acknowledgement after `t`."""
        with self._lock:
            later = [a for a in self.acked.values() if a >= t]
        return min(later) if later else None

    def _writer(self, w: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        i = 0
        with httpx.Client(base_url=self.url, timeout=5, headers=headers) as http:
            while not self._stop.is_set():
                i += 1
                key = f"{self.run}-{w}-{i}"
                self._until_acked(http, key)
                if self.gap_s:
                    time.sleep(self.gap_s)

    def _until_acked(self, http: httpx.Client, key: str) -> None:
        give_up = None
        while True:
            if self._stop.is_set() and give_up is None:
                give_up = time.monotonic() + 30  # finish the call in hand, as a client would
            if give_up is not None and time.monotonic() > give_up:
                return
            try:
                with self._lock:
                    self.sent += 1
                r = http.post(
                    "/api/v1/calls",
                    json={
                        "nature": f"fault {key}",
                        "incident_type": "medical",
                        "location": {"lat": HELSINKI.lat, "lon": HELSINKI.lon},
                    },
                    headers={"Idempotency-Key": key},
                )
            except httpx.TransportError as err:
                self._failed(type(err).__name__)
                continue
            if r.status_code == 201:
                with self._lock:
                    self.acked[key] = time.time()
                return
            self._failed(str(r.status_code))

    def _failed(self, why: str) -> None:
        with self._lock:
            self.failures[why] += 1
        time.sleep(0.2)


class ObservationLoad:
    """A device gateway publishing readings over MQTT QoS 1 at a steady rate."""

    def __init__(
        self, port: int, site: str, devices: list[str], *, rate: float, client_id: str
    ) -> None:
        self.port = port
        self.site = site
        self.devices = devices
        self.rate = rate
        self.client_id = client_id
        self.acked: set[str] = set()
        self.published = 0
        self._pending: dict[int, str] = {}
        self._early: set[int] = set()  # PUBACKs seen before publish() returned its mid
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="observations", daemon=True)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        self.client.on_publish = self._on_publish
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 2)

    def start(self) -> None:
        """Connect and start publishing."""
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop publishing, wait for outstanding PUBACKs, disconnect and drop the session."""
        self._stop.set()
        self._thread.join(timeout=10)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    break
            time.sleep(0.05)
        close_client(self.client)
        drop_session(self.port, self.client_id)

    def _on_publish(self, _c: object, _u: object, mid: int, _rc: object, _p: object) -> None:
        with self._lock:
            obs = self._pending.pop(mid, None)
            if obs is None:
                self._early.add(mid)
            else:
                self.acked.add(obs)

    def _run(self) -> None:
        # Sequence numbers of this load alone: a later run on the same devices must not
        # find the readings of an earlier one.
        base = time.time_ns() // 1_000_000 * 1000
        seq = 0
        start = time.monotonic()
        while not self._stop.is_set():
            seq += 1
            device = self.devices[seq % len(self.devices)]
            ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            body = json.dumps({"seq": base + seq, "ts": ts, "value": 50 + seq % 30})
            # Not under our lock: paho calls on_publish holding its own locks.
            info = self.client.publish(f"vigil/{self.site}/devices/{device}/laeq", body, qos=1)
            obs = f"{device}:laeq:{base + seq}"
            with self._lock:
                self.published += 1
                if info.mid in self._early:
                    self._early.discard(info.mid)
                    self.acked.add(obs)
                else:
                    self._pending[info.mid] = obs
            delay = start + seq / self.rate - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)


def drop_session(port: int, client_id: str) -> None:
    """Remove a persistent session from the broker (clean_session=True discards it)."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    try:
        c.connect("127.0.0.1", port)
        c.loop_start()
        time.sleep(0.2)
        close_client(c)
    except OSError:
        pass


def count(
    app: App,
    fault: str,
    calls: CallLoad,
    observations: ObservationLoad | None,
    repaired_at: float,
) -> FaultResult:
    """Compare what was acknowledged with what the store holds."""
    prefix = f"fault {calls.run}-"
    recorded: Counter[str] = Counter(
        rec.event.nature.removeprefix("fault ")
        for rec in app.store.read()
        if isinstance(rec.event, CallReceived) and rec.event.nature.startswith(prefix)
    )
    calls_acked = set(calls.acked)
    calls_found = sum(1 for k in calls_acked if recorded[k] > 0)
    calls_dup = sum(n - 1 for n in recorded.values() if n > 1)
    obs_acked: set[str] = set()
    stored: set[str] = set()
    obs_found = obs_dup = 0
    if observations is not None:
        obs_acked = set(observations.acked)
        devices = set(observations.devices)
        ids = [i for i in app.ingest.observations.ids() if i.split(":", 1)[0] in devices]
        stored = set(ids)
        obs_found = len(obs_acked & stored)
        obs_dup = len(ids) - len(stored)
    first = calls.acked_after(repaired_at)
    return FaultResult(
        fault=fault,
        acknowledged=len(calls_acked) + len(obs_acked),
        found=calls_found + obs_found,
        duplicated=calls_dup + obs_dup,
        recovery_s=None if first is None else round(max(0.0, first - repaired_at), 2),
        detail={
            "calls_acknowledged": len(calls_acked),
            "calls_found": calls_found,
            "calls_duplicated": calls_dup,
            "calls_attempts": calls.sent,
            "call_failures": dict(calls.failures),
            "observations_published": 0 if observations is None else observations.published,
            "observations_acknowledged": len(obs_acked),
            "observations_found": obs_found,
            "observations_duplicated": obs_dup,
            "missing_calls": sorted(calls_acked - set(recorded))[:10],
            "missing_observations": sorted(obs_acked - stored)[:10],
        },
    )


def wait_for(cond: Callable[[], bool], timeout: float) -> bool:
    """Poll `cond` until it holds or `timeout` passes; return whether it held."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
