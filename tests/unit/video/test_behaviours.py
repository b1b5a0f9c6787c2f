"""Behaviours from tracks: each one fires when it must and stays quiet when it must not."""

from __future__ import annotations

from datetime import datetime, time

from vigil.video.behaviours import (
    Behaviours,
    Gathering,
    Line,
    Schedule,
    StaticObject,
    Zone,
)
from vigil.video.geometry import Ground, Polygon
from vigil.video.model import Box, EventKind, ObjectClass, TrackedObject

SQUARE = Polygon(((0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)))
NOON = datetime(2026, 6, 1, 12, 0)
MIDNIGHT = datetime(2026, 6, 1, 23, 30)


def person(track: int, x: float, y: float, cls: ObjectClass = ObjectClass.PERSON) -> TrackedObject:
    """A 10x30 object whose feet are at (x, y)."""
    return TrackedObject(track, Box(x - 5, y - 30, x + 5, y), cls, 0.8)


def engine(*zones: Zone, lines: tuple[Line, ...] = (), ground: Ground | None = None) -> Behaviours:
    return Behaviours(
        "cam", zones, lines, ground=ground or Ground(), interval_s=60.0, frame_height=200.0
    )


def run(
    b: Behaviours,
    seconds: float,
    objects: list[TrackedObject],
    *,
    local: datetime = NOON,
    fps: float = 5.0,
    t0: float = 0.0,
) -> tuple[list[EventKind], list[EventKind]]:
    started, ended = [], []
    n = round(seconds * fps)
    for i in range(n):
        out = b.step(t0 + i / fps, local, objects)
        started += [e.kind for e in out.started]
        ended += [e.kind for e in out.ended]
    return started, ended


def test_loitering_fires_only_past_the_threshold() -> None:
    z = Zone(name="door", polygon=SQUARE, loitering_s=10.0)
    b = engine(z)
    started, _ = run(b, 9.0, [person(1, 50, 50)])
    assert started == []
    started, _ = run(b, 3.0, [person(1, 50, 50)], t0=9.0)
    assert started == [EventKind.LOITERING]
    out = b.step(20.0, NOON, [])  # gone for longer than the gap
    assert [e.kind for e in out.ended] == [EventKind.LOITERING]
    assert out.ended[0].t_end is not None and 11.5 <= out.ended[0].t_end <= 12.0


def test_a_passer_by_outside_the_zone_never_loiters() -> None:
    b = engine(Zone(name="door", polygon=SQUARE, loitering_s=5.0))
    started, _ = run(b, 30.0, [person(1, 150, 50)])
    assert started == []


def test_intrusion_only_during_the_schedule() -> None:
    night = Schedule(time(22, 0), time(6, 0))
    z = Zone(name="yard", polygon=SQUARE, restricted=(night,))
    started, _ = run(engine(z), 3.0, [person(1, 50, 50)], local=NOON)
    assert started == []
    started, _ = run(engine(z), 3.0, [person(1, 50, 50)], local=MIDNIGHT)
    assert started == [EventKind.INTRUSION]
    early = datetime(2026, 6, 2, 5, 59)  # the window wraps past midnight
    started, _ = run(engine(z), 1.0, [person(1, 50, 50)], local=early)
    assert started == [EventKind.INTRUSION]


def test_intrusion_ignores_classes_not_listed() -> None:
    z = Zone(name="yard", polygon=SQUARE, restricted=(Schedule(time(0, 0), time(23, 59)),))
    started, _ = run(engine(z), 3.0, [person(1, 50, 50, ObjectClass.VEHICLE)])
    assert started == []


def test_late_hour_gathering_needs_people_hours_and_duration() -> None:
    g = Gathering(min_people=3, for_s=60.0, hours=Schedule(time(23, 0), time(5, 0)))
    z = Zone(name="square", polygon=SQUARE, gathering=g)
    crowd = [person(i, 10 + 10 * i, 50) for i in range(1, 5)]
    assert run(engine(z), 70.0, crowd, local=NOON)[0] == []  # daytime
    assert run(engine(z), 70.0, crowd[:2], local=MIDNIGHT)[0] == []  # too few
    assert run(engine(z), 50.0, crowd, local=MIDNIGHT)[0] == []  # too short
    assert run(engine(z), 70.0, crowd, local=MIDNIGHT)[0] == [EventKind.GATHERING]


def test_line_crossing_by_direction_with_hysteresis() -> None:
    line = Line("gate", (0.0, 100.0), (200.0, 100.0))  # a->b to the right: "in" is downwards
    b = engine(lines=(line,))
    crossings = []
    path = [80, 90, 99, 101, 99, 101, 110, 120]  # jitter at the line is not a crossing
    for i, y in enumerate(path):
        crossings += b.step(i * 0.2, NOON, [person(1, 50, y)]).crossings
    for i, y in enumerate(reversed(path)):
        crossings += b.step(2 + i * 0.2, NOON, [person(2, 150, y)]).crossings
    assert [(c.direction, c.track) for c in crossings] == [("in", 1), ("out", 2)]


def test_counts_per_interval_and_density_from_the_homography() -> None:
    # 1 pixel = 0.1 m: the 100x100 px square is 100 m².
    g = Ground.of([[0.1, 0, 0], [0, 0.1, 0], [0, 0, 1]], None)
    b = engine(Zone(name="sq", polygon=SQUARE), ground=g)
    for i in range(300):
        b.step(i / 5.0, NOON, [person(1, 20, 50), person(2, 60, 50)])
    out = b.step(61.0, NOON, [])
    (zc,) = out.zone_counts
    assert zc.peak[ObjectClass.PERSON] == 2 and zc.distinct[ObjectClass.PERSON] == 2
    assert zc.density is not None and abs(zc.density - 0.02) < 1e-9


def test_abandoned_object_fires_when_left_alone_and_ends_when_removed() -> None:
    z = Zone(name="hall", polygon=SQUARE, abandoned_s=10.0)
    b = engine(z)
    bag = StaticObject(7, Box(40, 40, 50, 50), since=0.0)
    # The owner stands next to it for 20 s: not abandoned.
    for i in range(100):
        assert not b.step(i / 5, NOON, [person(1, 55, 52)], [bag]).started
    started = []
    for i in range(100, 160):  # owner gone
        started += b.step(i / 5, NOON, [], [bag]).started
    assert [e.kind for e in started] == [EventKind.ABANDONED_OBJECT]
    assert 29.5 <= started[0].t_start + 10.0 <= 30.5 or started[0].t_start >= 19.0
    out = b.step(40.0, NOON, [], [])  # taken away
    assert [e.kind for e in out.ended] == [EventKind.ABANDONED_OBJECT]


def test_schedule_days() -> None:
    weekdays = Schedule(time(9, 0), time(17, 0), frozenset(range(5)))
    assert weekdays.active(datetime(2026, 6, 1, 10, 0))  # a Monday
    assert not weekdays.active(datetime(2026, 6, 6, 10, 0))  # a Saturday
