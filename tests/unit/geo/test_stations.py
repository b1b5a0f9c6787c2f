from __future__ import annotations

import numpy as np

from vigil.core.geometry import haversine_m
from vigil.geo.graph import haversine_array
from vigil.geo.network import RoadNetwork
from vigil.geo.stations import stations


def test_helsinki_fire_station_from_a_multipolygon(helsinki: RoadNetwork) -> None:
    found = stations(helsinki, kinds=["fire_station"])
    assert [s.name for s in found] == ["Erottajan paloasema"]
    assert found[0].id.startswith("osm:relation/")


def test_monaco_stations_are_on_the_road(monaco: RoadNetwork) -> None:
    found = stations(monaco)
    kinds = {s.kind for s in found}
    assert kinds == {"fire_station", "police", "hospital"}
    names = {s.name for s in found}
    assert {
        "Caserne de Fontvieille",
        "Caserne de la Condamine",
        "Sûreté Publique de Monaco",
    } <= names
    g = monaco.graph
    for s in found:
        # The placed point is on a road: snapping it again does not move it.
        assert monaco.snap(s.location).distance_m < 0.5
        # The recorded snap distance is the distance from the mapped point to the placement.
        assert abs(haversine_m(s.mapped_at, s.location) - s.snap_distance_m) < 0.5
        # The placement is the nearest road point: no farther than the nearest graph node
        # (computed here by brute force, independently of the snapper's index).
        nearest_node_m = float(
            haversine_array(
                np.full_like(g.lat, s.mapped_at.lat),
                np.full_like(g.lon, s.mapped_at.lon),
                g.lat,
                g.lon,
            ).min()
        )
        assert s.snap_distance_m <= nearest_node_m + 0.5, s.name
    # Every station can be routed to from every other one (same strong component).
    fire = [s for s in found if s.kind == "fire_station"]
    etas = monaco.etas_to(fire[0].location, {s.id: s.location for s in found})
    assert set(etas) == {s.id for s in found}
