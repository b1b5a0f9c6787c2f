"""Unit movement along a route (pure): where a unit is after driving for a while.

A route comes from Vigil as a GeoJSON LineString of [lon, lat] pairs with a
drive time. The unit moves along it at a constant fraction of the drive time
per metre (the route's own mean speed), which is what the graph's edge speeds
average to; a finer model would need per-edge times the API does not return.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vigil.core.geometry import LatLon, haversine_m


@dataclass(frozen=True, slots=True, kw_only=True)
class Fix:
    """A position report: where, heading (degrees from north) and speed (m/s)."""

    location: LatLon
    heading_deg: float | None
    speed_mps: float


def bearing_deg(a: LatLon, b: LatLon) -> float:
    """Return the initial great-circle bearing from a to b, in [0, 360)."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dl = math.radians(b.lon - a.lon)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


class Path:
    """A polyline with cumulative lengths, driven in `seconds`."""

    def __init__(self, points: Sequence[LatLon], seconds: float) -> None:
        if not points:
            raise ValueError("a path needs at least one point")
        self.points = list(points)
        self.seconds = max(0.0, seconds)
        self.cumulative = [0.0]
        for a, b in zip(self.points, self.points[1:], strict=False):
            self.cumulative.append(self.cumulative[-1] + haversine_m(a, b))

    def taking(self, seconds: float) -> Path:
        """Return the same polyline driven in `seconds`."""
        other = Path.__new__(Path)
        other.points, other.cumulative = self.points, self.cumulative
        other.seconds = max(0.0, seconds)
        return other

    @classmethod
    def from_geojson(cls, geometry: Mapping[str, object], seconds: float) -> Path:
        """Build from a GeoJSON LineString (or Point) of [lon, lat] pairs."""
        kind = geometry.get("type")
        coords = geometry.get("coordinates")
        if kind == "Point" and isinstance(coords, list | tuple):
            return cls([LatLon(float(coords[1]), float(coords[0]))], seconds)
        if kind != "LineString" or not isinstance(coords, list | tuple) or not coords:
            raise ValueError(f"expected a GeoJSON LineString, got {kind!r}")
        return cls([LatLon(float(c[1]), float(c[0])) for c in coords], seconds)

    @property
    def metres(self) -> float:
        """Return the path length."""
        return self.cumulative[-1]

    @property
    def end(self) -> LatLon:
        """Return the last point."""
        return self.points[-1]

    def at(self, elapsed_s: float) -> Fix:
        """Return the fix after driving `elapsed_s` seconds (clamped to the ends)."""
        total = self.metres
        if total <= 0 or self.seconds <= 0 or len(self.points) == 1:
            return Fix(location=self.points[-1], heading_deg=None, speed_mps=0.0)
        frac = min(1.0, max(0.0, elapsed_s / self.seconds))
        target = frac * total
        i = min(bisect_right(self.cumulative, target) - 1, len(self.points) - 2)
        i = max(i, 0)
        a, b = self.points[i], self.points[i + 1]
        seg = self.cumulative[i + 1] - self.cumulative[i]
        t = 0.0 if seg <= 0 else (target - self.cumulative[i]) / seg
        here = LatLon(a.lat + (b.lat - a.lat) * t, a.lon + (b.lon - a.lon) * t)
        moving = frac < 1.0
        return Fix(
            location=here,
            heading_deg=bearing_deg(a, b) if seg > 0 else None,
            speed_mps=min(100.0, total / self.seconds) if moving else 0.0,
        )
