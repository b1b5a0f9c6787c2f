"""Tracks in zones -> place-level behaviours. Pure: no frames, no I/O, no clock.

`Behaviours.step` is called once per analysed frame with the stream time (s),
the camera's local wall time (for schedules) and the tracked objects; it
returns what started, what ended, the line crossings and the closed reporting
intervals. An object is *in* a zone when its foot point (bottom-centre of its
box) is inside the zone polygon.

Presence tolerates short gaps (`gap_s`): a tracker that misses an object for a
frame or two must not end a loitering episode or restart its clock.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time

from vigil.video.geometry import Ground, Point, Polygon, side
from vigil.video.model import (
    COUNTED,
    BehaviourEvent,
    Box,
    ClassVotes,
    Crossing,
    EventKind,
    LineCounts,
    ObjectClass,
    TrackedObject,
    ZoneCounts,
)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A daily window in local time; start > end wraps past midnight."""

    start: time
    end: time
    days: frozenset[int] = frozenset(range(7))

    def active(self, local: datetime) -> bool:
        """Return whether `local` falls in the window (the day is the window's start day)."""
        now = local.time()
        if self.start <= self.end:
            return local.weekday() in self.days and self.start <= now < self.end
        if now >= self.start:
            return local.weekday() in self.days
        return now < self.end and (local.weekday() - 1) % 7 in self.days


@dataclass(frozen=True, slots=True)
class Gathering:
    """At least `min_people` for `for_s` seconds while `hours` is active."""

    min_people: int
    for_s: float
    hours: Schedule


@dataclass(frozen=True, slots=True, kw_only=True)
class Zone:
    """A zone with what it watches for."""

    name: str
    polygon: Polygon
    place: str | None = None
    area_m2: float | None = None
    restricted: tuple[Schedule, ...] = ()
    intrusion_classes: frozenset[ObjectClass] = frozenset({ObjectClass.PERSON})
    loitering_s: float | None = None
    gathering: Gathering | None = None
    abandoned_s: float | None = None


@dataclass(frozen=True, slots=True)
class Line:
    """A counting line; `in` is a crossing from the left of a->b (as seen) to its right."""

    name: str
    a: Point
    b: Point


@dataclass(frozen=True, slots=True)
class StaticObject:
    """A still, non-person object that was not part of the background (from `StaticObjects`)."""

    id: int
    box: Box
    since: float  # stream time it became still


@dataclass(slots=True)
class StepOut:
    """What one frame produced."""

    started: list[BehaviourEvent] = field(default_factory=list)
    ended: list[BehaviourEvent] = field(default_factory=list)
    crossings: list[Crossing] = field(default_factory=list)
    zone_counts: list[ZoneCounts] = field(default_factory=list)
    line_counts: list[LineCounts] = field(default_factory=list)
    counts: dict[str, dict[ObjectClass, int]] = field(default_factory=dict)  # this frame


@dataclass(slots=True)
class _Episode:
    """An open (or pending) behaviour in one zone."""

    first: float
    last: float
    tracks: set[int] = field(default_factory=set)
    peak: int = 0
    fired: BehaviourEvent | None = None


@dataclass(slots=True)
class _Window:
    peak: Counter[ObjectClass] = field(default_factory=Counter)
    seen: dict[ObjectClass, set[int]] = field(default_factory=lambda: defaultdict(set))


