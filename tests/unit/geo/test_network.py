from __future__ import annotations

import json
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.geo.conftest import write_osm
from vigil.core.errors import ConfigError, GeoError, NoRouteError
from vigil.core.geometry import LatLon, haversine_m
from vigil.geo.network import RoadNetwork, cache_path, file_sha256, load_network
from vigil.geo.settings import GeoSettings

# A one-way loop A -> B -> C -> D -> A, 0.001 degrees a side (about 111 m by 56 m).
LOOP_NODES = {1: (60.0, 25.0), 2: (60.001, 25.0), 3: (60.001, 25.001), 4: (60.0, 25.001)}


def _point_on(a: tuple[float, float], b: tuple[float, float], t: float) -> LatLon:
    return LatLon(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def _loop_network(tmp_path: Path, tags: dict[str, str], refs: list[int]) -> RoadNetwork:
    path = write_osm(tmp_path / "loop.osm", LOOP_NODES, [(refs, tags)])
    return load_network(GeoSettings(osm_file=path, cache_dir=tmp_path / "cache"))


@pytest.mark.parametrize(
    ("tags", "refs"),
    [
        ({"highway": "residential", "oneway": "yes", "maxspeed": "36"}, [1, 2, 3, 4, 1]),
        ({"highway": "residential", "oneway": "-1", "maxspeed": "36"}, [1, 4, 3, 2, 1]),
    ],
)
def test_one_way_loop_forces_the_long_legal_route(
    tmp_path: Path, tags: dict[str, str], refs: list[int]
) -> None:
    net = _loop_network(tmp_path, tags, refs)
    a, b = LOOP_NODES[1], LOOP_NODES[2]
    behind = _point_on(a, b, 0.1)
    ahead = _point_on(a, b, 0.9)
    side = [
        haversine_m(LatLon(*LOOP_NODES[i]), LatLon(*LOOP_NODES[i % 4 + 1])) for i in range(1, 5)
    ]
    # With the flow: 80% of side A-B.
    eta = net.etas_to(ahead, {"u": behind})["u"]
    assert eta.metres == pytest.approx(0.8 * side[0], rel=1e-3)
    assert eta.seconds == pytest.approx(eta.metres / 10, rel=1e-6)
    # Against the flow: the rest of A-B, the three other sides, then 10% of A-B.
    eta = net.etas_to(behind, {"u": ahead})["u"]
    assert eta.metres == pytest.approx(0.2 * side[0] + sum(side[1:]), rel=1e-3)
    route = net.route(ahead, behind)
    assert route.seconds == pytest.approx(eta.seconds, rel=1e-9)
    assert route.metres == pytest.approx(eta.metres, rel=1e-6)
    coords = route.geometry["coordinates"]
    assert isinstance(coords, list)
    # The route visits B, C, D and A in that order.
    corners = [[LOOP_NODES[i][1], LOOP_NODES[i][0]] for i in (2, 3, 4, 1)]
    assert coords[1:-1] == corners


def test_two_way_street_uses_both_directions(tmp_path: Path) -> None:
    net = _loop_network(tmp_path, {"highway": "residential", "maxspeed": "36"}, [1, 2, 3, 4, 1])
    a, b = LOOP_NODES[1], LOOP_NODES[2]
    eta = net.etas_to(_point_on(a, b, 0.1), {"u": _point_on(a, b, 0.9)})["u"]
    assert eta.metres == pytest.approx(0.8 * haversine_m(LatLon(*a), LatLon(*b)), rel=1e-3)


def test_speed_factor_divides_time(tmp_path: Path) -> None:
    net = _loop_network(tmp_path, {"highway": "residential", "maxspeed": "36"}, [1, 2, 3, 4, 1])
    target = _point_on(LOOP_NODES[1], LOOP_NODES[2], 0.5)
    src = {"engine": LatLon(*LOOP_NODES[3]), "car": LatLon(*LOOP_NODES[3])}
    etas = net.etas_to(target, src, speed_factor={"engine": 1.25})
    assert etas["engine"].seconds == pytest.approx(etas["car"].seconds / 1.25)
    assert etas["engine"].metres == etas["car"].metres


def test_cache_is_reused_and_keyed_by_settings(tmp_path: Path) -> None:
    path = write_osm(
        tmp_path / "loop.osm", LOOP_NODES, [([1, 2, 3, 4, 1], {"highway": "residential"})]
    )
    s = GeoSettings(osm_file=path, cache_dir=tmp_path / "cache")
    load_network(s)
    folder = cache_path(s, file_sha256(path))
    assert (folder / "meta.json").is_file()
    meta = json.loads((folder / "meta.json").read_text())
    meta["way_name"] = ["from the cache"]
    (folder / "meta.json").write_text(json.dumps(meta))
    assert load_network(s).graph.way_name == ["from the cache"]
    other = s.model_copy(update={"default_speed_kmh": {"residential": 20.0}})
    assert cache_path(other, file_sha256(path)) != folder


def test_corrupt_osm_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.osm.pbf"
    path.write_bytes(b"garbage" * 100)
    with pytest.raises(ConfigError, match="cannot read"):
        load_network(GeoSettings(osm_file=path, cache_dir=tmp_path))


# ---------------------------------------------------------------- Helsinki / Monaco
def test_helsinki_build_report(helsinki: RoadNetwork) -> None:
    r = helsinki.report
    assert r.nodes > 1000
    assert r.nodes + r.nodes_dropped == r.nodes_before
    assert helsinki.bbox.contains(helsinki.center)


def test_snap_to_edge_interior(helsinki: RoadNetwork) -> None:
    g = helsinki.graph
    e = int(np.argmax(g.length_m))
    a, b = int(g.src[e]), int(g.dst[e])
    mid = LatLon(float(g.lat[a] + g.lat[b]) / 2, float(g.lon[a] + g.lon[b]) / 2)
    snap = helsinki.snap(mid)
    assert {snap.node_a, snap.node_b} == {a, b}
    assert 0.45 < snap.fraction < 0.55
    assert snap.distance_m < 1.0
    assert snap.street == g.way_name[int(g.way[e])]


def test_point_far_from_roads_is_refused_with_distance(helsinki: RoadNetwork) -> None:
    # Open sea south of Helsinki harbour.
    with pytest.raises(GeoError, match=r"is \d+ m from the nearest drivable road"):
        helsinki.snap(LatLon(60.14, 24.95))


def test_out_of_range_coordinates_are_refused() -> None:
    with pytest.raises(GeoError, match="latitude"):
        LatLon(91.0, 24.9)


def test_route_in_the_sea_raises(helsinki: RoadNetwork) -> None:
    with pytest.raises(GeoError):
        helsinki.route(helsinki.center, LatLon(60.14, 24.95))


def test_unreachable_sources_are_omitted(helsinki: RoadNetwork) -> None:
    sources = {"sea": LatLon(60.14, 24.95), "town": helsinki.center}
    assert set(helsinki.etas_to(helsinki.center, sources)) == {"town"}
    assert helsinki.etas_to(helsinki.center, {}) == {}


def test_no_route_error_is_a_geo_error() -> None:
    assert issubclass(NoRouteError, GeoError)


def _nx_graph(net: RoadNetwork) -> nx.DiGraph:
    g = net.graph
    graph: nx.DiGraph = nx.DiGraph()
    for s, d, t in zip(g.src.tolist(), g.dst.tolist(), g.time_s.tolist(), strict=True):
        graph.add_edge(s, d, time=t)
    return graph


def _check_against_networkx(
    net: RoadNetwork, graph: nx.DiGraph, pairs: list[tuple[int, int]]
) -> None:
    g = net.graph
    target_node = pairs[0][1]
    target = LatLon(float(g.lat[target_node]), float(g.lon[target_node]))
    sources = {str(s): LatLon(float(g.lat[s]), float(g.lon[s])) for s, _ in pairs}
    etas = net.etas_to(target, sources)
    expected = nx.single_source_dijkstra_path_length(
        graph.reverse(copy=False), target_node, weight="time"
    )
    for s, _ in pairs:
        eta = etas[str(s)]
        assert eta.seconds == pytest.approx(expected[s], rel=1e-9, abs=1e-6)
        assert eta.metres >= haversine_m(sources[str(s)], target) - 1e-6


@pytest.mark.parametrize("city", ["helsinki", "monaco"])
def test_etas_equal_networkx_shortest_paths(city: str, request: pytest.FixtureRequest) -> None:
    net: RoadNetwork = request.getfixturevalue(city)
    graph = _nx_graph(net)
    n = net.graph.n_nodes

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.integers(0, n - 1), st.lists(st.integers(0, n - 1), min_size=1, max_size=20))
    def check(target: int, sources: list[int]) -> None:
        _check_against_networkx(net, graph, [(s, target) for s in sources])

    check()


