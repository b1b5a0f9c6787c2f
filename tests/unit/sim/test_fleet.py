"""Unit movement along a route."""

from __future__ import annotations

import math

import pytest

from vigil.core.geometry import LatLon, haversine_m
from vigil.sim.fleet import Path, bearing_deg

# An L-shaped route: 1 km north, then 1 km east (approximately).
A = LatLon(60.0, 25.0)
B = LatLon(60.0 + 1000 / 111_195, 25.0)
C = LatLon(B.lat, 25.0 + 1000 / (111_195 * math.cos(math.radians(B.lat))))


def test_position_is_interpolated_by_elapsed_share_of_drive_time() -> None:
    path = Path([A, B, C], seconds=200)
    assert math.isclose(path.metres, 2000, rel_tol=0.01)
    start = path.at(0)
    assert start.location == A
    assert start.speed_mps == pytest.approx(path.metres / 200)
    quarter = path.at(50)
    assert haversine_m(quarter.location, A) == pytest.approx(500, rel=0.01)
    assert quarter.heading_deg == pytest.approx(0, abs=0.5)
    three_quarters = path.at(150)
    assert haversine_m(three_quarters.location, B) == pytest.approx(500, rel=0.01)
    assert three_quarters.heading_deg == pytest.approx(90, abs=0.5)


def test_clamped_at_both_ends_and_stopped_at_the_end() -> None:
    path = Path([A, B, C], seconds=200)
    assert path.at(-10).location == A
    end = path.at(1_000)
    assert end.location == C
    assert end.speed_mps == 0


def test_degenerate_paths() -> None:
    still = Path([A], seconds=30)
    assert still.at(10).location == A
    assert still.at(10).speed_mps == 0
    instant = Path([A, B], seconds=0)
    assert instant.at(0).location == B


def test_from_geojson_reads_lon_lat_pairs() -> None:
    path = Path.from_geojson(
        {"type": "LineString", "coordinates": [[A.lon, A.lat], [B.lon, B.lat]]}, 60
    )
    assert path.points == [A, B]
    assert Path.from_geojson({"type": "Point", "coordinates": [A.lon, A.lat]}, 0).end == A
    with pytest.raises(ValueError, match="LineString"):
        Path.from_geojson({"type": "Polygon", "coordinates": []}, 1)
    with pytest.raises(ValueError, match="at least one point"):
        Path([], 1)


def test_bearing() -> None:
    assert bearing_deg(A, B) == pytest.approx(0, abs=0.01)
    assert bearing_deg(B, A) == pytest.approx(180, abs=0.01)
    assert bearing_deg(B, C) == pytest.approx(90, abs=0.5)
