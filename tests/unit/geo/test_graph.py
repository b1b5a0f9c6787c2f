from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.unit.geo.conftest import write_osm
from vigil.core.errors import ConfigError
from vigil.geo.graph import build_graph, directions, is_drivable, way_speeds
from vigil.geo.osm import read_osm
from vigil.geo.settings import GeoSettings


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"highway": "residential"}, (True, True)),
        ({"highway": "residential", "oneway": "yes"}, (True, False)),
        ({"highway": "residential", "oneway": "-1"}, (False, True)),
        ({"highway": "primary", "junction": "roundabout"}, (True, False)),
        ({"highway": "primary", "junction": "roundabout", "oneway": "no"}, (True, True)),
        ({"highway": "motorway"}, (True, False)),
    ],
)
def test_directions(tags: dict[str, str], expected: tuple[bool, bool]) -> None:
    assert directions(tags) == expected


def test_drivable_filter() -> None:
    s = GeoSettings()
    assert is_drivable({"highway": "residential"}, s)
    assert not is_drivable({"highway": "footway"}, s)
    assert not is_drivable({"highway": "residential", "access": "no"}, s)
    assert is_drivable({"highway": "residential", "access": "no", "motor_vehicle": "yes"}, s)
    assert not is_drivable({"highway": "service", "service": "parking_aisle"}, s)
    assert not is_drivable(
        {"highway": "residential", "access": "private"}, GeoSettings(include_private=False)
    )


def test_speeds_from_tags_and_defaults() -> None:
    s = GeoSettings()
    assert way_speeds({"highway": "residential"}, s) == (30, 30)
    assert way_speeds({"highway": "residential", "maxspeed": "FI:urban"}, s) == (50, 50)
    assert way_speeds({"highway": "primary", "maxspeed": "60", "maxspeed:backward": "40"}, s) == (
        60,
        40,
    )
    # 'walk' is floored so the street stays usable.
    assert way_speeds({"highway": "living_street", "maxspeed": "walk"}, s) == (7, 7)


def test_build_keeps_largest_strong_component_and_reports_drops(tmp_path: Path) -> None:
    nodes = {i: (60.0 + 0.001 * i, 25.0) for i in range(1, 6)}
    nodes[9] = (60.01, 25.01)
    nodes[10] = (60.011, 25.01)
    ways = [
        ([1, 2, 3], {"highway": "residential", "maxspeed": "36"}),
        ([3, 4], {"highway": "residential", "oneway": "yes"}),  # one-way dead end
        ([9, 10], {"highway": "residential"}),  # separate island
        ([4, 5], {"highway": "footway"}),
    ]
    extract = read_osm(write_osm(tmp_path / "t.osm", nodes, ways))
    graph, report = build_graph(extract.ways, GeoSettings())
    assert graph.n_nodes == 3
    assert graph.n_edges == 4
    assert report.nodes_dropped == 3
    assert report.components_dropped == 2
    assert report.ways_drivable == 3
    # 36 km/h = 10 m/s: time equals length / 10.
    np.testing.assert_allclose(graph.time_s, graph.length_m / 10)
    np.testing.assert_allclose(graph.length_m, 111.19, rtol=1e-3)


def test_no_drivable_roads_is_a_config_error(tmp_path: Path) -> None:
    nodes = {1: (60.0, 25.0), 2: (60.001, 25.0)}
    path = write_osm(tmp_path / "t.osm", nodes, [([1, 2], {"highway": "footway"})])
    with pytest.raises(ConfigError, match="no drivable roads"):
        build_graph(read_osm(path).ways, GeoSettings())
