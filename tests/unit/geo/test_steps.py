"""Turn-by-turn steps: one per street, turns classified from the bearing change."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.geo.conftest import write_osm
from vigil.core.geometry import LatLon
from vigil.geo.network import load_network
from vigil.geo.settings import GeoSettings
from vigil.geo.steps import bearing, classify

# North along Alpha, right (east) onto Beta, a 10 m unnamed link east, then left
# (north) onto Gamma. 0.001 deg of latitude is about 111 m, of longitude ~56 m here.
NODES = {
    1: (60.000, 25.000),
    2: (60.002, 25.000),
    3: (60.002, 25.003),
    4: (60.002, 25.00318),  # ~10 m further east
    5: (60.004, 25.00318),
    # Stubs make 2, 3 and 4 junctions (the graph contracts plain bends).
    6: (60.003, 25.000),
    7: (60.001, 25.003),
    8: (60.002, 25.005),
}
WAYS: list[tuple[list[int], dict[str, str]]] = [
    ([1, 2], {"highway": "residential", "name": "Alpha"}),
    ([2, 3], {"highway": "residential", "name": "Beta"}),
    ([3, 4], {"highway": "service"}),
    ([4, 5], {"highway": "residential", "name": "Gamma"}),
    ([2, 6], {"highway": "residential", "name": "Alpha"}),
    ([3, 7], {"highway": "residential", "name": "Delta"}),
    ([4, 8], {"highway": "residential", "name": "Epsilon"}),
]


def test_bearing_and_classification() -> None:
    assert bearing(60, 25, 61, 25) == pytest.approx(0, abs=1e-9)
    assert bearing(60, 25, 60, 26) == pytest.approx(89.57, abs=0.1)
    assert classify(5) == "continue"
    assert classify(-30) == "slight_left"
    assert classify(90) == "right"
    assert classify(-90) == "left"
    assert classify(170) == "sharp_right"


def test_a_route_reads_as_a_driver_would_be_told(tmp_path: Path) -> None:
    osm = write_osm(tmp_path / "l.osm", NODES, WAYS)
    net = load_network(GeoSettings(osm_file=osm, cache_dir=tmp_path / "cache"))
    r = net.route(LatLon(60.0002, 25.0), LatLon(60.0038, 25.00318))
    got = [(s.maneuver, s.street) for s in r.steps]
    # The unnamed 10 m link folds into Beta; nothing is said about it.
    assert got == [("depart", "Alpha"), ("right", "Beta"), ("left", "Gamma"), ("arrive", "")]
    beta = r.steps[1]
    assert beta.metres == pytest.approx(0.003 * 55.8 * 1000 + 10, rel=0.05)
    assert (beta.lat, beta.lon) == pytest.approx((60.002, 25.000))
    # Steps cover the graph part of the route (the route adds the partial first/last edges).
    assert sum(s.metres for s in r.steps) <= r.metres + 1
    assert sum(s.seconds for s in r.steps) <= r.seconds + 1
