"""Points, boxes and great-circle distance on WGS84 coordinates."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vigil.core.errors import GeoError

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class LatLon:
    """A WGS84 position in decimal degrees; construction validates the range."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lat) and -90.0 <= self.lat <= 90.0):
            raise GeoError(f"latitude {self.lat!r} is outside -90..90", field="lat")
        if not (math.isfinite(self.lon) and -180.0 <= self.lon <= 180.0):
            raise GeoError(f"longitude {self.lon!r} is outside -180..180", field="lon")

    @classmethod
    def parse(cls, text: str) -> LatLon:
        """Parse "lat,lon"."""
        parts = text.split(",")
        if len(parts) != 2:
            raise GeoError(f"expected 'LAT,LON', got {text!r}", field="location")
        try:
            return cls(float(parts[0]), float(parts[1]))
        except ValueError as err:
            raise GeoError(
                f"expected numbers in 'LAT,LON', got {text!r}", field="location"
            ) from err


@dataclass(frozen=True, slots=True)
class BBox:
    """An axis-aligned box: west, south, east, north in degrees."""

    west: float
    south: float
    east: float
    north: float

    def __post_init__(self) -> None:
        LatLon(self.south, self.west)
        LatLon(self.north, self.east)
        if self.south > self.north:
            raise GeoError("bbox south is north of north", field="bbox")
        if self.west > self.east:
            raise GeoError("bbox west is east of east", field="bbox")

    @classmethod
    def parse(cls, text: str) -> BBox:
        """Parse "west,south,east,north"."""
        parts = text.split(",")
        if len(parts) != 4:
            raise GeoError("bbox needs 4 numbers: west,south,east,north", field="bbox")
        try:
            w, s, e, n = (float(p) for p in parts)
        except ValueError as err:
            raise GeoError(f"bbox has a non-number: {text!r}", field="bbox") from err
        return cls(w, s, e, n)

    def contains(self, point: LatLon) -> bool:
        """Return whether the point lies inside or on the edge of the box."""
        return self.south <= point.lat <= self.north and self.west <= point.lon <= self.east


def haversine_m(a: LatLon, b: LatLon) -> float:
    """Return the great-circle distance in metres."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp = p2 - p1
    dl = math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
