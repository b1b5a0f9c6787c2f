"""The road network: snapping, many-to-one ETAs, routes, and the on-disk cache."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import operator
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import msgspec
import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from vigil.core.errors import ConfigError, GeoError, NoRouteError
from vigil.core.geometry import BBox, LatLon
from vigil.geo.ch import Hierarchy, Restriction, build_hierarchy, dijkstra
from vigil.geo.graph import BuildReport, RoadGraph, build_graph
from vigil.geo.osm import (
    AddressRecord,
    AreaRecord,
    OsmExtract,
    PlaceRecord,
    StationRecord,
    read_osm,
)
from vigil.geo.settings import GeoSettings
from vigil.geo.snap import Snap, Snapper
from vigil.geo.steps import Step, route_steps

CACHE_VERSION = 2
# Restricted sweeps (RPHAST) kept per distinct set of source nodes, most recent first;
# the units available for dispatch change far less often than incidents arrive.
RESTRICTIONS_KEPT = 8
# A restriction covering more than this share of the non-core nodes is not worth
# its memory: such source sets use the full sweep.
RESTRICTION_MAX_SHARE = 0.6
# Contract all but this share of the nodes; the rest (the dense top of a grid-like
# city) is searched by the query's core Dijkstra. See docs/perf/routing.md.
CORE_FRACTION = 0.02
# A snap this close to a segment end is treated as standing on the node.
AT_NODE = 1e-9
_SNAP_FIELDS = operator.attrgetter("node_a", "node_b", "fraction", "forward_edge", "backward_edge")
_GRAPH_ARRAYS = ("lat", "lon", "osm_node", "src", "dst", "length_m", "time_s", "way", "way_osm_id")


class Eta(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Drive time and road distance from one source to the target.

    A msgspec Struct rather than a dataclass: ``etas_to`` builds one per unit per
    incident, and a frozen slotted dataclass took ~4x longer to construct (about
    2-5 ms for 500 units, as much as the search itself).
    """

    seconds: float
    metres: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """A driven route with its GeoJSON LineString geometry ([lon, lat] pairs)."""

    seconds: float
    metres: float
    geometry: dict[str, object]
    steps: tuple[Step, ...] = ()  # turn-by-turn, from "depart" to "arrive" (geo/steps.py)


@dataclass(frozen=True, slots=True, kw_only=True)
class PathEdges:
    """A driven path: whole edges, plus the shares driven of its first and last edges
    (edge -1 when the path starts or ends on a node)."""

    edges: NDArray[np.int64]
    first_edge: int
    first_share: float
    last_edge: int
    last_share: float
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RoadLine:
    """One OSM highway way as a polyline, for the basemap."""

    osm_id: int
    highway: str
    name: str
    coords: list[list[float]]


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkData:
    """What a build produces besides the graph (kept for geocoding and the basemap)."""

    report: BuildReport
    source: str
    source_sha256: str
    build_seconds: float
    roads: list[RoadLine]
    addresses: list[AddressRecord]
    places: list[PlaceRecord]
    stations: list[StationRecord]
    areas: list[AreaRecord]


