"""What the worker tells Vigil: device definitions and readings, in ingest's wire format.

Each camera is registered as devices of the existing kind ``camera_analytics``:

- ``<camera>``: the camera itself, streams ``fps`` (Hz), ``lag`` (s),
  ``dropped`` (frames) and ``online`` (flag) — its health;
- ``<camera>.<zone>``: one per zone, at the zone's place, streams ``count``
  (people; attrs class person/vehicle/bicycle: the most at once in the
  interval), ``density`` (people/m², when the zone's area is known) and
  ``behaviour`` (flag 1 when a behaviour starts, 0 when it ends; attrs kind,
  confidence);
- ``<camera>.<line>``: one per counting line, streams ``crossed_in`` and
  ``crossed_out`` (per interval; attrs class).

A reading is ``{"seq", "ts", "value", "unit", "attrs"}`` on
``vigil/<site>/devices/<device_id>/<stream>``; `seq` is the reading's time in
microseconds, so a restarted worker never reuses one (ingest deduplicates on it).
Track ids never leave the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec

from vigil.video.config import CameraIn
from vigil.video.layout import CameraLayoutIn, ZoneShapeIn
from vigil.video.model import COUNTED, BehaviourEvent, LineCounts, ZoneCounts

HEALTH_STREAMS = {"fps": "Hz", "lag": "s", "dropped": "frames", "online": ""}
ZONE_STREAMS = {"count": "people", "density": "people/m²", "behaviour": ""}
LINE_STREAMS = {"crossed_in": "people", "crossed_out": "people"}


@dataclass(frozen=True, slots=True)
class Reading:
    """One reading to publish."""

    device_id: str
    stream: str
    at: datetime
    value: float
    unit: str
    attrs: dict[str, str | float | bool]


class _Wire(msgspec.Struct):
    seq: int
    ts: datetime
    value: float
    unit: str
    attrs: dict[str, str | float | bool]


_ENC = msgspec.json.Encoder()


def topic(site: str, r: Reading) -> str:
    """Return the MQTT topic of a reading."""
    return f"vigil/{site}/devices/{r.device_id}/{r.stream}"


def payload(r: Reading, seq: int) -> bytes:
    """Return the JSON payload of a reading."""
    return _ENC.encode(_Wire(seq=seq, ts=r.at, value=r.value, unit=r.unit, attrs=r.attrs))


def zone_device(camera: str, zone: str) -> str:
    """Return the device id of a camera's zone (or line)."""
    return f"{camera}.{zone}"


def devices(camera: CameraIn, *, site: str, interval_s: float) -> list[dict[str, object]]:
    """Return the device definitions (ingest's DeviceIn fields) of one camera."""
    out: list[dict[str, object]] = [
        {
            "id": camera.id,
            "kind": "camera_analytics",
            "lat": camera.lat,
            "lon": camera.lon,
            "zone": None,
            "site": site,
            "streams": HEALTH_STREAMS,
            "interval_s": interval_s,
            "label": camera.label or f"camera {camera.id}",
        }
    ]
    zones = camera.zones or []
    names = [z.name for z in zones] or ["frame"]
    for z_name in names:
        z = next((z for z in zones if z.name == z_name), None)
        out.append(
            {
                "id": zone_device(camera.id, z_name),
                "kind": "camera_analytics",
                "lat": z.lat if z is not None and z.lat is not None else camera.lat,
                "lon": z.lon if z is not None and z.lon is not None else camera.lon,
                "zone": z.place if z is not None and z.place else z_name,
                "site": site,
                "streams": ZONE_STREAMS,
                "interval_s": camera.interval_s,
                "label": f"{camera.label or camera.id}: zone {z_name}",
            }
        )
    for ln in camera.lines:
        out.append(
            {
                "id": zone_device(camera.id, ln.name),
                "kind": "camera_analytics",
                "lat": camera.lat,
                "lon": camera.lon,
                "zone": None,
                "site": site,
                "streams": LINE_STREAMS,
                "interval_s": camera.interval_s,
                "label": f"{camera.label or camera.id}: line {ln.name}",
            }
        )
    return out


def layout(camera: CameraIn, *, width: int, height: int) -> CameraLayoutIn:
    """Return the camera's zones and lines on its `width` x `height` frames (for the panel).

    A zone with intrusion hours is ``restricted``; a camera without zones has the
    whole frame as its zone ``frame``.
    """
    zones = [
        ZoneShapeIn(
            name=z.name,
            kind="restricted" if z.restricted else "counting",
            points=list(z.polygon),
        )
        for z in camera.zones
    ] or [
        ZoneShapeIn(
            name="frame",
            kind="counting",
            points=[(0, 0), (width, 0), (width, height), (0, height)],
        )
    ]
    zones += [ZoneShapeIn(name=ln.name, kind="line", points=[ln.a, ln.b]) for ln in camera.lines]
    return CameraLayoutIn(width=width, height=height, zones=zones)


def zone_readings(c: ZoneCounts, at: datetime) -> list[Reading]:
    """Return the count (and density) readings of a closed interval."""
    dev = zone_device(c.camera, c.zone)
    out = [
        Reading(dev, "count", at, float(c.peak.get(cls, 0)), "people", {"class": cls.value})
        for cls in COUNTED
    ]
    if c.density is not None:
        out.append(Reading(dev, "density", at, round(c.density, 4), "people/m²", {}))
    return out


def line_readings(c: LineCounts, at: datetime) -> list[Reading]:
    """Return the crossing readings of a closed interval."""
    dev = zone_device(c.camera, c.line)
    out: list[Reading] = []
    for cls in COUNTED:
        out.append(
            Reading(
                dev, "crossed_in", at, float(c.inbound.get(cls, 0)), "people", {"class": cls.value}
            )
        )
        out.append(
            Reading(
                dev,
                "crossed_out",
                at,
                float(c.outbound.get(cls, 0)),
                "people",
                {"class": cls.value},
            )
        )
    return out


def behaviour_reading(e: BehaviourEvent, at: datetime, *, started: bool) -> Reading:
    """Return the behaviour reading of an event starting (1) or ending (0)."""
    return Reading(
        zone_device(e.camera, e.zone),
        "behaviour",
        at,
        1.0 if started else 0.0,
        "",
        {"kind": e.kind.value, "confidence": e.confidence},
    )


def health_readings(
    camera: str, at: datetime, *, fps: float, lag_s: float, dropped: int, online: bool
) -> list[Reading]:
    """Return a camera's health readings."""
    return [
        Reading(camera, "fps", at, round(fps, 3), "Hz", {}),
        Reading(camera, "lag", at, round(max(0.0, lag_s), 3), "s", {}),
        Reading(camera, "dropped", at, float(dropped), "frames", {}),
        Reading(camera, "online", at, 1.0 if online else 0.0, "", {}),
    ]