class Behaviours:
    """Per-camera behaviour state."""

    def __init__(
        self,
        camera: str,
        zones: Sequence[Zone],
        lines: Sequence[Line],
        *,
        ground: Ground,
        interval_s: float,
        frame_height: float,
        gap_s: float = 2.0,
    ) -> None:
        self.camera = camera
        self.zones = tuple(zones)
        self.lines = tuple(lines)
        self.ground = ground
        self.interval_s = interval_s
        self.gap_s = gap_s
        self._margin = 0.02 * frame_height  # hysteresis band around a line, pixels
        self._votes: dict[int, ClassVotes] = defaultdict(ClassVotes)
        self._last_seen: dict[int, float] = {}
        self._line_side: dict[tuple[str, int], int] = {}
        self._loiter: dict[tuple[str, int], _Episode] = {}
        self._intrusion: dict[str, _Episode] = {}
        self._gathering: dict[str, _Episode] = {}
        self._abandoned: dict[tuple[str, int], _Episode] = {}
        self._near: dict[int, float] = {}  # static object id -> last time a person was near
        self._window_start: float | None = None
        self._zone_windows: dict[str, _Window] = {z.name: _Window() for z in self.zones}
        self._line_windows: dict[str, tuple[Counter[ObjectClass], Counter[ObjectClass]]] = {
            ln.name: (Counter(), Counter()) for ln in self.lines
        }

    # ------------------------------------------------------------------ step

    def step(
        self,
        t: float,
        local: datetime,
        objects: Sequence[TrackedObject],
        statics: Sequence[StaticObject] = (),
    ) -> StepOut:
        """Advance to stream time `t` with this frame's tracked objects."""
        out = StepOut()
        self._close_windows(t, out)
        classes: dict[int, ObjectClass] = {}
        for o in objects:
            classes[o.track] = self._votes[o.track].add(o.cls, o.confidence)
            self._last_seen[o.track] = t
        inside: dict[str, list[TrackedObject]] = {}
        for z in self.zones:
            members = [o for o in objects if z.polygon.contains(o.box.foot)]
            inside[z.name] = members
            frame_counts: Counter[ObjectClass] = Counter(classes[o.track] for o in members)
            out.counts[z.name] = {c: frame_counts.get(c, 0) for c in COUNTED}
            w = self._zone_windows[z.name]
            for c in COUNTED:
                w.peak[c] = max(w.peak[c], frame_counts.get(c, 0))
            for o in members:
                w.seen[classes[o.track]].add(o.track)
        self._crossings(t, objects, classes, out)
        for z in self.zones:
            people = [o for o in inside[z.name] if classes[o.track] is ObjectClass.PERSON]
            self._loitering(z, t, people, out)
            intruders = [o for o in inside[z.name] if classes[o.track] in z.intrusion_classes]
            self._intrusions(z, t, local, intruders, out)
            self._gatherings(z, t, local, people, out)
        persons = [o for o in objects if classes[o.track] is ObjectClass.PERSON]
        self._abandoned_objects(t, statics, persons, out)
        self._forget(t)
        return out

    def finish(self, t: float) -> StepOut:
        """End every open episode and close the last interval (end of a file)."""
        out = StepOut()
        for key, ep in list(self._loiter.items()):
            self._end(ep, out)
            del self._loiter[key]
        for store in (self._intrusion, self._gathering):
            for name, ep in list(store.items()):
                self._end(ep, out)
                del store[name]
        for akey, ep in list(self._abandoned.items()):
            self._end(ep, out)
            del self._abandoned[akey]
        if self._window_start is not None and t > self._window_start:
            self._emit_windows(self._window_start, t, out)
            self._window_start = None
        return out

    # ------------------------------------------------------------ intervals

    def _close_windows(self, t: float, out: StepOut) -> None:
        if self._window_start is None:
            self._window_start = math.floor(t / self.interval_s) * self.interval_s
            return
        end = self._window_start + self.interval_s
        if t < end:
            return
        self._emit_windows(self._window_start, end, out)
        self._window_start = math.floor(t / self.interval_s) * self.interval_s

    def _emit_windows(self, start: float, end: float, out: StepOut) -> None:
        for z in self.zones:
            w = self._zone_windows[z.name]
            people = w.peak.get(ObjectClass.PERSON, 0)
            area = self.zone_area(z)
            out.zone_counts.append(
                ZoneCounts(
                    camera=self.camera,
                    zone=z.name,
                    t_start=start,
                    t_end=end,
                    peak={c: w.peak.get(c, 0) for c in COUNTED},
                    distinct={c: len(w.seen.get(c, ())) for c in COUNTED},
                    density=None if area is None else people / area,
                )
            )
            self._zone_windows[z.name] = _Window()
        for ln in self.lines:
            inbound, outbound = self._line_windows[ln.name]
            out.line_counts.append(
                LineCounts(
                    camera=self.camera,
                    line=ln.name,
                    t_start=start,
                    t_end=end,
                    inbound={c: inbound.get(c, 0) for c in COUNTED},
                    outbound={c: outbound.get(c, 0) for c in COUNTED},
                )
            )
            self._line_windows[ln.name] = (Counter(), Counter())

    def zone_area(self, z: Zone) -> float | None:
        """Return a zone's ground area in m²: configured, else from the ground model."""
        return z.area_m2 if z.area_m2 is not None else self.ground.area_m2(z.polygon)

    # ------------------------------------------------------------- crossings

    def _crossings(
        self,
        t: float,
        objects: Sequence[TrackedObject],
        classes: dict[int, ObjectClass],
        out: StepOut,
    ) -> None:
        for ln in self.lines:
            length = math.hypot(ln.b[0] - ln.a[0], ln.b[1] - ln.a[1]) or 1.0
            for o in objects:
                p = o.box.foot
                if not _within_extent(ln.a, ln.b, p):
                    continue
                d = side(ln.a, ln.b, p) / length  # signed pixel distance
                # Hysteresis band: 2 % of the frame, or a tenth of the object's height if more
                # (a walking person's foot point bobs by about that from stride to stride).
                if abs(d) < max(self._margin, 0.1 * o.box.h):
                    continue  # inside the hysteresis band: no decision
                now = 1 if d > 0 else -1
                key = (ln.name, o.track)
                before = self._line_side.get(key)
                self._line_side[key] = now
                if before is None or before == now:
                    continue
                direction = "in" if before < 0 else "out"
                cls = classes[o.track]
                out.crossings.append(
                    Crossing(line=ln.name, t=t, direction=direction, cls=cls, track=o.track)
                )
                inbound, outbound = self._line_windows[ln.name]
                (inbound if direction == "in" else outbound)[cls] += 1

    # ------------------------------------------------------------ behaviours

    def _event(self, kind: EventKind, z: Zone, ep: _Episode, conf: float) -> BehaviourEvent:
        return BehaviourEvent(
            kind=kind,
            camera=self.camera,
            zone=z.name,
            place=z.place,
            t_start=ep.first,
            t_end=None,
            count=ep.peak,
            confidence=round(conf, 3),
            tracks=tuple(sorted(ep.tracks)),
        )

    @staticmethod
    def _end(ep: _Episode, out: StepOut) -> None:
        if ep.fired is not None:
            e = ep.fired
            out.ended.append(
                BehaviourEvent(
                    kind=e.kind,
                    camera=e.camera,
                    zone=e.zone,
                    place=e.place,
                    t_start=e.t_start,
                    t_end=ep.last,
                    count=max(e.count, ep.peak),
                    confidence=e.confidence,
                    tracks=tuple(sorted(ep.tracks)),
                )
            )

    def _loitering(self, z: Zone, t: float, people: list[TrackedObject], out: StepOut) -> None:
        if z.loitering_s is None:
            return
        for o in people:
            key = (z.name, o.track)
            ep = self._loiter.get(key)
            if ep is None:
                ep = self._loiter[key] = _Episode(first=t, last=t, tracks={o.track}, peak=1)
            ep.last = t
            if ep.fired is None and t - ep.first >= z.loitering_s:
                ep.fired = self._event(EventKind.LOITERING, z, ep, o.confidence)
                out.started.append(ep.fired)
        for key, ep in list(self._loiter.items()):
            if key[0] == z.name and t - ep.last > self.gap_s:
                self._end(ep, out)
                del self._loiter[key]

    def _intrusions(
        self, z: Zone, t: float, local: datetime, intruders: list[TrackedObject], out: StepOut
    ) -> None:
        if not z.restricted:
            return
        active = any(s.active(local) for s in z.restricted)
        ep = self._intrusion.get(z.name)
        if active and intruders:
            if ep is None:
                ep = self._intrusion[z.name] = _Episode(first=t, last=t)
            ep.last = t
            ep.tracks.update(o.track for o in intruders)
            ep.peak = max(ep.peak, len(intruders))
            if ep.fired is None:
                conf = max(o.confidence for o in intruders)
                ep.fired = self._event(EventKind.INTRUSION, z, ep, conf)
                out.started.append(ep.fired)
        elif ep is not None and (t - ep.last > self.gap_s or not active):
            self._end(ep, out)
            del self._intrusion[z.name]

    def _gatherings(
        self, z: Zone, t: float, local: datetime, people: list[TrackedObject], out: StepOut
    ) -> None:
        g = z.gathering
        if g is None:
            return
        ep = self._gathering.get(z.name)
        if g.hours.active(local) and len(people) >= g.min_people:
            if ep is None:
                ep = self._gathering[z.name] = _Episode(first=t, last=t)
            ep.last = t
            ep.tracks.update(o.track for o in people)
            ep.peak = max(ep.peak, len(people))
            if ep.fired is None and t - ep.first >= g.for_s:
                conf = sum(o.confidence for o in people) / len(people)
                ep.fired = self._event(EventKind.GATHERING, z, ep, conf)
                out.started.append(ep.fired)
        elif ep is not None and (t - ep.last > self.gap_s or not g.hours.active(local)):
            self._end(ep, out)
            del self._gathering[z.name]

    def _abandoned_objects(
        self,
        t: float,
        statics: Sequence[StaticObject],
        persons: Sequence[TrackedObject],
        out: StepOut,
    ) -> None:
        present: set[int] = set()
        for s in statics:
            present.add(s.id)
            if any(self._is_near(s.box, p.box) for p in persons):
                self._near[s.id] = t
            for z in self.zones:
                if z.abandoned_s is None or not z.polygon.contains(s.box.foot):
                    continue
                key = (z.name, s.id)
                ep = self._abandoned.get(key)
                if ep is None:
                    ep = self._abandoned[key] = _Episode(first=s.since, last=t, peak=1)
                ep.last = t
                alone_since = max(s.since, self._near.get(s.id, s.since))
                if ep.fired is None and t - alone_since >= z.abandoned_s:
                    ep.first = alone_since
                    ep.fired = self._event(EventKind.ABANDONED_OBJECT, z, ep, 0.5)
                    out.started.append(ep.fired)
        for akey, ep in list(self._abandoned.items()):
            if akey[1] not in present:
                self._end(ep, out)
                del self._abandoned[akey]
                self._near.pop(akey[1], None)

    def _is_near(self, obj: Box, person: Box) -> bool:
        """A person within 2 m of the object (or three object sizes, without a ground model)."""
        d_m = self.ground.distance_m(obj.foot, person.foot)
        if d_m is not None:
            return d_m <= 2.0
        reach = 3.0 * max(obj.w, obj.h, 0.25 * person.h)
        return math.hypot(obj.foot[0] - person.foot[0], obj.foot[1] - person.foot[1]) <= reach

    def _forget(self, t: float) -> None:
        """Drop per-track memory of tracks unseen for a while (bounded state)."""
        stale = [k for k, seen in self._last_seen.items() if t - seen > 60.0]
        for k in stale:
            del self._last_seen[k]
            self._votes.pop(k, None)
            for ln in self.lines:
                self._line_side.pop((ln.name, k), None)

    def reset_tracks(self) -> None:
        """Forget track-level memory (the tracker restarted its ids: hourly reset)."""
        self._votes.clear()
        self._last_seen.clear()
        self._line_side.clear()
        for key in list(self._loiter):
            del self._loiter[key]


def _within_extent(a: Point, b: Point, p: Point) -> bool:
    """Whether p projects onto the segment a-b (a line counts only along its length)."""
    vx, vy = b[0] - a[0], b[1] - a[1]
    n = vx * vx + vy * vy
    if n == 0:
        return False
    u = ((p[0] - a[0]) * vx + (p[1] - a[1]) * vy) / n
    return 0.0 <= u <= 1.0