class RoadNetwork:
    """A drivable road network with snapping, many-to-one ETAs and routes."""

    def __init__(
        self, graph: RoadGraph, hierarchy: Hierarchy, data: NetworkData, settings: GeoSettings
    ) -> None:
        self.graph = graph
        self.hierarchy = hierarchy
        self.data = data
        self.settings = settings
        self.snapper = Snapper(graph)
        order = np.argsort(graph.src, kind="stable")
        self._csr_edge = order.astype(np.int64)
        self._indptr = np.zeros(graph.n_nodes + 1, np.int64)
        np.cumsum(np.bincount(graph.src, minlength=graph.n_nodes), out=self._indptr[1:])
        self._csr_head = graph.dst[order].astype(np.int32)
        self._csr_time = graph.time_s[order]
        self._restrictions: OrderedDict[bytes, Restriction | None] = OrderedDict()
        self._restrictions_lock = threading.Lock()

    # ------------------------------------------------------------ basics
    @property
    def report(self) -> BuildReport:
        """Return what the build kept and dropped."""
        return self.data.report

    @property
    def bbox(self) -> BBox:
        """Return the bounding box of the drivable network."""
        g = self.graph
        return BBox(float(g.lon.min()), float(g.lat.min()), float(g.lon.max()), float(g.lat.max()))

    @property
    def center(self) -> LatLon:
        """Return the centre of the bounding box."""
        b = self.bbox
        return LatLon((b.south + b.north) / 2, (b.west + b.east) / 2)

    def snap(self, point: LatLon) -> Snap:
        """Snap a point to the nearest drivable road edge; raise GeoError if too far."""
        return self.snapper.snap(point, max_distance_m=self.settings.max_snap_distance_m)

    def snap_many(self, points: list[LatLon]) -> list[Snap]:
        """Snap several points at once; raise GeoError naming the first that is too far."""
        return self.snapper.snap_points(points, max_distance_m=self.settings.max_snap_distance_m)

    # ------------------------------------------------------------ ETAs
    def _target_seeds(
        self, target: Snap
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
        g = self.graph
        nodes: list[int] = []
        cost: list[float] = []
        metres: list[float] = []
        if target.forward_edge >= 0:
            e = target.forward_edge
            nodes.append(target.node_a)
            cost.append(target.fraction * float(g.time_s[e]))
            metres.append(target.fraction * float(g.length_m[e]))
        if target.backward_edge >= 0:
            e = target.backward_edge
            nodes.append(target.node_b)
            cost.append((1 - target.fraction) * float(g.time_s[e]))
            metres.append((1 - target.fraction) * float(g.length_m[e]))
        # A target exactly on a node is reached by any edge into that node.
        if target.fraction <= AT_NODE:
            nodes.append(target.node_a)
            cost.append(0.0)
            metres.append(0.0)
        elif target.fraction >= 1 - AT_NODE:
            nodes.append(target.node_b)
            cost.append(0.0)
            metres.append(0.0)
        return np.asarray(nodes, np.int64), np.asarray(cost), np.asarray(metres)

    def etas_to(
        self,
        target: LatLon,
        sources: Mapping[str, LatLon],
        *,
        speed_factor: Mapping[str, float] | None = None,
    ) -> dict[str, Eta]:
        """Return the drive time from every source to the target with one search.

        ``speed_factor`` maps a source key to its emergency speed factor (time is
        divided by it). Sources that cannot be snapped or reached are omitted.
        """
        target_snap = self.snap(target)
        keys = list(sources)
        if not keys:
            return {}
        lat = np.fromiter((sources[k].lat for k in keys), np.float64, count=len(keys))
        lon = np.fromiter((sources[k].lon for k in keys), np.float64, count=len(keys))
        seg, frac, dist, _ = self.snapper.snap_many(lat, lon)
        sn = self.snapper
        seconds, metres = self._etas(
            target_snap, sn.seg_a[seg], sn.seg_b[seg], frac, sn.fwd[seg], sn.bwd[seg]
        )
        # Sources too far from any road cannot be placed: leave them out.
        seconds[dist > self.settings.max_snap_distance_m] = np.inf
        return self._eta_dict(keys, seconds, metres, speed_factor)

    def etas_to_snapped(
        self,
        target: Snap,
        sources: Mapping[str, Snap],
        *,
        speed_factor: Mapping[str, float] | None = None,
    ) -> dict[str, Eta]:
        """Return ETAs for sources already snapped (e.g. cached per unit position)."""
        if not sources:
            return {}
        keys = list(sources)
        # One pass over the snaps (node ids and edge ids are exact in float64).
        cols = np.asarray(list(map(_SNAP_FIELDS, sources.values())), np.float64).reshape(-1, 5)
        ids = cols.astype(np.int64)
        seconds, metres = self._etas(target, ids[:, 0], ids[:, 1], cols[:, 2], ids[:, 3], ids[:, 4])
        return self._eta_dict(keys, seconds, metres, speed_factor)

    @staticmethod
    def _eta_dict(
        keys: list[str],
        seconds: NDArray[np.float64],
        metres: NDArray[np.float64],
        speed_factor: Mapping[str, float] | None,
    ) -> dict[str, Eta]:
        factors = speed_factor or {}
        out: dict[str, Eta] = {}
        for key, sec, m in zip(keys, seconds.tolist(), metres.tolist(), strict=True):
            if math.isfinite(sec):
                out[key] = Eta(seconds=sec / factors.get(key, 1.0), metres=m)
        return out

    def _etas(  # noqa: PLR0917 - the five per-source arrays travel together
        self,
        target: Snap,
        a: NDArray[np.int64],
        b: NDArray[np.int64],
        f: NDArray[np.float64],
        fe: NDArray[np.int64],
        be: NDArray[np.int64],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return (seconds, metres) to the target for sources on segments a-b at fraction f."""
        g = self.graph
        seeds, seed_cost, seed_len = self._target_seeds(target)
        nodes = np.concatenate((a, b))
        cost, metres = self.hierarchy.distances_to_nodes(
            seeds, seed_cost, seed_len, nodes, self.restriction_for(nodes)
        )
        cost_a, cost_b = cost[: a.shape[0]], cost[a.shape[0] :]
        len_a, len_b = metres[: a.shape[0]], metres[a.shape[0] :]
        fe_ok = fe >= 0
        be_ok = be >= 0
        fe_i = np.where(fe_ok, fe, 0)
        be_i = np.where(be_ok, be, 0)
        # Drive forward to node b, or backward to node a, then on to the target.
        via_b = np.where(fe_ok, (1 - f) * g.time_s[fe_i] + cost_b, np.inf)
        via_b_len = (1 - f) * g.length_m[fe_i] + len_b
        via_a = np.where(be_ok, f * g.time_s[be_i] + cost_a, np.inf)
        via_a_len = f * g.length_m[be_i] + len_a
        # A source exactly on a node may leave by any edge out of that node.
        via_a = np.where(f <= AT_NODE, cost_a, via_a)
        via_a_len = np.where(f <= AT_NODE, len_a, via_a_len)
        via_b = np.where(f >= 1 - AT_NODE, cost_b, via_b)
        via_b_len = np.where(f >= 1 - AT_NODE, len_b, via_b_len)
        best = np.minimum(via_a, via_b)
        best_len = np.where(via_b <= via_a, via_b_len, via_a_len)
        # Same segment as the target: driving straight there may beat any loop.
        same = (a == target.node_a) & (b == target.node_b)
        t = target.fraction
        for i in np.flatnonzero(same).tolist():
            if fe_ok[i] and f[i] <= t:
                direct = (t - f[i]) * g.time_s[fe[i]]
                if direct < best[i]:
                    best[i] = direct
                    best_len[i] = (t - f[i]) * g.length_m[fe[i]]
            if be_ok[i] and f[i] >= t:
                direct = (f[i] - t) * g.time_s[be[i]]
                if direct < best[i]:
                    best[i] = direct
                    best_len[i] = (f[i] - t) * g.length_m[be[i]]
        return best, best_len

    def restriction_for(self, nodes: NDArray[np.int64]) -> Restriction | None:
        """Return the cached restricted sweep for these source nodes, building it once.

        None means the full sweep (the sources need most of the graph anyway).
        """
        unique = np.unique(nodes)
        key = unique.tobytes()
        with self._restrictions_lock:
            if key in self._restrictions:
                self._restrictions.move_to_end(key)
                return self._restrictions[key]
        h = self.hierarchy
        r: Restriction | None = h.restriction(unique)
        if r is not None and r.nodes > RESTRICTION_MAX_SHARE * (self.graph.n_nodes - h.core):
            r = None
        with self._restrictions_lock:
            self._restrictions[key] = r
            while len(self._restrictions) > RESTRICTIONS_KEPT:
                self._restrictions.popitem(last=False)
        return r

    # ------------------------------------------------------------ paths
    def paths_from(self, origin: Snap, targets: list[Snap]) -> list[PathEdges | None]:
        """Return the fastest path from one origin to each target with one search
        (None where unreachable), as edge ids plus the shares of the partly driven
        first and last edges; calibration decomposes travel times with them."""
        g = self.graph
        start_nodes, start_cost, start_edge = [], [], []
        if origin.forward_edge >= 0:
            start_nodes.append(origin.node_b)
            start_cost.append((1 - origin.fraction) * float(g.time_s[origin.forward_edge]))
            start_edge.append((origin.forward_edge, 1 - origin.fraction))
        if origin.backward_edge >= 0:
            start_nodes.append(origin.node_a)
            start_cost.append(origin.fraction * float(g.time_s[origin.backward_edge]))
            start_edge.append((origin.backward_edge, origin.fraction))
        seeds_of = [self._target_seeds(t) for t in targets]
        all_seeds = (
            np.unique(np.concatenate([s[0] for s in seeds_of]))
            if seeds_of
            else np.zeros(0, np.int64)
        )
        cost, pred = dijkstra(
            self._indptr,
            self._csr_head,
            self._csr_time,
            np.asarray(start_nodes, np.int64),
            np.asarray(start_cost),
            np.asarray(all_seeds, np.int64),
        )
        out: list[PathEdges | None] = []
        for t, (seeds, seed_cost, _) in zip(targets, seeds_of, strict=True):
            total = cost[seeds] + seed_cost
            if total.size == 0 or not np.isfinite(total.min()):
                out.append(None)
                continue
            k = int(np.argmin(total))
            end = int(seeds[k])
            edges: list[int] = []
            node = end
            while pred[node] >= 0:
                e = int(self._csr_edge[pred[node]])
                edges.append(e)
                node = int(g.src[e])
            edges.reverse()
            first = next(
                (
                    (e, share)
                    for (e, share), n in zip(start_edge, start_nodes, strict=True)
                    if n == node and float(cost[node]) > 0
                ),
                (-1, 0.0),
            )
            last: tuple[int, float] = (-1, 0.0)
            if seed_cost[k] > 0:
                if end == t.node_a and t.forward_edge >= 0:
                    last = (t.forward_edge, t.fraction)
                elif t.backward_edge >= 0:
                    last = (t.backward_edge, 1 - t.fraction)
            out.append(
                PathEdges(
                    edges=np.asarray(edges, np.int64),
                    first_edge=first[0],
                    first_share=first[1],
                    last_edge=last[0],
                    last_share=last[1],
                    seconds=float(total[k]),
                )
            )
        return out

    # ------------------------------------------------------------ routes
    def route(self, origin: LatLon, target: LatLon, *, speed_factor: float = 1.0) -> Route:
        """Return the fastest legal route; raise NoRouteError if there is none."""
        if speed_factor <= 0:
            raise GeoError("speed factor must be positive", field="speed_factor")
        o = self.snap(origin)
        t = self.snap(target)
        g = self.graph
        start_nodes, start_cost = self._start_seeds(o)
        seeds, seed_cost, _ = self._target_seeds(t)
        cost, pred = dijkstra(
            self._indptr,
            self._csr_head,
            self._csr_time,
            np.asarray(start_nodes, np.int64),
            np.asarray(start_cost),
            seeds,
        )
        best = np.inf
        end = -1
        for node, rest in zip(seeds.tolist(), seed_cost.tolist(), strict=True):
            if cost[node] + rest < best:
                best = float(cost[node] + rest)
                end = node
        coords: list[list[float]] = [[o.on_road.lon, o.on_road.lat]]
        metres = 0.0
        legs: list[tuple[int, float]] = []  # (edge, share driven) for the steps
        same_direct = self._same_segment_direct(o, t)
        if same_direct is not None and same_direct[0] <= best:
            best, metres = same_direct
            share = abs(t.fraction - o.fraction)
            legs = [(o.forward_edge if o.forward_edge >= 0 else o.backward_edge, share)]
        elif end >= 0 and np.isfinite(best):
            path_edges: list[int] = []
            node = end
            while pred[node] >= 0:
                e = int(self._csr_edge[pred[node]])
                path_edges.append(e)
                node = int(g.src[e])
            path_edges.reverse()
            start = node
            legs = [
                *self._partial_start_leg(o, start, float(cost[start])),
                *((e, 1.0) for e in path_edges),
                *self._partial_end_leg(t, end, best - float(cost[end])),
            ]
            metres += self._partial_start_metres(o, start, float(cost[start]))
            coords.append([float(g.lon[start]), float(g.lat[start])])
            for e in path_edges:
                metres += float(g.length_m[e])
                coords.append([float(g.lon[g.dst[e]]), float(g.lat[g.dst[e]])])
            metres += self._partial_end_metres(t, end, best - float(cost[end]))
        else:
            raise NoRouteError(
                f"no legal route from {origin.lat:.6f},{origin.lon:.6f} "
                f"to {target.lat:.6f},{target.lon:.6f}"
            )
        coords.append([t.on_road.lon, t.on_road.lat])
        return Route(
            seconds=best / speed_factor,
            metres=metres,
            geometry={"type": "LineString", "coordinates": coords},
            steps=tuple(route_steps(g, legs, speed_factor=speed_factor)),
        )

    def _partial_start_metres(self, o: Snap, start: int, start_cost: float) -> float:
        """Return the metres from the origin's projection to the node the path starts at."""
        g = self.graph
        if start_cost == 0.0:
            return 0.0
        if start == o.node_b and o.forward_edge >= 0:
            return (1 - o.fraction) * float(g.length_m[o.forward_edge])
        return o.fraction * float(g.length_m[o.backward_edge])

    def _start_seeds(self, o: Snap) -> tuple[list[int], list[float]]:
        """Return the nodes a route from a snapped origin can start at, and their costs."""
        g = self.graph
        start_nodes: list[int] = []
        start_cost: list[float] = []
        if o.forward_edge >= 0:
            start_nodes.append(o.node_b)
            start_cost.append((1 - o.fraction) * float(g.time_s[o.forward_edge]))
        if o.backward_edge >= 0:
            start_nodes.append(o.node_a)
            start_cost.append(o.fraction * float(g.time_s[o.backward_edge]))
        if o.fraction <= AT_NODE:
            start_nodes.append(o.node_a)
            start_cost.append(0.0)
        elif o.fraction >= 1 - AT_NODE:
            start_nodes.append(o.node_b)
            start_cost.append(0.0)
        return start_nodes, start_cost

    @staticmethod
    def _partial_start_leg(o: Snap, start: int, start_cost: float) -> list[tuple[int, float]]:
        """Return the part of the origin's edge driven before the path's first node."""
        if start_cost == 0.0:
            return []
        if start == o.node_b and o.forward_edge >= 0:
            return [(o.forward_edge, 1 - o.fraction)]
        return [(o.backward_edge, o.fraction)]

    @staticmethod
    def _partial_end_leg(t: Snap, end: int, rest_cost: float) -> list[tuple[int, float]]:
        """Return the part of the target's edge driven after the path's last node."""
        if rest_cost <= 0.0:
            return []
        if end == t.node_a and t.forward_edge >= 0:
            return [(t.forward_edge, t.fraction)]
        return [(t.backward_edge, 1 - t.fraction)]

    def _partial_end_metres(self, t: Snap, end: int, rest_cost: float) -> float:
        """Return the metres from the path's last node to the target's projection."""
        g = self.graph
        if rest_cost <= 0.0:
            return 0.0
        if end == t.node_a and t.forward_edge >= 0:
            return t.fraction * float(g.length_m[t.forward_edge])
        return (1 - t.fraction) * float(g.length_m[t.backward_edge])

    def _same_segment_direct(self, o: Snap, t: Snap) -> tuple[float, float] | None:
        if (o.node_a, o.node_b) != (t.node_a, t.node_b):
            return None
        g = self.graph
        if o.forward_edge >= 0 and o.fraction <= t.fraction:
            k = t.fraction - o.fraction
            return k * float(g.time_s[o.forward_edge]), k * float(g.length_m[o.forward_edge])
        if o.backward_edge >= 0 and o.fraction >= t.fraction:
            k = o.fraction - t.fraction
            return k * float(g.time_s[o.backward_edge]), k * float(g.length_m[o.backward_edge])
        return None

    # ------------------------------------------------------------ basemap
    def road_features(self) -> list[dict[str, object]]:
        """Return every OSM highway way as a GeoJSON Feature (highway, name properties)."""
        return [
            {
                "type": "Feature",
                "id": f"way/{r.osm_id}",
                "geometry": {"type": "LineString", "coordinates": r.coords},
                "properties": {"highway": r.highway, "name": r.name},
            }
            for r in self.data.roads
        ]

    def basemap_features(self) -> list[dict[str, object]]:
        """Return buildings, water and parks as GeoJSON Polygon features (category, name)."""
        return [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [a.ring]},
                "properties": {"category": a.category, "name": a.name},
            }
            for a in self.data.areas
        ]


