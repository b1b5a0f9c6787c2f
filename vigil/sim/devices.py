"""Simulated devices and their readings (pure, seeded).

Each device has a kind, a place, a reporting interval and a baseline with a
daily cycle; scripted situations bend the readings of the devices near them:
a river rises and falls, a crowd builds and disperses, a street gets loud at
night, an impulse reaches the microphones around a shot, a smoke panel trips.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from vigil.core.geometry import LatLon, haversine_m
from vigil.sim.demand import LocationPool
from vigil.sim.scenario import DeviceGroup, DeviceKindName, Scenario, Situation, SituationKind

SOUND_MPS = 343.0

# kind -> (periodic stream, SI unit, default daytime baseline, default noise sd)
PERIODIC: dict[DeviceKindName, tuple[str, str, float, float]] = {
    DeviceKindName.NOISE_METER: ("laeq", "dB(A)", 58.0, 2.5),
    DeviceKindName.FLOOD_GAUGE: ("level", "m", 1.2, 0.02),
    DeviceKindName.CROWD_COUNTER: ("density", "people/m²", 0.4, 0.05),
    DeviceKindName.SMOKE_PANEL: ("alarm", "", 0.0, 0.0),
    DeviceKindName.ACOUSTIC_DETECTOR: ("laeq", "dB(A)", 55.0, 2.5),
    DeviceKindName.CAMERA_ANALYTICS: ("count", "people", 12.0, 3.0),
    DeviceKindName.AIR_QUALITY: ("pm25", "µg/m³", 9.0, 1.5),
}

# Default peak of each situation kind when the scenario gives none.
DEFAULT_PEAK: dict[SituationKind, float] = {
    SituationKind.RIVER_RISE: 3.6,
    SituationKind.CONCERT: 5.2,
    SituationKind.NOISE_CLUSTER: 72.0,
    SituationKind.GUNSHOT: 135.0,
    SituationKind.FIRE_ALARM: 1.0,
}

CROWD_AREA_M2 = 400.0  # the area a crowd counter watches; count = density x area


@dataclass(frozen=True, slots=True, kw_only=True)
class SimDevice:
    """One simulated device."""

    id: str
    group: str
    kind: DeviceKindName
    location: LatLon
    zone: str | None
    interval_s: float
    first_s: float  # its first report, seconds after start (spreads the fleet's phases)
    baseline: float
    noise: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """One observation to publish."""

    device_id: str
    stream: str
    at_s: float
    value: float | bool
    unit: str
    attrs: dict[str, str | float | bool] = field(default_factory=dict)


def place_devices(
    groups: Sequence[DeviceGroup], pool: LocationPool, *, rng: random.Random
) -> list[SimDevice]:
    """Place every device of every group and draw its interval and phase."""
    out: list[SimDevice] = []
    for g in groups:
        _, _, base, sd = PERIODIC[g.kind]
        near = g.placement.near
        candidates = pool.within(LatLon(near.lat, near.lon), g.placement.radius_m) if near else []
        for i in range(1, g.count + 1):
            if near is not None:
                loc = (
                    candidates[rng.randrange(len(candidates))]
                    if candidates
                    else LatLon(near.lat, near.lon)
                )
            else:
                loc = pool.anywhere(rng)
            interval = rng.uniform(*g.interval_s)
            out.append(
                SimDevice(
                    id=f"{g.name}-{i:04d}",
                    group=g.name,
                    kind=g.kind,
                    location=loc,
                    zone=g.zone,
                    interval_s=interval,
                    first_s=rng.uniform(0, interval),
                    baseline=g.baseline if g.baseline is not None else base,
                    noise=g.noise if g.noise is not None else sd,
                )
            )
    return out


def envelope(s: Situation, t: float) -> float:
    """Return how far a situation is from normal (0) to its peak (1) at time t."""
    if t < s.at:
        return 0.0
    x = t - s.at
    if x < s.rise:
        return x / s.rise if s.rise > 0 else 1.0
    x -= s.rise
    if x <= s.hold:
        return 1.0
    x -= s.hold
    if s.fall <= 0 or x >= s.fall:
        return 0.0
    return 1.0 - x / s.fall


def affects(s: Situation, d: SimDevice) -> bool:
    """Return whether a situation bends a device's readings."""
    if s.devices is not None and s.devices != d.group:
        return False
    return haversine_m(LatLon(s.location.lat, s.location.lon), d.location) <= s.radius_m


def _daily(kind: DeviceKindName, local_hour: float) -> float:
    """Return the daily-cycle multiplier (or dB offset for sound) of a kind."""
    night = local_hour < 6 or local_hour >= 23
    if kind in (DeviceKindName.NOISE_METER, DeviceKindName.ACOUSTIC_DETECTOR):
        return -9.0 if night else 2.0 * math.sin(math.pi * (local_hour - 6) / 17)
    if kind in (DeviceKindName.CROWD_COUNTER, DeviceKindName.CAMERA_ANALYTICS):
        return 0.15 if night else 0.6 + 0.6 * math.sin(math.pi * (local_hour - 6) / 17)
    if kind is DeviceKindName.AIR_QUALITY:
        return 0.8 if night else 1.0 + 0.3 * math.sin(math.pi * (local_hour - 6) / 17)
    return 1.0


