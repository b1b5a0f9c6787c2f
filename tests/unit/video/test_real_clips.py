"""Behaviours on the shared real clips against the hand labels in tests/data/video/.

The floors asserted here are the figures measured on these clips when the
labels were made (docs/video.md), not targets tuned to pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, shared_file
from vigil.video.analyze import analyze
from vigil.video.config import DetectorIn, GatheringIn, LineIn, ScheduleIn, ZoneIn
from vigil.video.evaluate import load_labels, score
from vigil.video.pipeline import FrameResult, PipelineConfig

LABELS = REPO / "tests" / "data" / "video"


_CACHE: dict[str, dict[str, Any]] = {}


def report(
    clip: str, fps: float, zones: tuple[ZoneIn, ...] = (), lines: tuple[LineIn, ...] = ()
) -> dict[str, Any]:
    key = repr((clip, fps, zones, lines))
    if key in _CACHE:
        return _CACHE[key]
    path = shared_file(f"video/{clip}")
    cfg = PipelineConfig.of(
        "test",
        zones=zones,
        lines=lines,
        homography=None,
        metres_per_pixel=None,
        detector=DetectorIn(),
        fps=fps,
    )
    _CACHE[key] = analyze(Path(path), cfg)
    return _CACHE[key]


def labelled_lines(name: str) -> tuple[LineIn, ...]:
    raw = load_labels(LABELS / name).raw
    return tuple(LineIn(name=ln["name"], a=ln["a"], b=ln["b"]) for ln in raw.get("lines", []))


@pytest.mark.slow
def test_car_clip_counts_four_cars_and_crossings_by_direction() -> None:
    lines = labelled_lines("car-detection.yaml")
    r = report("car-detection.mp4", 5.0, (), lines)
    want = load_labels(LABELS / "car-detection.yaml").raw["lines"][0]
    got = r["lines"]["middle"]
    assert got.get("in", {}).get("vehicle", 0) == want["in"]["vehicle"]
    assert got.get("out", {}).get("vehicle", 0) == want["out"]["vehicle"]
    # Four cars; measured: the auto-exposure jump as the first white car passes the middle
    # (t = 6.2-7.2 s) blinds motion gating for ~1 s and splits its track in two.
    assert 4 <= r["tracks"]["vehicle"] <= 5
    s = score(r, load_labels(LABELS / "car-detection.yaml"))
    assert s.recall >= 0.7 and s.precision >= 0.8, s  # measured 0.75 and 0.90 (docs/video.md)


def worker_zones(loitering_s: float) -> tuple[ZoneIn, ...]:
    raw = load_labels(LABELS / "worker-zone-detection.yaml").raw["zones"][0]
    return (
        ZoneIn(
            name="far",
            polygon=[tuple(p) for p in raw["polygon"]],
            restricted=[ScheduleIn(start="00:00", end="23:59")],
            loitering_s=loitering_s,
        ),
    )


def test_worker_intrusion_into_the_far_zone_and_line_crossing() -> None:
    labels = load_labels(LABELS / "worker-zone-detection.yaml")
    r = report(
        "worker-zone-detection.gif",
        12.5,
        worker_zones(1.0),
        labelled_lines("worker-zone-detection.yaml"),
    )
    intrusions = [e for e in r["events"] if e["kind"] == "intrusion"]
    assert len(intrusions) == 1
    entered = labels.raw["zones"][0]["presence"]["person"][0] / labels.fps
    assert abs(intrusions[0]["t_start"] - entered) <= 0.8, intrusions
    crossings = [e for e in r["events"] if e["kind"] == "line_crossing"]
    assert [(c["direction"], c["class"]) for c in crossings] == [("out", "person")]


def test_worker_loitering_fires_above_and_not_below_the_labelled_stay() -> None:
    labels = load_labels(LABELS / "worker-zone-detection.yaml")
    first, last = labels.raw["zones"][0]["presence"]["person"]
    stay = (last - first) / labels.fps  # about 2.2 s in the zone
    short = report("worker-zone-detection.gif", 12.5, worker_zones(stay * 0.5))
    long = report("worker-zone-detection.gif", 12.5, worker_zones(stay * 1.5))
    assert [e["kind"] for e in short["events"]].count("loitering") == 1
    assert "loitering" not in [e["kind"] for e in long["events"]]


def test_worker_foot_point_follows_the_labelled_feet() -> None:
    """The tracked foot point is within a few pixels of the hand-labelled soles."""
    labels = load_labels(LABELS / "worker-zone-detection.yaml")
    feet: dict[int, int] = labels.raw["feet"]
    path = shared_file("video/worker-zone-detection.gif")
    cfg = PipelineConfig.of(
        "test",
        zones=(),
        lines=(),
        homography=None,
        metres_per_pixel=None,
        detector=DetectorIn(),
        fps=12.5,
    )
    got: dict[int, float] = {}

    def on(r: FrameResult) -> None:
        frame = round(r.t * labels.fps)
        if frame in feet and len(r.objects) == 1:
            got[frame] = r.objects[0].box.y2

    analyze(Path(path), cfg, on_frame=on)
    assert set(got) == set(feet), got
    errors = sorted(abs(got[f] - feet[f]) for f in feet)
    # measured: median 2 px, worst 19 px (mid-stride, frame 30, where HOG's box sits on
    # the forward foot); before the calibration the standing frames were 7-9 px low.
    assert errors[len(errors) // 2] <= 4, (got, feet)
    assert errors[-1] <= 25, (got, feet)


@pytest.mark.slow
def test_count_quality_over_all_clips() -> None:
    total = None
    for name, fps in (
        ("car-detection", 5.0),
        ("people-detection", 12.5),
        ("person-bicycle-car-detection", 12.5),
        ("worker-zone-detection", 12.5),
    ):
        s = score(
            report(f"{name}.{'mp4' if name == 'car-detection' else 'gif'}", fps),
            load_labels(LABELS / f"{name}.yaml"),
        )
        total = s if total is None else total + s
    assert total is not None
    # Measured when labelled (see docs/video.md); a regression below these fails.
    assert total.precision >= 0.9, total  # measured 0.94 (docs/video.md)
    assert total.recall >= 0.6, total  # measured 0.63


def test_gathering_and_abandoned_object_do_not_fire_on_the_real_clips() -> None:
    """Must-not-fire on real footage: nothing is left behind in any shared clip, and no
    more than one person is in view at once (tests/data/video/README.md, "What the clips
    do not contain"). The car clip's exposure jump is the hard case for the still-object
    background; thresholds are set low so that any false still object would fire."""
    for name, fps in (
        ("car-detection.mp4", 5.0),
        ("people-detection.gif", 12.5),
        ("person-bicycle-car-detection.gif", 12.5),
        ("worker-zone-detection.gif", 12.5),
    ):
        labels = load_labels(LABELS / f"{name.rsplit('.', 1)[0]}.yaml")
        w, h = labels.raw["size"]
        people = [o for o in labels.objects if o[0] == "person"]
        assert all(
            not (a1 <= b2 and a2 <= b1)
            for i, (_, a1, b1) in enumerate(people)
            for (_, a2, b2) in people[i + 1 :]
        ), "labels: never two people at once"
        zone = ZoneIn(
            name="all",
            polygon=[(0, 0), (w, 0), (w, h), (0, h)],
            abandoned_s=1.0,
            gathering=GatheringIn(
                min_people=2, for_s=0.5, hours=ScheduleIn(start="00:00", end="23:59")
            ),
        )
        r = report(name, fps, (zone,))
        kinds = [e["kind"] for e in r["events"]]
        assert "abandoned_object" not in kinds, (name, r["events"])
        assert "gathering" not in kinds, (name, r["events"])