# ---------------------------------------------------------------- build + cache
def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_path(settings: GeoSettings, sha: str) -> Path:
    """Return the cache folder for an OSM file digest and the build settings."""
    name = f"{sha[:20]}-{settings.build_key()}-v{CACHE_VERSION}"
    return settings.resolved_cache_dir() / name


def _extract_data(
    extract: OsmExtract, report: BuildReport, source: Path, sha: str, seconds: float
) -> NetworkData:
    roads = [
        RoadLine(
            osm_id=w.osm_id,
            highway=w.tags["highway"],
            name=w.tags.get("name", ""),
            coords=[[lo, la] for la, lo in zip(w.lats, w.lons, strict=True)],
        )
        for w in extract.ways
    ]
    return NetworkData(
        report=report,
        source=str(source),
        source_sha256=sha,
        build_seconds=seconds,
        roads=roads,
        addresses=extract.addresses,
        places=extract.places,
        stations=extract.stations,
        areas=extract.areas,
    )


def build_network(settings: GeoSettings, *, progress: bool = False) -> RoadNetwork:
    """Read the OSM file and build the network from scratch (no cache)."""
    path = settings.resolved_osm_file()
    if not path.is_file():
        raise ConfigError(f"OSM file {path} does not exist", field="osm_file")
    sha = file_sha256(path)
    started = time.perf_counter()
    with tqdm(total=3, desc=f"road graph {path.name}", disable=not progress, unit="step") as bar:
        bar.set_postfix_str("reading OSM")
        extract = read_osm(path)
        bar.update()
        bar.set_postfix_str("building graph")
        graph, report = build_graph(extract.ways, settings)
        bar.update()
        bar.set_postfix_str(f"contracting {graph.n_nodes} nodes")
        hierarchy = build_hierarchy(
            graph.n_nodes,
            graph.src,
            graph.dst,
            graph.time_s,
            graph.length_m,
            core_fraction=CORE_FRACTION,
        )
        bar.update()
    data = _extract_data(extract, report, path, sha, time.perf_counter() - started)
    return RoadNetwork(graph, hierarchy, data, settings)


