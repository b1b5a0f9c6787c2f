"""Zone geometry checks: the camera file and the server refuse what cannot be drawn."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.core.errors import ConfigError, ValidationError
from vigil.video.config import load_cameras
from vigil.video.layout import (
    CameraLayoutIn,
    LayoutStore,
    ZoneShapeIn,
    check_layout,
    line_problem,
    polygon_problem,
)

Pts = list[tuple[float, float]]


@pytest.mark.parametrize(
    "points",
    [
        [(0, 0), (10, 0), (10, 10)],
        [(0, 0), (10, 0), (10, 10), (0, 10)],
        [(0, 0), (5, 0), (10, 0), (10, 10)],  # a collinear vertex is still simple
        [(0, 0), (10, 0), (10, 10), (5, 3), (0, 10)],  # concave
    ],
)
def test_simple_polygons_pass(points: Pts) -> None:
    assert polygon_problem(points) is None


@pytest.mark.parametrize(
    ("points", "words"),
    [
        ([(0, 0), (10, 0)], "at least 3 points"),
        ([(0, 0), (10, 10), (10, 0), (0, 10)], "edges 0 and 2 cross"),
        ([(0, 0), (10, 0), (10, 10), (0, 10), (0, 0)], "same point"),
        ([(0, 0), (10, 0), (5, 0), (5, 5)], "fold back"),
        # Touches itself at a vertex (a figure eight through (5, 5)).
        ([(0, 0), (5, 5), (10, 0), (10, 10), (5, 5), (0, 10)], "cross or touch"),
        ([(0, 0), (float("nan"), 0), (10, 10)], "not a finite number"),
        ([(float(i), float(i % 2)) for i in range(300)], "at most 256"),
    ],
)
def test_bad_polygons_are_named(points: Pts, words: str) -> None:
    why = polygon_problem(points)
    assert why is not None and words in why, why


def test_lines_need_two_distinct_points() -> None:
    assert line_problem([(0, 0), (1, 0)]) is None
    assert "exactly 2" in str(line_problem([(0, 0), (1, 0), (2, 0)]))
    assert "same point" in str(line_problem([(3, 3), (3, 3)]))


def test_points_on_the_frame_edge_are_inside_and_beyond_it_are_not() -> None:
    edge = ZoneShapeIn(name="all", kind="counting", points=[(0, 0), (64, 0), (64, 48), (0, 48)])
    check_layout(CameraLayoutIn(width=64, height=48, zones=[edge]))
    with pytest.raises(ValidationError, match=r"point 1 \(64.5, 0\) is outside the 64x48") as e:
        check_layout(
            CameraLayoutIn(
                width=64,
                height=48,
                zones=[edge.model_copy(update={"points": [(0, 0), (64.5, 0), (64, 48)]})],
            )
        )
    assert e.value.field == "zones.0.points.1"


def test_a_camera_file_with_a_self_crossing_zone_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "cameras.yaml"
    f.write_text(
        "cameras:\n  - {id: c1, source: x.mp4, lat: 60, lon: 24,\n"
        "     zones: [{name: z, polygon: [[0, 0], [10, 10], [10, 0], [0, 10]]}]}\n",
        "utf-8",
    )
    with pytest.raises(ConfigError, match=r"cameras\.0\.zones\.0\.polygon: .*edges 0 and 2 cross"):
        load_cameras(f)
    f.write_text(
        "cameras:\n  - {id: c1, source: x.mp4, lat: 60, lon: 24,\n"
        "     lines: [{name: l, a: [5, 5], b: [5, 5]}]}\n",
        "utf-8",
    )
    with pytest.raises(ConfigError, match="same point"):
        load_cameras(f)


def test_store_keeps_the_latest_layout_per_camera(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path)
    one = CameraLayoutIn(width=10, height=10, zones=[])
    two = CameraLayoutIn(
        width=20, height=10, zones=[ZoneShapeIn(name="a", kind="line", points=[(0, 0), (5, 5)])]
    )
    store.save("cam:1", one)
    store.save("cam_1", two)  # sanitises like "cam:1" but is another camera
    store.save("cam:1", two)
    assert store.load("cam:1") == two and store.load("cam_1") == two
    store.save("cam_1", one)
    assert store.load("cam:1") == two and store.load("cam_1") == one
    assert store.load("nobody") is None
