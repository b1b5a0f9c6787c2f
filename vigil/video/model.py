"""The worker's domain types: boxes, detections, tracks and the events they become.

Track ids are local to one camera and restart every hour: they say "the same
moving thing in this view for a while", never who it is, and they never leave
the worker in a device reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ObjectClass(StrEnum):
    """What a detection is, in place-level terms only."""

    PERSON = "person"
    VEHICLE = "vehicle"
    BICYCLE = "bicycle"
    BAG = "bag"  # a bag-like object: carried, dropped, left


COUNTED = (ObjectClass.PERSON, ObjectClass.VEHICLE, ObjectClass.BICYCLE)
BLURRED = frozenset({ObjectClass.PERSON, ObjectClass.VEHICLE, ObjectClass.BICYCLE})


# A detector's confidence above this is measured evidence (HOG's SVM margin > 0, a model's
# score); blob-shape guesses (`MotionShapes`) stay at or below it.
EVIDENCE = 0.5
# Detector evidence decides a track's class once it sums to this: one confident hit or
# two weaker ones. Chosen on the shared clips (so measured on the data it was set on):
# HOG's one hit on the grey car in the car-park clip scored 0.63, its hits on the
# worker 0.72-0.95.
CONFIRMED = 0.7


@dataclass(slots=True)
class ClassVotes:
    """A track's class evidence: confidence summed per class, detector hits apart.

    Detector evidence (confidence above `EVIDENCE`, summing to `CONFIRMED`) decides
    whenever there is enough; blob-shape guesses decide only for a track no detector
    has confirmed. So a person who first appears as a large blob near the camera (a
    "vehicle" by its shape) is a person from the first frame HOG sees them clearly,
    and stays one.
    """

    strong: dict[ObjectClass, float] = field(default_factory=dict)
    weak: dict[ObjectClass, float] = field(default_factory=dict)

    def add(self, cls: ObjectClass, confidence: float) -> ObjectClass:
        """Count one frame's class for the track; return the track's class now."""
        pool = self.strong if confidence > EVIDENCE else self.weak
        pool[cls] = pool.get(cls, 0.0) + confidence
        return self.best()

    def best(self) -> ObjectClass:
        """Return the class the evidence so far supports."""
        confirmed = {c: v for c, v in self.strong.items() if v >= CONFIRMED}
        pool = confirmed or self.weak or self.strong
        return max(pool, key=pool.__getitem__)


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in source-frame pixels."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def w(self) -> float:
        """Width."""
        return self.x2 - self.x1

    @property
    def h(self) -> float:
        """Height."""
        return self.y2 - self.y1

    @property
    def foot(self) -> tuple[float, float]:
        """The bottom-centre point: where the object touches the ground."""
        return ((self.x1 + self.x2) / 2.0, self.y2)

    @property
    def centre(self) -> tuple[float, float]:
        """The centre point."""
        return ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)

    def scaled(self, s: float) -> Box:
        """Return the box with every coordinate multiplied by `s`."""
        return Box(self.x1 * s, self.y1 * s, self.x2 * s, self.y2 * s)

    def grown(self, frac: float, width: float, height: float) -> Box:
        """Return the box grown by `frac` of its size on each side, clipped to the frame."""
        dx, dy = self.w * frac, self.h * frac
        return Box(
            max(0.0, self.x1 - dx),
            max(0.0, self.y1 - dy),
            min(width, self.x2 + dx),
            min(height, self.y2 + dy),
        )

    def iou(self, other: Box) -> float:
        """Intersection over union."""
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Detection:
    """One object found in one frame."""

    box: Box
    cls: ObjectClass
    confidence: float


@dataclass(frozen=True, slots=True)
class TrackedObject:
    """A detection carried over frames by the tracker."""

    track: int  # local to the camera, restarts hourly
    box: Box
    cls: ObjectClass
    confidence: float


class EventKind(StrEnum):
    """Behaviours the worker reports (the `kind` of a behaviour reading)."""

    INTRUSION = "intrusion"
    LOITERING = "loitering"
    GATHERING = "gathering"
    ABANDONED_OBJECT = "abandoned_object"


@dataclass(frozen=True, slots=True, kw_only=True)
class BehaviourEvent:
    """A behaviour in a zone; `t_end` is None while it lasts."""

    kind: EventKind
    camera: str
    zone: str
    place: str | None
    t_start: float  # seconds since the stream started
    t_end: float | None
    count: int
    confidence: float
    tracks: tuple[int, ...]  # local, hourly-reset ids: kept in the worker, never sent


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneCounts:
    """Counts in one zone over one reporting interval."""

    camera: str
    zone: str
    t_start: float
    t_end: float
    peak: dict[ObjectClass, int]  # most objects of a class in the zone at once
    distinct: dict[ObjectClass, int]  # tracks of a class seen in the zone
    density: float | None  # people per m² at the peak, when the zone's area is known


@dataclass(frozen=True, slots=True, kw_only=True)
class LineCounts:
    """Crossings of one line over one reporting interval, by direction and class."""

    camera: str
    line: str
    t_start: float
    t_end: float
    inbound: dict[ObjectClass, int] = field(default_factory=dict)
    outbound: dict[ObjectClass, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Crossing:
    """One track crossing one line."""

    line: str
    t: float
    direction: str  # "in" (left of a->b to its right) or "out"
    cls: ObjectClass
    track: int
