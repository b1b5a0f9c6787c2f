"""Devices and observations: what sensors are, and what they report.

An observation is *about a place*: a device at a location (and zone) measured
a value on a named stream. Camera and microphone analytics report counts,
classes and levels — never identities.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec

from vigil.core.geometry import LatLon
from vigil.core.ids import DeviceId


class DeviceKind(StrEnum):
    """What a device is."""

    NOISE_METER = "noise_meter"
    AIR_QUALITY = "air_quality"
    FLOOD_GAUGE = "flood_gauge"
    CROWD_COUNTER = "crowd_counter"
    SMOKE_PANEL = "smoke_panel"
    ACOUSTIC_DETECTOR = "acoustic_detector"
    CAMERA_ANALYTICS = "camera_analytics"
    PANIC_BUTTON = "panic_button"
    WEATHER_STATION = "weather_station"


class Device(msgspec.Struct, frozen=True, kw_only=True):
    """A registered device."""

    id: DeviceId
    kind: DeviceKind
    location: LatLon
    zone: str | None
    site: str
    streams: dict[str, str]  # stream name -> SI unit it is stored in, e.g. {"laeq": "dB(A)"}
    interval_s: float  # expected reporting interval; silence beyond it raises DeviceOffline
    label: str = ""


class Observation(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One validated, normalised reading (SI units, UTC)."""

    id: str  # stable: "<device_id>:<stream>:<seq>" (or the message id): duplicates share it
    device_id: DeviceId
    kind: DeviceKind
    stream: str
    value: float
    unit: str
    observed_at: datetime  # UTC
    received_at: datetime  # UTC, when Vigil accepted it
    location: LatLon
    zone: str | None
    attrs: dict[str, str | float | bool] = {}
