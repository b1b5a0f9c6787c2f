"""The simulator's hands: Vigil's real HTTP API and a real MQTT broker.

Who does what, with which login:

* the call-taker (role ``call_taker``) posts calls;
* the dispatcher (role ``dispatcher``) reads recommendations, accepts them,
  closes and cancels incidents, and watches the queue;
* each field unit logs in as itself (role ``field_unit``, user name = the unit
  id lowercased, which is all that role may report for) and reports its status;
* the fleet's AVL gateway (role ``dispatcher``) posts positions in batches,
  as a real vehicle-location gateway does for a whole fleet;
* devices publish over MQTT through a gateway topic, 100 readings a message.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vigil.ingest.mqtt import close_client
from vigil.sim.demand import PlannedCall
from vigil.sim.devices import Reading
from vigil.sim.engine import Choice, IncidentView, PlatformError, UnitView
from vigil.sim.fleet import Fix, Path

API = "/api/v1"
GATEWAY_BATCH = 100


def _iso(at: datetime) -> str:
    return at.isoformat()


def _template(method: str, path: str) -> str:
    """Return "POST /incidents/{id}/close" for "POST /incidents/INC-1/close"."""
    parts = path.split("?", 1)[0].split("/")
    named = [p if p.islower() or not p else "{id}" for p in parts]
    return f"{method} {'/'.join(named)}"


class Latencies:
    """Wall-clock latencies (ms) of the platform's requests, by name."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def add(self, name: str, ms: float) -> None:
        """Record one sample."""
        self.samples.setdefault(name, []).append(ms)


