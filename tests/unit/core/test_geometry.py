"""Coordinates are validated at construction; distances are great-circle."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vigil.core.errors import GeoError
from vigil.core.geometry import BBox, LatLon, haversine_m


@pytest.mark.parametrize(
    ("lat", "lon", "field"),
    [
        (91, 0, "lat"),
        (-90.5, 0, "lat"),
        (0, 180.01, "lon"),
        (math.nan, 0, "lat"),
        (0, math.inf, "lon"),
    ],
)
def test_impossible_coordinates_are_refused(lat: float, lon: float, field: str) -> None:
    with pytest.raises(GeoError) as err:
        LatLon(lat, lon)
    assert err.value.field == field


def test_parse() -> None:
    assert LatLon.parse("60.17,24.94") == LatLon(60.17, 24.94)
    with pytest.raises(GeoError):
        LatLon.parse("60.17")
    with pytest.raises(GeoError):
        LatLon.parse("a,b")


def test_known_distance() -> None:
    # Helsinki Central Station to Senate Square is about 600 m.
    d = haversine_m(LatLon(60.1710, 24.9414), LatLon(60.1694, 24.9522))
    assert 580 < d < 640


@given(st.floats(-89, 89), st.floats(-179, 179), st.floats(-89, 89), st.floats(-179, 179))
def test_distance_is_symmetric_and_bounded(a: float, b: float, c: float, d: float) -> None:
    p, q = LatLon(a, b), LatLon(c, d)
    assert haversine_m(p, q) == pytest.approx(haversine_m(q, p))
    assert 0 <= haversine_m(p, q) <= math.pi * 6_371_009


def test_bbox() -> None:
    box = BBox.parse("24.9,60.1,25.0,60.2")
    assert box.contains(LatLon(60.15, 24.95))
    assert not box.contains(LatLon(60.25, 24.95))
    with pytest.raises(GeoError, match="south"):
        BBox(24.9, 60.3, 25.0, 60.2)
    with pytest.raises(GeoError):
        BBox.parse("1,2,3")
