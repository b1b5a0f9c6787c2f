"""Turn OSM highway ways into a directed, strongly connected road graph.

Nodes are OSM nodes used by drivable ways; each consecutive node pair of a way
gives one directed edge per legal direction, weighted by travel time from the
way's ``maxspeed`` (per direction when ``maxspeed:forward``/``:backward`` are
set) or the class default. Only the largest strongly connected component is
kept, so every kept node can reach and be reached from every other; what is
dropped is reported. Turn restrictions are not applied (a documented limit).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from vigil.core.errors import ConfigError
from vigil.core.geometry import EARTH_RADIUS_M
from vigil.geo.maxspeed import parse_maxspeed
from vigil.geo.osm import HighwayWay
from vigil.geo.settings import GeoSettings

F64 = NDArray[np.float64]
I32 = NDArray[np.int32]
I64 = NDArray[np.int64]

_NO = frozenset({"no", "private"})
_YES = frozenset({"yes", "designated", "destination", "permissive", "emergency"})
_EXCLUDED_SERVICE = frozenset({"parking_aisle", "drive-through", "emergency_access"})


@dataclass(frozen=True, slots=True, kw_only=True)
class RoadGraph:
    """A directed road graph in flat arrays; edge i goes src[i] -> dst[i]."""

    lat: F64
    lon: F64
    osm_node: I64
    src: I32
    dst: I32
    length_m: F64
    time_s: F64
    way: I32
    way_osm_id: I64
    way_name: list[str]
    way_highway: list[str]

    @property
    def n_nodes(self) -> int:
        """Return the number of nodes."""
        return int(self.lat.shape[0])

    @property
    def n_edges(self) -> int:
        """Return the number of directed edges."""
        return int(self.src.shape[0])


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildReport:
    """What a graph build kept and dropped."""

    ways_read: int
    ways_drivable: int
    nodes_before: int
    edges_before: int
    nodes: int
    edges: int
    nodes_dropped: int
    edges_dropped: int
    components_dropped: int
    turn_restrictions: str = "not applied"


def haversine_array(lat1: F64, lon1: F64, lat2: F64, lon2: F64) -> F64:
    """Return great-circle distances in metres, elementwise."""
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2 - lon1)
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h))), np.float64)


def is_drivable(tags: dict[str, str], settings: GeoSettings) -> bool:
    """Return whether a motor vehicle may use a highway way."""
    if tags.get("highway") not in settings.default_speed_kmh:
        return False
    if tags.get("area") == "yes" or tags.get("service") in _EXCLUDED_SERVICE:
        return False
    if tags.get("emergency") in _YES:
        return True
    # The most specific access tag wins: motorcar > motor_vehicle > vehicle > access.
    for key in ("motorcar", "motor_vehicle", "vehicle", "access"):
        value = tags.get(key)
        if value is None:
            continue
        if value == "private":
            return settings.include_private
        return value not in _NO
    return True


def directions(tags: dict[str, str]) -> tuple[bool, bool]:
    """Return (forward allowed, backward allowed) from oneway/junction/highway tags."""
    oneway = tags.get("oneway", "").lower()
    if oneway in ("yes", "true", "1"):
        return True, False
    if oneway in ("-1", "reverse"):
        return False, True
    if oneway in ("no", "false", "0", "reversible", "alternating"):
        return True, True
    if tags.get("junction") in ("roundabout", "circular"):
        return True, False
    if tags.get("highway") == "motorway":
        return True, False
    return True, True


def way_speeds(tags: dict[str, str], settings: GeoSettings) -> tuple[float, float]:
    """Return (forward, backward) speeds in km/h for a drivable way."""
    default = settings.default_speed_kmh[tags["highway"]]
    base = parse_maxspeed(tags.get("maxspeed")) or default
    fwd = parse_maxspeed(tags.get("maxspeed:forward")) or base
    bwd = parse_maxspeed(tags.get("maxspeed:backward")) or base
    floor = settings.min_speed_kmh
    return max(fwd, floor), max(bwd, floor)


def build_graph(  # noqa: PLR0915 - one linear pass; splitting it would hide the data flow
    ways: list[HighwayWay], settings: GeoSettings
) -> tuple[RoadGraph, BuildReport]:
    """Build the strongly connected drivable graph from highway ways."""
    node_index: dict[int, int] = {}
    lats: list[float] = []
    lons: list[float] = []
    src: list[int] = []
    dst: list[int] = []
    speed: list[float] = []
    edge_way: list[int] = []
    way_osm: list[int] = []
    way_name: list[str] = []
    way_highway: list[str] = []
    for way in ways:
        if not is_drivable(way.tags, settings):
            continue
        fwd, bwd = directions(way.tags)
        v_fwd, v_bwd = way_speeds(way.tags, settings)
        w = len(way_osm)
        way_osm.append(way.osm_id)
        way_name.append(way.tags.get("name") or way.tags.get("ref") or "")
        way_highway.append(way.tags["highway"])
        idx = []
        for nid, la, lo in zip(way.node_ids, way.lats, way.lons, strict=True):
            i = node_index.get(nid)
            if i is None:
                i = node_index[nid] = len(lats)
                lats.append(la)
                lons.append(lo)
            idx.append(i)
        for a, b in itertools.pairwise(idx):
            if a == b:
                continue
            if fwd:
                src.append(a)
                dst.append(b)
                speed.append(v_fwd)
                edge_way.append(w)
            if bwd:
                src.append(b)
                dst.append(a)
                speed.append(v_bwd)
                edge_way.append(w)
    if not src:
        raise ConfigError("the OSM file has no drivable roads", field="osm_file")
    lat = np.asarray(lats, np.float64)
    lon = np.asarray(lons, np.float64)
    s = np.asarray(src, np.int64)
    d = np.asarray(dst, np.int64)
    length = haversine_array(lat[s], lon[s], lat[d], lon[d])
    time = length / (np.asarray(speed, np.float64) / 3.6)
    ew = np.asarray(edge_way, np.int64)
    n_before = lat.shape[0]
    m_before = s.shape[0]

    # Parallel edges (two ways over the same node pair): keep the fastest, because
    # sparse-matrix consumers would otherwise add their weights together.
    order = np.lexsort((time, d, s))
    s, d, length, time, ew = s[order], d[order], length[order], time[order], ew[order]
    first = np.ones(s.shape[0], bool)
    first[1:] = (s[1:] != s[:-1]) | (d[1:] != d[:-1])
    s, d, length, time, ew = s[first], d[first], length[first], time[first], ew[first]

    n_comp, labels = connected_components(
        coo_matrix((np.ones(s.shape[0]), (s, d)), shape=(n_before, n_before)).tocsr(),
        directed=True,
        connection="strong",
    )
    largest = np.bincount(labels).argmax()
    keep_node = labels == largest
    new_id = np.full(n_before, -1, np.int64)
    new_id[keep_node] = np.arange(int(keep_node.sum()))
    keep_edge = keep_node[s] & keep_node[d]
    osm_ids = np.fromiter(node_index.keys(), np.int64, count=n_before)
    graph = RoadGraph(
        lat=lat[keep_node],
        lon=lon[keep_node],
        osm_node=osm_ids[keep_node],
        src=new_id[s[keep_edge]].astype(np.int32),
        dst=new_id[d[keep_edge]].astype(np.int32),
        length_m=length[keep_edge],
        time_s=time[keep_edge],
        way=ew[keep_edge].astype(np.int32),
        way_osm_id=np.asarray(way_osm, np.int64),
        way_name=way_name,
        way_highway=way_highway,
    )
    report = BuildReport(
        ways_read=len(ways),
        ways_drivable=len(way_osm),
        nodes_before=n_before,
        edges_before=m_before,
        nodes=graph.n_nodes,
        edges=graph.n_edges,
        nodes_dropped=n_before - graph.n_nodes,
        edges_dropped=m_before - graph.n_edges,
        components_dropped=int(n_comp) - 1,
    )
    return graph, report
