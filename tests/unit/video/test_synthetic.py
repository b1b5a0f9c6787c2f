"""The whole pipeline on synthetic clips (numpy-drawn shapes) where a behaviour must and must not fire.

The scene is a seeded noisy texture (a "floor"); a person is a 20x60 block that
sways while it stands, a bag a 14x12 block. The `motion` detector (blob shapes)
is used so the clips need no real people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
from numpy.typing import NDArray

from vigil.video.config import DetectorIn, ZoneIn
from vigil.video.model import EventKind
from vigil.video.pipeline import CameraPipeline, PipelineConfig

W, H, FPS = 320, 240, 5.0
Frame = NDArray[np.uint8]


def floor() -> Frame:
    rng = np.random.default_rng(7)
    base = rng.integers(90, 130, size=(H, W, 1), dtype=np.uint8)
    return np.repeat(base, 3, axis=2)


def draw(img: Frame, x: float, y: float, w: int, h: int, colour: tuple[int, int, int]) -> None:
    """Draw a textured block (its pattern moves with it, like clothes) with its foot at (x, y)."""
    x1, y1 = round(x - w / 2), round(y - h)
    pattern = np.random.default_rng(w * 1000 + h).integers(-40, 41, size=(h, w, 1))
    patch = np.clip(np.array(colour, dtype=np.int16) + pattern, 0, 255).astype(np.uint8)
    xa, xb = max(0, x1), min(W, x1 + w)
    ya, yb = max(0, y1), min(H, y1 + h)
    if xa < xb and ya < yb:
        img[ya:yb, xa:xb] = patch[ya - y1 : yb - y1, xa - x1 : xb - x1]


Scene = Callable[[float], list[tuple[float, float, int, int, tuple[int, int, int]]]]


def clip(seconds: float, scene: Scene) -> Iterator[tuple[float, Frame]]:
    bg = floor()
    noise = np.random.default_rng(11)
    for i in range(round(seconds * FPS)):
        t = i / FPS
        img = bg.copy()
        for x, y, w, h, colour in scene(t):
            draw(img, x, y, w, h, colour)
        jitter = noise.integers(-3, 4, size=img.shape, dtype=np.int16)  # sensor noise
        yield t, np.clip(img.astype(np.int16) + jitter, 0, 255).astype(np.uint8)


PERSON = (30, 30, 200)
BAG = (20, 160, 40)


def person_at(
    t: float, path: Callable[[float], tuple[float, float]]
) -> tuple[float, float, int, int, tuple[int, int, int]]:
    x, y = path(t)
    sway = 6.0 * np.sin(2 * np.pi * t * 0.9)  # a standing person is never quite still
    return (x + sway, y, 20, 60, PERSON)


def run(seconds: float, scene: Scene, zone: ZoneIn) -> list[tuple[EventKind, float, float | None]]:
    pipe = CameraPipeline(
        PipelineConfig.of(
            "syn",
            zones=[zone],
            lines=[],
            homography=None,
            metres_per_pixel=None,
            detector=DetectorIn(kind="motion"),
            fps=FPS,
            width=W,
        )
    )
    events = []
    last = 0.0
    for t, frame in clip(seconds, scene):
        out = pipe.process(t, frame).out
        events += [(e.kind, e.t_start, e.t_end) for e in out.ended]
        events += [(e.kind, e.t_start, None) for e in out.started]
        last = t
    events += [(e.kind, e.t_start, e.t_end) for e in pipe.finish(last).ended]
    return events


BOX = [(100.0, 80.0), (220.0, 80.0), (220.0, 200.0), (100.0, 200.0)]


def pacing(t: float) -> tuple[float, float]:
    """Walk in, then pace back and forth across the zone (a loiterer rarely stands still)."""
    if t < 4.0:
        return (20.0 + 30.0 * t, 180.0)
    phase = (t - 4.0) * 20.0 % 120.0  # 20 px/s over a 60 px beat, there and back
    return (140.0 + (phase if phase < 60.0 else 120.0 - phase), 180.0)


def passing(t: float) -> tuple[float, float]:
    return (20.0 + 40.0 * t, 180.0)  # crosses the 120 px zone in 3 s


def test_loitering_fires_past_the_threshold_and_not_before() -> None:
    scene: Scene = lambda t: [person_at(t, pacing)]  # noqa: E731
    long_stay = run(20.0, scene, ZoneIn(name="z", polygon=BOX, loitering_s=8.0))
    assert [k for k, _, end in long_stay if end is None] == [EventKind.LOITERING]
    short = run(20.0, scene, ZoneIn(name="z", polygon=BOX, loitering_s=25.0))
    assert [k for k, _, _ in short if k is EventKind.LOITERING] == []


def test_a_passer_by_does_not_loiter() -> None:
    scene: Scene = lambda t: [person_at(t, passing)]  # noqa: E731
    events = run(12.0, scene, ZoneIn(name="z", polygon=BOX, loitering_s=8.0))
    assert [k for k, _, _ in events if k is EventKind.LOITERING] == []


def owner_leaves(t: float) -> tuple[float, float]:
    if t < 5.0:
        return (20.0 + 28.0 * t, 180.0)  # walks in with the bag
    return (160.0 + 40.0 * (t - 5.0), 180.0)  # leaves to the right, out of view by t=9


def bag_scene(remove_at: float, owner: Callable[[float], tuple[float, float]]) -> Scene:
    def scene(t: float) -> list[tuple[float, float, int, int, tuple[int, int, int]]]:
        items = [person_at(t, owner)]
        if t < 5.0:
            x, y = owner(t)
            items.append((x + 16, y, 14, 12, BAG))  # carried
        elif t < remove_at:
            items.append((170.0, 182.0, 14, 12, BAG))  # put down
        return items

    return scene


@pytest.mark.slow
def test_abandoned_object_fires_when_left_and_ends_when_removed() -> None:
    zone = ZoneIn(name="hall", polygon=BOX, abandoned_s=10.0)
    events = run(60.0, bag_scene(45.0, owner_leaves), zone)
    started = [(s, e) for k, s, e in events if k is EventKind.ABANDONED_OBJECT and e is None]
    ended = [(s, e) for k, s, e in events if k is EventKind.ABANDONED_OBJECT and e is not None]
    assert len(started) == 1, events
    assert len(ended) == 1 and ended[0][1] is not None
    assert 44.0 <= ended[0][1] <= 47.0, ended  # ends once the bag is taken away


@pytest.mark.slow
def test_no_abandoned_object_while_the_owner_stays_next_to_it() -> None:
    zone = ZoneIn(name="hall", polygon=BOX, abandoned_s=10.0)
    events = run(60.0, bag_scene(99.0, pacing), zone)  # the owner paces beside the bag
    assert [k for k, _, _ in events if k is EventKind.ABANDONED_OBJECT] == []
