"""Compiled rules: the checked, ready-to-run form of a rule file (pure domain types).

A rule file is validated and compiled once per version (see ``vigil.rules.load``);
the engine only ever sees these frozen objects.

Coordinates: zone polygons and circle centres are written ``[lat, lon]`` (the
order of ``LatLon``, of CAP ``<polygon>`` and of what map apps show when you
click a point), not GeoJSON's ``[lon, lat]``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from vigil.alerts.drafts import Certainty, Severity, Urgency
from vigil.core.geometry import EARTH_RADIUS_M, LatLon
from vigil.rules.cel import Condition
from vigil.rules.windows import Aggregate

M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class KeyBy(StrEnum):
    """How a rule's state is split: one state per device, zone, grid cell, or one in all."""

    DEVICE = "device"
    ZONE = "zone"
    CELL = "cell"
    NONE = "none"


class Fire(StrEnum):
    """When a satisfied rule acts: on every matching event, or once per episode."""

    EACH = "each"
    EDGE = "edge"


@dataclass(frozen=True, slots=True)
class Zone:
    """A named polygon (ring of [lat, lon] points, closed implicitly)."""

    name: str
    label: str
    ring: tuple[tuple[float, float], ...]
    south: float = field(init=False)
    north: float = field(init=False)
    west: float = field(init=False)
    east: float = field(init=False)

    def __post_init__(self) -> None:
        lats = [p[0] for p in self.ring]
        lons = [p[1] for p in self.ring]
        object.__setattr__(self, "south", min(lats))
        object.__setattr__(self, "north", max(lats))
        object.__setattr__(self, "west", min(lons))
        object.__setattr__(self, "east", max(lons))

    def contains(self, lat: float, lon: float) -> bool:
        """Return whether a point is inside the polygon (ray casting, bbox first)."""
        if not (self.south <= lat <= self.north and self.west <= lon <= self.east):
            return False
        inside = False
        ring = self.ring
        j = len(ring) - 1
        for i in range(len(ring)):
            yi, xi = ring[i]
            yj, xj = ring[j]
            if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
                inside = not inside
            j = i
        return inside

    def centroid(self) -> LatLon:
        """Return the polygon's area centroid (planar, fine at city scale)."""
        ring = self.ring
        area = cx = cy = 0.0
        for i in range(len(ring)):
            y0, x0 = ring[i]
            y1, x1 = ring[(i + 1) % len(ring)]
            cross = x0 * y1 - x1 * y0
            area += cross
            cx += (x0 + x1) * cross
            cy += (y0 + y1) * cross
        if abs(area) < 1e-18:
            return LatLon(sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring))
        return LatLon(cy / (3 * area), cx / (3 * area))

    def cap_polygon(self) -> str:
        """Return the ring as CAP 1.2 wants it: "lat,lon lat,lon ..." closed."""
        points = [*self.ring, self.ring[0]]
        return " ".join(f"{lat:.6f},{lon:.6f}" for lat, lon in points)


@dataclass(frozen=True, slots=True)
class Circle:
    """A circle scope: centre and radius."""

    center: LatLon
    radius_m: float


@dataclass(frozen=True, slots=True)
class Hours:
    """A daily local-time span, e.g. 22:00-07:00 (may wrap midnight)."""

    start_min: int
    end_min: int
    tz: ZoneInfo
    text: str

    def contains(self, at: datetime) -> bool:
        """Return whether `at` falls in the span, in the rule file's time zone."""
        local = at.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        if self.start_min <= self.end_min:
            return self.start_min <= minute < self.end_min
        return minute >= self.start_min or minute < self.end_min


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowSpec:
    """Aggregate matching values over a sliding window and compare it with a threshold."""

    size_s: float
    aggregate: Aggregate
    op: str
    threshold: float
    min_count: int = 1

    def holds(self, value: float | None, count: int) -> bool:
        """Return whether the aggregate satisfies the threshold."""
        if value is None or count < self.min_count:
            return False
        return OPERATORS[self.op](value, self.threshold)

    def describe(self) -> str:
        """Return e.g. 'avg over 15 min > 55'."""
        return f"{self.aggregate} over {duration_text(self.size_s)} {self.op} {self.threshold:g}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Correlate:
    """Other events that must accompany the trigger: at least N within M metres and T seconds."""

    match: tuple[str, str]
    condition: Condition | None
    within_m: float | None
    within_s: float
    at_least: int

    def describe(self) -> str:
        """Return e.g. '>= 2 call.received within 300 m and 2 min'."""
        what = self.match[0] if not self.match[1] else f"{self.match[0]}/{self.match[1]}"
        where = f" within {self.within_m:g} m" if self.within_m is not None else ""
        return f">= {self.at_least} {what}{where} and {duration_text(self.within_s)}"


