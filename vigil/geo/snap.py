"""Snap points to the nearest road edge (not merely the nearest node).

Coordinates are projected to a local equirectangular plane in metres around the
network centre (error well under 1% across a city), and each undirected road
segment is densely sampled; a KD-tree over the samples finds candidates, and
the exact point-to-segment projection picks the nearest. The candidate radius
(nearest sample + half the sample spacing) makes the answer exact: the true
nearest segment always has a sample within that radius.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from vigil.core.errors import GeoError
from vigil.core.geometry import EARTH_RADIUS_M, LatLon
from vigil.geo.graph import RoadGraph

SAMPLE_SPACING_M = 10.0
# Nearest samples examined per point before falling back to a radius query.
CANDIDATES = 12


@dataclass(frozen=True, slots=True, kw_only=True)
class Snap:
    """A point projected onto a road segment.

    ``forward_edge`` runs node_a -> node_b and ``backward_edge`` node_b -> node_a
    (-1 when that direction is illegal). ``fraction`` is the position from node_a
    (0) to node_b (1).
    """

    point: LatLon
    on_road: LatLon
    distance_m: float
    node_a: int
    node_b: int
    fraction: float
    forward_edge: int
    backward_edge: int
    street: str


@dataclass(frozen=True, slots=True)
class Projection:
    """A local equirectangular projection to metres."""

    lat0: float
    lon0: float

    def to_xy(self, lat: NDArray[np.float64], lon: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return an (n, 2) array of metres east/north of the origin."""
        k = math.radians(1.0) * EARTH_RADIUS_M
        x = (lon - self.lon0) * k * math.cos(math.radians(self.lat0))
        y = (lat - self.lat0) * k
        return np.column_stack((x, y))

    def to_latlon(self, x: float, y: float) -> LatLon:
        """Return the position of a projected point."""
        k = math.radians(1.0) * EARTH_RADIUS_M
        return LatLon(self.lat0 + y / k, self.lon0 + x / (k * math.cos(math.radians(self.lat0))))


