from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigil.core.geometry import LatLon
from vigil.geo.network import RoadNetwork


def _brute_force_distance(net: RoadNetwork, point: LatLon) -> float:
    g = net.graph
    proj = net.snapper.projection
    xy = proj.to_xy(g.lat, g.lon)
    p = proj.to_xy(np.asarray([point.lat]), np.asarray([point.lon]))[0]
    a, b = xy[g.src], xy[g.dst]
    ab = b - a
    t = np.clip(((p - a) * ab).sum(axis=1) / np.maximum((ab * ab).sum(axis=1), 1e-12), 0, 1)
    return float(np.hypot(*(a + ab * t[:, None] - p).T).min())


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1))
def test_snap_finds_the_exact_nearest_segment(helsinki: RoadNetwork, fy: float, fx: float) -> None:
    b = helsinki.bbox
    point = LatLon(b.south + fy * (b.north - b.south), b.west + fx * (b.east - b.west))
    expected = _brute_force_distance(helsinki, point)
    lat = np.asarray([point.lat])
    lon = np.asarray([point.lon])
    _, _, dist, _ = helsinki.snapper.snap_many(lat, lon)
    assert dist[0] == pytest.approx(expected, abs=1e-6)


def test_snap_many_matches_single_snaps(helsinki: RoadNetwork) -> None:
    rng = np.random.default_rng(3)
    c = helsinki.center
    points = [LatLon(c.lat + d, c.lon + e) for d, e in rng.normal(0, 0.002, (50, 2))]
    many = helsinki.snap_many(points)
    for p, s in zip(points, many, strict=True):
        assert helsinki.snap(p) == s