class HttpPlatform:
    """`Platform` over Vigil's HTTP API and an MQTT broker."""

    def __init__(
        self,
        base_url: str,
        *,
        tokens: Mapping[str, str],
        unit_tokens: Mapping[str, str],
        mqtt_host: str,
        mqtt_port: int,
        site: str,
        settle: Callable[[int], None] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._http = httpx.Client(base_url=base_url + API, timeout=timeout_s)
        self._tokens = dict(tokens)
        self._unit_tokens = dict(unit_tokens)
        self._site = site
        self._settle = settle
        self.latencies = Latencies()
        self.published = 0  # MQTT messages published and acknowledged by the broker
        self._sent = 0
        self._lock = threading.Condition()
        self._mqtt = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"vigil-sim-{site}",
            protocol=mqtt.MQTTv311,
        )
        self._mqtt.max_inflight_messages_set(200)
        self._mqtt.max_queued_messages_set(0)
        self._mqtt.on_publish = self._on_publish
        self._mqtt.connect(mqtt_host, mqtt_port, keepalive=30)
        self._mqtt.loop_start()
        self._call_started: dict[str, float] = {}
        self._seq: dict[tuple[str, str], int] = {}

    def close(self) -> None:
        """Disconnect from the broker and the API."""
        close_client(self._mqtt)
        self._http.close()

    # ------------------------------------------------------------ HTTP

    def _request(
        self, who: str, method: str, path: str, body: object = None, *, unit: str | None = None
    ) -> Any:
        token = self._unit_tokens[unit] if unit is not None else self._tokens[who]
        started = time.perf_counter()
        try:
            response = self._http.request(
                method, path, json=body, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as err:
            raise PlatformError(0, f"{method} {path}: {err}") from err
        self.latencies.add(_template(method, path), (time.perf_counter() - started) * 1000)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise PlatformError(response.status_code, f"{method} {path}: {detail}")
        return response.json() if response.content else None

    def take_call(
        self, call: PlannedCall, *, received_at: datetime, incident_id: str | None
    ) -> tuple[str, bool]:
        """POST /calls as the call-taker."""
        body: dict[str, object] = {
            "received_at": _iso(received_at),
            "location": {"lat": call.location.lat, "lon": call.location.lon},
            "accuracy_m": 15.0,
            "nature": call.nature,
            "notes": f"simulated call ({call.source})",
            "caller_name": call.caller_name,
            "caller_phone": call.caller_phone,
        }
        if incident_id is not None:
            body["incident_id"] = incident_id
        else:
            body["incident_type"] = call.incident_type
            if call.priority is not None:
                body["priority"] = call.priority
        started = time.perf_counter()
        out = self._request("call_taker", "POST", "/calls", body)
        inc = str(out["incident"]["id"])
        if out["opened_incident"]:
            self._call_started[inc] = (time.perf_counter() - started) * 1000
        return inc, bool(out["opened_incident"])

    def recommend(self, incident_id: str) -> list[Choice]:
        """GET the recommendation (with routes) as the dispatcher."""
        started = time.perf_counter()
        out = self._request("dispatcher", "GET", f"/incidents/{incident_id}/recommendations")
        elapsed = (time.perf_counter() - started) * 1000
        call_ms = self._call_started.pop(incident_id, None)
        if call_ms is not None:
            # The platform's own share of call -> recommendation: recording the call
            # plus computing the recommendation (the humans' delays are simulated).
            self.latencies.add("call_to_recommendation", call_ms + elapsed)
        return [
            Choice(
                unit_id=str(c["unit_id"]),
                path=Path.from_geojson(c["route"], float(c["eta_s"])) if c.get("route") else None,
            )
            for c in out["chosen"]
        ]

    def assign_recommended(self, incident_id: str) -> list[str]:
        """Accept the recommendation in one call."""
        out = self._request(
            "dispatcher",
            "POST",
            f"/incidents/{incident_id}/assignments",
            {"accept_recommendation": True},
        )
        return [str(u) for u in out["unit_ids"]]

    def assign(self, incident_id: str, unit_ids: Sequence[str]) -> list[str]:
        """Send these units (a dispatcher's own choice, or a unit added later)."""
        out = self._request(
            "dispatcher",
            "POST",
            f"/incidents/{incident_id}/assignments",
            {"unit_ids": list(unit_ids)},
        )
        return [str(u) for u in out["unit_ids"]]

    def route(self, incident_id: str, unit_id: str) -> Path:
        """GET the route Vigil computes for a unit (as the unit's terminal)."""
        out = self._request("", "GET", f"/incidents/{incident_id}/routes/{unit_id}", unit=unit_id)
        return Path.from_geojson(out["geometry"], float(out["eta_s"]))

    def set_status(self, unit_id: str, status: str) -> None:
        """POST a status as the unit itself."""
        self._request("", "POST", f"/units/{unit_id}/status", {"status": status}, unit=unit_id)

    def report_positions(self, fixes: Sequence[tuple[str, Fix, datetime]]) -> None:
        """POST a batch of AVL fixes as the fleet's AVL gateway."""
        self._request(
            "avl",
            "POST",
            "/units/positions",
            {
                "fixes": [
                    {
                        "unit_id": uid,
                        "location": {"lat": f.location.lat, "lon": f.location.lon},
                        "fix_at": _iso(at),
                        "heading_deg": None
                        if f.heading_deg is None
                        else round(f.heading_deg, 1) % 360.0,
                        "speed_mps": round(f.speed_mps, 2),
                    }
                    for uid, f, at in fixes
                ]
            },
        )

    def close_incident(self, incident_id: str, disposition: str) -> None:
        """Close as the dispatcher."""
        self._request(
            "dispatcher", "POST", f"/incidents/{incident_id}/close", {"disposition": disposition}
        )

    def cancel(self, incident_id: str, reason: str) -> None:
        """Cancel as the dispatcher."""
        self._request("dispatcher", "POST", f"/incidents/{incident_id}/cancel", {"reason": reason})

    def active_incidents(self) -> list[IncidentView]:
        """The dispatcher's queue."""
        from vigil.core.geometry import LatLon  # noqa: PLC0415 - keeps module imports light

        out = self._request("dispatcher", "GET", "/incidents?active=true")
        return [
            IncidentView(
                id=str(i["id"]),
                type=str(i["type"]),
                status=str(i["status"]),
                unit_ids=tuple(i["unit_ids"]),
                location=LatLon(i["location"]["lat"], i["location"]["lon"])
                if i.get("location")
                else None,
            )
            for i in out
        ]

    def units(self) -> list[UnitView]:
        """Every unit as the platform sees it."""
        out = self._request("dispatcher", "GET", "/units")
        return [
            UnitView(id=str(u["id"]), status=str(u["status"]), incident_id=u.get("incident_id"))
            for u in out
        ]

    # ------------------------------------------------------------ MQTT

    def _on_publish(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        _reason: object,
        _props: object,
    ) -> None:
        with self._lock:
            self.published += 1
            self._lock.notify_all()

    def publish(self, readings: Sequence[Reading], start: datetime) -> None:
        """Publish readings through the gateway topic, QoS 1, 100 a message."""
        topic = f"vigil/{self._site}/gateways/sim/batch"
        for i in range(0, len(readings), GATEWAY_BATCH):
            chunk = readings[i : i + GATEWAY_BATCH]
            observations = []
            for r in chunk:
                key = (r.device_id, r.stream)
                self._seq[key] = seq = self._seq.get(key, 0) + 1
                observations.append(
                    {
                        "device_id": r.device_id,
                        "stream": r.stream,
                        "seq": seq,
                        "ts": _iso(start + timedelta(seconds=r.at_s)),
                        "value": r.value,
                        "unit": r.unit or None,
                        "attrs": r.attrs,
                    }
                )
            payload = json.dumps({"observations": observations}, separators=(",", ":"))
            # Count before publishing, and never hold our lock inside paho's publish: its
            # network thread calls _on_publish while holding paho's own locks.
            with self._lock:
                self._sent += 1
            info = self._mqtt.publish(topic, payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise PlatformError(0, f"MQTT publish failed: {mqtt.error_string(info.rc)}")

    def settle(self, timeout_s: float = 60.0) -> None:
        """Wait until the broker acknowledged every message and the platform processed them."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self.published < self._sent:
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = self._sent - self.published
                    raise PlatformError(0, f"{missing} MQTT messages not acknowledged")
                self._lock.wait(left)
            published = self.published
        if self._settle is not None:
            self._settle(published)