# ------------------------------------------------------------------ actions


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenIncident:
    """Open an incident (or, while this rule's incident for the key is active, add evidence)."""

    kind: Literal["open_incident"] = "open_incident"
    type: str
    priority: int | None
    location: Literal["event", "zone"]
    description: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RaisePriority:
    """Raise the priority (lower number) of this firing's incident or the nearest active one."""

    kind: Literal["raise_priority"] = "raise_priority"
    to: int
    within_m: float | None
    types: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Attach:
    """Add the evidence to the nearest active incident within `within_m`."""

    kind: Literal["attach"] = "attach"
    within_m: float
    types: tuple[str, ...]
    raise_priority_to: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Recommend:
    """Ask dispatch for a unit recommendation and record it on the timeline."""

    kind: Literal["recommend"] = "recommend"


@dataclass(frozen=True, slots=True, kw_only=True)
class DraftAlert:
    """Store a draft public alert (CAP 1.2 vocabulary) for a supervisor to approve."""

    kind: Literal["draft_alert"] = "draft_alert"
    headline: str
    description: str
    instruction: str
    event: str
    category: str
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    area_zone: str | None
    area_radius_m: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyWebhook:
    """POST the firing as JSON to a URL (background, retried)."""

    kind: Literal["notify_webhook"] = "notify_webhook"
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyMqtt:
    """Publish the firing as JSON to an MQTT topic (QoS 1, background)."""

    kind: Literal["notify_mqtt"] = "notify_mqtt"
    topic: str


Action = OpenIncident | RaisePriority | Attach | Recommend | DraftAlert | NotifyWebhook | NotifyMqtt


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One compiled rule."""

    name: str
    version: int
    description: str
    file: str
    match: tuple[str, str]  # (device kind, stream) or (event type, "")
    condition: Condition | None
    scope_zone: Zone | None
    scope_circle: Circle | None
    key: KeyBy
    cell_m: float
    window: WindowSpec | None
    sustained_s: float
    hours: Hours | None
    fire: Fire
    cooldown_s: float
    correlate: tuple[Correlate, ...]
    actions: tuple[Action, ...]
    zones: dict[str, Zone]
    digest: str  # hash of the rule's own text: changes without a version bump are refused

    @property
    def ref(self) -> str:
        """Return ``name@vN``, the rule's identity in every record it causes."""
        return f"{self.name}@v{self.version}"

    @property
    def actor(self) -> str:
        """Return the actor recorded on the events this rule causes."""
        return f"rule:{self.ref}"

    @property
    def latched(self) -> bool:
        """Return whether the rule fires once per episode (edge), not on every event."""
        return self.fire is Fire.EDGE


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Every rule loaded from a set of files, indexed by what they match."""

    rules: tuple[Rule, ...]
    files: tuple[str, ...]
    by_match: dict[tuple[str, str], tuple[Rule, ...]] = field(init=False)
    correlating: dict[tuple[str, str], tuple[tuple[Rule, int], ...]] = field(init=False)

    def __post_init__(self) -> None:
        by: dict[tuple[str, str], list[Rule]] = {}
        corr: dict[tuple[str, str], list[tuple[Rule, int]]] = {}
        for rule in self.rules:
            by.setdefault(rule.match, []).append(rule)
            for i, c in enumerate(rule.correlate):
                corr.setdefault(c.match, []).append((rule, i))
        object.__setattr__(self, "by_match", {k: tuple(v) for k, v in by.items()})
        object.__setattr__(self, "correlating", {k: tuple(v) for k, v in corr.items()})

    def get(self, name: str) -> Rule | None:
        """Return a rule by name."""
        return next((r for r in self.rules if r.name == name), None)


def cell_key(lat: float, lon: float, cell_m: float) -> str:
    """Return the id of the square grid cell (about `cell_m` metres a side) holding a point."""
    row = math.floor(lat * M_PER_DEG / cell_m)
    mid_lat = (row + 0.5) * cell_m / M_PER_DEG
    col = math.floor(lon * M_PER_DEG * math.cos(math.radians(mid_lat)) / cell_m)
    return f"cell:{cell_m:g}:{row}:{col}"


_DURATION = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$"
)


def parse_duration(value: object) -> float:
    """Parse '90s', '2m', '1h30m' or a number of seconds; raise ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 90s, 2m or 1h30m")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        m = _DURATION.match(value)
        if m is None or not any(m.groups()):
            raise ValueError(f"{value!r} is not a duration like 90s, 2m or 1h30m")
        h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        seconds = h * 3600 + mi * 60 + s
    else:
        raise ValueError("expected a duration like 90s, 2m or 1h30m")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("a duration must be zero or more seconds")
    return seconds


def duration_text(seconds: float) -> str:
    """Return a short human duration: '90 s', '2 min', '1 h 30 min'."""
    if seconds < 120 and seconds % 60:
        return f"{seconds:g} s"
    minutes = seconds / 60
    if minutes < 60 or minutes % 60:
        if minutes >= 60:
            return f"{int(minutes // 60)} h {minutes % 60:g} min"
        return f"{minutes:g} min"
    return f"{minutes / 60:g} h"