class DeviceModel:
    """Generates a device fleet's periodic readings and scripted one-off events."""

    def __init__(
        self, scenario: Scenario, devices: Sequence[SimDevice], *, rng: random.Random
    ) -> None:
        self.scenario = scenario
        self.devices = list(devices)
        self._rng = rng
        self._touching: dict[str, list[Situation]] = {
            d.id: [s for s in scenario.situations if affects(s, d)] for d in self.devices
        }

    def periodic(self, d: SimDevice, t: float) -> list[Reading]:
        """Return the readings a device sends on its regular report at time t."""
        local = self.scenario.local(t)
        local_hour = local.hour + local.minute / 60
        stream, unit, _, _ = PERIODIC[d.kind]
        rng = self._rng
        if d.kind is DeviceKindName.SMOKE_PANEL:
            on = any(
                s.kind is SituationKind.FIRE_ALARM and envelope(s, t) > 0
                for s in self._touching[d.id]
            )
            return [Reading(device_id=d.id, stream="alarm", at_s=t, value=on, unit="")]
        daily = _daily(d.kind, local_hour)
        sound = d.kind in (DeviceKindName.NOISE_METER, DeviceKindName.ACOUSTIC_DETECTOR)
        normal = d.baseline + daily if sound else d.baseline * daily
        value = normal
        for s in self._touching[d.id]:
            e = envelope(s, t)
            if e <= 0:
                continue
            peak = s.peak if s.peak is not None else DEFAULT_PEAK[s.kind]
            rises_to_peak = (
                s.kind is SituationKind.RIVER_RISE and d.kind is DeviceKindName.FLOOD_GAUGE
            ) or (s.kind is SituationKind.CONCERT and d.kind is DeviceKindName.CROWD_COUNTER)
            if rises_to_peak:
                value = max(value, normal + (peak - normal) * e)
            elif s.kind is SituationKind.CONCERT and sound:
                value = max(value, normal + 25.0 * e)
            elif s.kind is SituationKind.CONCERT and d.kind is DeviceKindName.CAMERA_ANALYTICS:
                value = max(value, normal + 250.0 * e)
            elif s.kind is SituationKind.NOISE_CLUSTER and sound:
                value = max(value, normal + (peak - normal) * e)
        value += rng.gauss(0.0, d.noise) if d.noise > 0 else 0.0
        value = max(0.0, value)
        if d.kind is DeviceKindName.CROWD_COUNTER:
            density = round(min(value, 20.0), 3)
            return [
                Reading(device_id=d.id, stream="density", at_s=t, value=density, unit=unit),
                Reading(
                    device_id=d.id,
                    stream="count",
                    at_s=t,
                    value=float(round(density * CROWD_AREA_M2)),
                    unit="people",
                ),
            ]
        if d.kind is DeviceKindName.CAMERA_ANALYTICS:
            return [
                Reading(
                    device_id=d.id,
                    stream="count",
                    at_s=t,
                    value=float(round(value)),
                    unit=unit,
                    attrs={"class": "person"},
                )
            ]
        return [Reading(device_id=d.id, stream=stream, at_s=t, value=round(value, 3), unit=unit)]

    def scripted(self) -> list[Reading]:
        """Return one-off readings of the scenario's situations (impulses, behaviours)."""
        out: list[Reading] = []
        rng = self._rng
        for s in self.scenario.situations:
            centre = LatLon(s.location.lat, s.location.lon)
            for d in self.devices:
                if s not in self._touching[d.id]:
                    continue
                dist = haversine_m(centre, d.location)
                if s.kind is SituationKind.GUNSHOT and d.kind is DeviceKindName.ACOUSTIC_DETECTOR:
                    peak = s.peak if s.peak is not None else DEFAULT_PEAK[s.kind]
                    level = peak - 20.0 * math.log10(max(dist, 10.0) / 10.0)
                    for shot in range(3):
                        out.append(
                            Reading(
                                device_id=d.id,
                                stream="impulse",
                                at_s=s.at + dist / SOUND_MPS + shot * rng.uniform(0.4, 1.2),
                                value=round(max(0.0, level + rng.gauss(0, 1.5)), 1),
                                unit="dB(A)",
                                attrs={
                                    "class": "impulse",
                                    "confidence": round(rng.uniform(0.8, 0.97), 2),
                                },
                            )
                        )
                elif s.kind is SituationKind.GUNSHOT and d.kind is DeviceKindName.CAMERA_ANALYTICS:
                    out.append(
                        Reading(
                            device_id=d.id,
                            stream="behaviour",
                            at_s=s.at + rng.uniform(2, 8),
                            value=True,
                            unit="",
                            attrs={"kind": "running"},
                        )
                    )
                elif s.kind is SituationKind.CONCERT and d.kind is DeviceKindName.CAMERA_ANALYTICS:
                    out.append(
                        Reading(
                            device_id=d.id,
                            stream="behaviour",
                            at_s=s.at + s.rise * rng.uniform(0.5, 0.9),
                            value=True,
                            unit="",
                            attrs={"kind": "crowd_forming"},
                        )
                    )
                elif s.kind is SituationKind.FIRE_ALARM and d.kind is DeviceKindName.SMOKE_PANEL:
                    out.append(
                        Reading(
                            device_id=d.id,
                            stream="alarm",
                            at_s=s.at + rng.uniform(0, 5),
                            value=True,
                            unit="",
                        )
                    )
        out.sort(key=lambda r: (r.at_s, r.device_id, r.stream))
        return out
