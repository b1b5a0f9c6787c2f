from __future__ import annotations

from vigil.core.geometry import haversine_m
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
    for s in found:
        snap = monaco.snap(s.location)
        assert snap.distance_m < 0.5
        assert haversine_m(s.location, s.mapped_at) == snap.distance_m or s.snap_distance_m <= 250
    # Every station can be routed to from every other one (same strong component).
    fire = [s for s in found if s.kind == "fire_station"]
    etas = monaco.etas_to(fire[0].location, {s.id: s.location for s in found})
    assert set(etas) == {s.id for s in found}
