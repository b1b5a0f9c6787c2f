"""Image-plane geometry: polygons, lines and the image-to-ground homography."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Polygon:
    """A simple polygon in image pixels."""

    points: tuple[Point, ...]

    def contains(self, p: Point) -> bool:
        """Return whether `p` is inside (even-odd rule)."""
        x, y = p
        inside = False
        pts = self.points
        j = len(pts) - 1
        for i in range(len(pts)):
            xi, yi = pts[i]
            xj, yj = pts[j]
            if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
                inside = not inside
            j = i
        return inside

    def pixel_area(self) -> float:
        """Return the area in square pixels (shoelace)."""
        return shoelace(self.points)


def shoelace(points: Sequence[Point]) -> float:
    """Return the area of a polygon given by its vertices."""
    n = len(points)
    s = 0.0
    for i in range(n):
        x1, y1 = points[i]
        x2, y2 = points[(i + 1) % n]
        s += x1 * y2 - x2 * y1
    return abs(s) / 2.0


def side(a: Point, b: Point, p: Point) -> float:
    """Return >0 when `p` is left of a->b (image y down: left as seen on screen), <0 right."""
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def segments_cross(a: Point, b: Point, p: Point, q: Point) -> bool:
    """Return whether segment p-q crosses segment a-b."""
    d1, d2 = side(a, b, p), side(a, b, q)
    d3, d4 = side(p, q, a), side(p, q, b)
    return d1 * d2 < 0 and d3 * d4 < 0


@dataclass(frozen=True, slots=True)
class Ground:
    """Image pixels -> ground metres: a homography, or a flat scale, or nothing known."""

    homography: NDArray[np.float64] | None = None
    metres_per_pixel: float | None = None

    @classmethod
    def of(cls, h: list[list[float]] | None, mpp: float | None) -> Ground:
        """Build from configuration values."""
        return cls(None if h is None else np.asarray(h, dtype=np.float64), mpp)

    @property
    def known(self) -> bool:
        """Whether distances and areas in metres can be computed."""
        return self.homography is not None or self.metres_per_pixel is not None

    def to_ground(self, p: Point) -> Point | None:
        """Return the ground position in metres of an image point (None if unknown)."""
        if self.homography is not None:
            v = self.homography @ np.array([p[0], p[1], 1.0])
            if abs(v[2]) < 1e-12:
                return None
            return (float(v[0] / v[2]), float(v[1] / v[2]))
        if self.metres_per_pixel is not None:
            return (p[0] * self.metres_per_pixel, p[1] * self.metres_per_pixel)
        return None

    def area_m2(self, polygon: Polygon) -> float | None:
        """Return the real area of an image polygon (None if the ground is unknown)."""
        pts = [self.to_ground(p) for p in polygon.points]
        if any(p is None for p in pts):
            return None
        return shoelace([p for p in pts if p is not None])

    def distance_m(self, p: Point, q: Point) -> float | None:
        """Return the ground distance between two image points (None if unknown)."""
        a, b = self.to_ground(p), self.to_ground(q)
        if a is None or b is None:
            return None
        return float(np.hypot(a[0] - b[0], a[1] - b[1]))
