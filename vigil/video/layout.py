"""What a camera shows the operator: its zones and lines, in the pixels of its frames.

The worker describes each camera once it knows the size of its frames (after
the first frame: a stream's size is not known before), and again whenever that
size changes: ``PUT /api/v1/cameras/<id>/layout`` with the camera device's own
token. The server checks the geometry (`check_layout`) and that every zone and
line is a registered device of that camera, then keeps the latest layout beside
the camera's snapshots (`LayoutStore`) so the command centre can draw it over
the blurred snapshot — snapshots are whole frames, so one coordinate system
serves both. A layout is configuration, not personal data: it is not purged.

The same geometry checks run on a camera file (`vigil.video.config`), so a bad
polygon is refused when the worker starts, naming the zone, not later by the
server.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from vigil.core.errors import ValidationError
from vigil.video.geometry import shoelace

Point = tuple[float, float]
ZoneKind = Literal["restricted", "counting", "line"]
NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,40}$"
MAX_SIDE = 16_384  # pixels: larger than any camera sensor's frame
MAX_POINTS = 256
MAX_ZONES = 128
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


class ZoneShapeIn(BaseModel):
    """One zone (a polygon) or counting line (two points) in frame pixels."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    name: Annotated[str, Field(pattern=NAME, description="Zone or line name (its device suffix).")]
    kind: ZoneKind = Field(
        description="restricted: a zone with intrusion hours; counting: any other zone; "
        "line: a counting line from its first point to its second."
    )
    points: list[tuple[float, float]] = Field(
        min_length=2,
        max_length=MAX_POINTS,
        description="[x, y] in pixels of the frame, origin top left (a line: exactly two).",
    )


class CameraLayoutIn(BaseModel):
    """A camera's frame size and the zones and lines drawn on it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    width: int = Field(ge=1, le=MAX_SIDE, description="Frame (and snapshot) width, pixels.")
    height: int = Field(ge=1, le=MAX_SIDE, description="Frame (and snapshot) height, pixels.")
    zones: list[ZoneShapeIn] = Field(
        max_length=MAX_ZONES, description="Zones and lines, in drawing order."
    )


def _orient(a: Point, b: Point, c: Point) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _on_segment(a: Point, b: Point, p: Point) -> bool:
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def _touch(a: Point, b: Point, p: Point, q: Point) -> bool:
    """Return whether segments a-b and p-q share at least one point."""
    d1, d2 = _orient(p, q, a), _orient(p, q, b)
    d3, d4 = _orient(a, b, p), _orient(a, b, q)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    return (
        (d1 == 0 and _on_segment(p, q, a))
        or (d2 == 0 and _on_segment(p, q, b))
        or (d3 == 0 and _on_segment(a, b, p))
        or (d4 == 0 and _on_segment(a, b, q))
    )


def _vertex_problem(points: Sequence[Point]) -> str | None:
    n = len(points)
    if n < 3:
        return f"a polygon needs at least 3 points, got {n}"
    if n > MAX_POINTS:
        return f"a polygon has at most {MAX_POINTS} points, got {n}"
    for i, p in enumerate(points):
        if not all(math.isfinite(v) for v in p):
            return f"point {i} is not a finite number"
        if p == points[(i + 1) % n]:
            return f"points {i} and {(i + 1) % n} are the same point"
    return None


def _edge_problem(points: Sequence[Point]) -> str | None:
    n = len(points)
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        a, b = edges[i]
        for j in range(i + 1, n):
            p, q = edges[j]
            if j == i + 1 or (i == 0 and j == n - 1):
                # Neighbours share a vertex; they must not fold back along each other.
                shared, far = (b, q) if j == i + 1 else (a, p)
                near = a if j == i + 1 else b
                if _orient(near, shared, far) == 0 and (
                    _on_segment(near, shared, far) or _on_segment(shared, far, near)
                ):
                    return f"edges {i} and {j} fold back along each other"
            elif _touch(a, b, p, q):
                return f"edges {i} and {j} cross or touch (the polygon must not self-intersect)"
    return None


def polygon_problem(points: Sequence[Point]) -> str | None:
    """Return why `points` is not a simple polygon with an area, or None when it is."""
    why = _vertex_problem(points) or _edge_problem(points)
    if why is None and shoelace(points) < 1e-6:
        why = "the polygon has no area"
    return why


def line_problem(points: Sequence[Point]) -> str | None:
    """Return why `points` is not a counting line (two distinct points), or None."""
    if len(points) != 2:
        return f"a line has exactly 2 points, got {len(points)}"
    if points[0] == points[1]:
        return "a line's two points are the same point"
    return None


def check_layout(layout: CameraLayoutIn) -> None:
    """Raise ValidationError naming the zone and the reason if a layout cannot be drawn."""
    seen: set[str] = set()
    for i, z in enumerate(layout.zones):
        where = f"zones.{i}"
        if z.name in seen:
            raise ValidationError(f"{where}: zone name {z.name!r} repeated", field=f"{where}.name")
        seen.add(z.name)
        why = line_problem(z.points) if z.kind == "line" else polygon_problem(z.points)
        if why is not None:
            raise ValidationError(f"{where} ({z.name}): {why}", field=f"{where}.points")
        for k, (x, y) in enumerate(z.points):
            if not (0 <= x <= layout.width and 0 <= y <= layout.height):
                raise ValidationError(
                    f"{where} ({z.name}): point {k} ({x:g}, {y:g}) is outside the "
                    f"{layout.width}x{layout.height} frame",
                    field=f"{where}.points.{k}",
                )


class LayoutStore:
    """The latest layout of each camera, one JSON file per camera under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, camera: str) -> Path:
        safe = _SAFE.sub("_", camera)
        if safe != camera:  # two ids that sanitise alike keep separate files
            safe += "-" + hashlib.sha256(camera.encode()).hexdigest()[:12]
        return self.root / f"{safe}.json"

    def save(self, camera: str, layout: CameraLayoutIn) -> None:
        """Keep `layout` as the camera's latest (written atomically)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._path(camera)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(layout.model_dump_json(), "utf-8")
        tmp.replace(path)

    def load(self, camera: str) -> CameraLayoutIn | None:
        """Return the camera's latest layout (None if it has none or the file is unreadable)."""
        try:
            return CameraLayoutIn.model_validate_json(self._path(camera).read_bytes())
        except (OSError, PydanticValidationError):
            return None