@pytest.mark.parametrize("city", ["helsinki", "monaco"])
def test_route_matches_eta(city: str, request: pytest.FixtureRequest) -> None:
    net: RoadNetwork = request.getfixturevalue(city)
    rng = np.random.default_rng(7)
    g = net.graph
    for _ in range(20):
        a, b = rng.integers(0, g.n_nodes, 2)
        # Off-node points: 40% along a random edge each.
        ea, eb = rng.integers(0, g.n_edges, 2)
        pa = LatLon(
            float(g.lat[g.src[ea]] * 0.6 + g.lat[g.dst[ea]] * 0.4),
            float(g.lon[g.src[ea]] * 0.6 + g.lon[g.dst[ea]] * 0.4),
        )
        pb = LatLon(
            float(g.lat[g.src[eb]] * 0.6 + g.lat[g.dst[eb]] * 0.4),
            float(g.lon[g.src[eb]] * 0.6 + g.lon[g.dst[eb]] * 0.4),
        )
        del a, b
        eta = net.etas_to(pb, {"u": pa})["u"]
        route = net.route(pa, pb)
        assert route.seconds == pytest.approx(eta.seconds, rel=1e-9, abs=1e-9)
        assert route.metres == pytest.approx(eta.metres, rel=1e-6, abs=1e-6)
        coords = route.geometry["coordinates"]
        assert isinstance(coords, list)
        assert coords[0] == pytest.approx([net.snap(pa).on_road.lon, net.snap(pa).on_road.lat])
        assert math.isfinite(route.seconds)