def _save_npz(path: Path, arrays: Mapping[str, NDArray[Any]]) -> None:
    with path.open("wb") as fh:
        np.savez(fh, allow_pickle=False, **arrays)


def save_network(network: RoadNetwork, folder: Path) -> None:
    """Write the network to a cache folder atomically."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=folder.parent))
    try:
        g = network.graph
        _save_npz(tmp / "graph.npz", {k: getattr(g, k) for k in _GRAPH_ARRAYS})
        _save_npz(tmp / "ch.npz", network.hierarchy.arrays())
        meta = {
            "way_name": g.way_name,
            "way_highway": g.way_highway,
            "data": asdict(network.data),
        }
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        try:
            tmp.replace(folder)
        except OSError:
            # Another process finished the same build first; its copy is as good.
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _load_cached(folder: Path, settings: GeoSettings) -> RoadNetwork:
    with np.load(folder / "graph.npz", allow_pickle=False) as arrays:
        garr = {k: arrays[k] for k in _GRAPH_ARRAYS}
    with np.load(folder / "ch.npz", allow_pickle=False) as arrays:
        hierarchy = Hierarchy.from_arrays({k: arrays[k] for k in arrays.files})
    meta: dict[str, Any] = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    graph = RoadGraph(**garr, way_name=meta["way_name"], way_highway=meta["way_highway"])
    d = meta["data"]
    data = NetworkData(
        report=BuildReport(**d["report"]),
        source=d["source"],
        source_sha256=d["source_sha256"],
        build_seconds=d["build_seconds"],
        roads=[RoadLine(**r) for r in d["roads"]],
        addresses=[AddressRecord(**r) for r in d["addresses"]],
        places=[PlaceRecord(**r) for r in d["places"]],
        stations=[StationRecord(**r) for r in d["stations"]],
        areas=[AreaRecord(**r) for r in d["areas"]],
    )
    return RoadNetwork(graph, hierarchy, data, settings)


class EdgeWeights(Protocol):
    """A travel-time model as the road network sees it: one time per edge."""

    def edge_key(self) -> str:
        """Return a digest of the weights ("posted" keeps the graph's own times)."""
        ...

    def edge_times(self, graph: RoadGraph) -> NDArray[np.float64]:
        """Return the seconds to drive each edge."""
        ...


def reweight(
    network: RoadNetwork, weights: EdgeWeights, *, progress: bool = False, cache: bool = True
) -> RoadNetwork:
    """Return the network with the model's edge times and its own hierarchy (cached on
    disk unless ``cache`` is false, e.g. for the many models of a cross-validation)."""
    key = weights.edge_key()
    if key == "posted":
        return network
    folder = cache_path(network.settings, network.data.source_sha256).with_name(
        cache_path(network.settings, network.data.source_sha256).name + f"-w{key}"
    )
    if cache and (folder / "meta.json").is_file():
        try:
            return _load_cached(folder, network.settings)
        except (OSError, ValueError, KeyError, TypeError):
            shutil.rmtree(folder, ignore_errors=True)
    g = network.graph
    time_s = np.asarray(weights.edge_times(g), np.float64)
    if time_s.shape != g.time_s.shape or not np.all(np.isfinite(time_s) & (time_s >= 0)):
        raise ConfigError("the travel model gives a negative or non-finite edge time")
    graph = dataclasses.replace(g, time_s=time_s)
    with tqdm(total=1, desc=f"travel model {key}", disable=not progress, unit="step") as bar:
        hierarchy = build_hierarchy(
            graph.n_nodes,
            graph.src,
            graph.dst,
            graph.time_s,
            graph.length_m,
            core_fraction=CORE_FRACTION,
        )
        bar.update()
    out = RoadNetwork(graph, hierarchy, network.data, network.settings)
    if cache:
        save_network(out, folder)
    return out


def load_network(
    settings: GeoSettings, *, progress: bool = False, weights: EdgeWeights | None = None
) -> RoadNetwork:
    """Return the network for the settings, building and caching it on first use.

    With ``weights`` (a travel model), edge times come from the model instead of
    the posted limits, and the contraction hierarchy is built (and cached) for them.
    """
    base = _load_network(settings, progress=progress)
    return base if weights is None else reweight(base, weights, progress=progress)


def _load_network(settings: GeoSettings, *, progress: bool = False) -> RoadNetwork:
    path = settings.resolved_osm_file()
    if not path.is_file():
        raise ConfigError(f"OSM file {path} does not exist", field="osm_file")
    folder = cache_path(settings, file_sha256(path))
    if (folder / "meta.json").is_file():
        try:
            return _load_cached(folder, settings)
        except (OSError, ValueError, KeyError, TypeError):
            # A damaged cache is rebuilt rather than trusted.
            shutil.rmtree(folder, ignore_errors=True)
    network = build_network(settings, progress=progress)
    save_network(network, folder)
    return network