class Snapper:
    """Nearest-segment index over a road graph."""

    def __init__(self, graph: RoadGraph) -> None:
        self._graph = graph
        self.projection = Projection(float(graph.lat.mean()), float(graph.lon.mean()))
        xy = self.projection.to_xy(graph.lat, graph.lon)
        self._xy = xy
        # One undirected segment per node pair, remembering each directed edge.
        a = np.minimum(graph.src, graph.dst).astype(np.int64)
        b = np.maximum(graph.src, graph.dst).astype(np.int64)
        key = a * graph.n_nodes + b
        seg_key, seg_first = np.unique(key, return_index=True)
        self.seg_a = a[seg_first]
        self.seg_b = b[seg_first]
        edge_of = dict(
            zip(
                zip(graph.src.tolist(), graph.dst.tolist(), strict=True),
                range(graph.n_edges),
                strict=True,
            )
        )
        self.fwd = np.asarray(
            [
                edge_of.get((int(u), int(v)), -1)
                for u, v in zip(self.seg_a, self.seg_b, strict=True)
            ],
            np.int64,
        )
        self.bwd = np.asarray(
            [
                edge_of.get((int(v), int(u)), -1)
                for u, v in zip(self.seg_a, self.seg_b, strict=True)
            ],
            np.int64,
        )
        del seg_key
        pa = xy[self.seg_a]
        pb = xy[self.seg_b]
        seg_len = np.hypot(*(pb - pa).T)
        counts = np.maximum(1, np.ceil(seg_len / SAMPLE_SPACING_M).astype(np.int64)) + 1
        owner = np.repeat(np.arange(self.seg_a.shape[0]), counts)
        starts = np.cumsum(counts) - counts
        step = np.arange(owner.shape[0]) - np.repeat(starts, counts)
        t = step / np.repeat(counts - 1, counts)
        samples = pa[owner] + (pb - pa)[owner] * t[:, None]
        self._owner = owner
        self._tree = cKDTree(samples)

    @property
    def segments(self) -> int:
        """Return the number of undirected road segments."""
        return int(self.seg_a.shape[0])

    def snap_many(
        self, lat: NDArray[np.float64], lon: NDArray[np.float64]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Return (segment, fraction, distance m, projected xy) for each point."""
        pts = self.projection.to_xy(lat, lon)
        n = pts.shape[0]
        n_samples = self._owner.shape[0]
        seg = np.empty(n, np.int64)
        frac = np.empty(n)
        dist = np.empty(n)
        on = np.empty((n, 2))
        todo = np.arange(n)
        # Exact only if every sample within (nearest sample + half spacing) was among
        # the k returned; retry the others with a larger k, then a radius query.
        for wanted in (CANDIDATES, 8 * CANDIDATES):
            if todo.shape[0] == 0:
                break
            k = min(wanted, n_samples)
            dk, ik = self._tree.query(pts[todo], k=k)
            dk = np.asarray(dk, np.float64).reshape(todo.shape[0], k)
            ik = np.asarray(ik, np.int64).reshape(todo.shape[0], k)
            s_, f_, d_, o_ = self._nearest_of(pts[todo], self._owner[ik])
            seg[todo], frac[todo], dist[todo], on[todo] = s_, f_, d_, o_
            radius = dk[:, 0] + SAMPLE_SPACING_M / 2 + 1e-6
            todo = todo[(dk[:, -1] <= radius) & (k < n_samples)]
        for i in todo.tolist():
            d0, _ = self._tree.query(pts[i])
            ball = self._tree.query_ball_point(pts[i], float(d0) + SAMPLE_SPACING_M / 2 + 1e-6)
            cand = np.unique(self._owner[np.asarray(ball, np.int64)])
            s1, f1, d1, o1 = self._nearest_of(pts[i : i + 1], cand[None, :])
            seg[i], frac[i], dist[i], on[i] = s1[0], f1[0], d1[0], o1[0]
        return seg, frac, dist, on

    def _nearest_of(
        self, pts: NDArray[np.float64], cand: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Return the nearest of each row's candidate segments (vectorised projection)."""
        pa = self._xy[self.seg_a[cand]]
        pb = self._xy[self.seg_b[cand]]
        ab = pb - pa
        denom = np.maximum((ab * ab).sum(axis=2), 1e-12)
        t = np.clip(((pts[:, None, :] - pa) * ab).sum(axis=2) / denom, 0.0, 1.0)
        proj = pa + ab * t[:, :, None]
        dd = np.hypot(proj[:, :, 0] - pts[:, None, 0], proj[:, :, 1] - pts[:, None, 1])
        j = np.argmin(dd, axis=1)
        rows = np.arange(pts.shape[0])
        return cand[rows, j], t[rows, j], dd[rows, j], proj[rows, j]

    def snap(self, point: LatLon, *, max_distance_m: float) -> Snap:
        """Snap one point; raise GeoError if it is farther than max_distance_m from any road."""
        return self.snap_points([point], max_distance_m=max_distance_m)[0]

    def snap_points(self, points: list[LatLon], *, max_distance_m: float) -> list[Snap]:
        """Snap several points in one vectorised query; raise GeoError on the first too far."""
        if not points:
            return []
        lat = np.asarray([p.lat for p in points])
        lon = np.asarray([p.lon for p in points])
        seg, frac, dist, on = self.snap_many(lat, lon)
        out = []
        g = self._graph
        for i, point in enumerate(points):
            if dist[i] > max_distance_m:
                raise GeoError(
                    f"point {point.lat:.6f},{point.lon:.6f} is {dist[i]:.0f} m from the "
                    f"nearest drivable road (limit {max_distance_m:.0f} m)",
                    field="location",
                )
            s = int(seg[i])
            fwd = int(self.fwd[s])
            bwd = int(self.bwd[s])
            way = int(g.way[fwd if fwd >= 0 else bwd])
            out.append(
                Snap(
                    point=point,
                    on_road=self.projection.to_latlon(float(on[i, 0]), float(on[i, 1])),
                    distance_m=float(dist[i]),
                    node_a=int(self.seg_a[s]),
                    node_b=int(self.seg_b[s]),
                    fraction=float(frac[i]),
                    forward_edge=fwd,
                    backward_edge=bwd,
                    street=g.way_name[way],
                )
            )
        return out
