from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra as scipy_dijkstra

from vigil.geo.ch import build_hierarchy

Edges = tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float64], NDArray[np.float64]]


def random_grid(side: int, seed: int, oneway_share: float) -> Edges:
    """Return a side x side street grid with random speeds and one-way blocks."""
    rng = np.random.default_rng(seed)
    idx = np.arange(side * side).reshape(side, side)
    a = np.concatenate((idx[:, :-1].ravel(), idx[:-1, :].ravel()))
    b = np.concatenate((idx[:, 1:].ravel(), idx[1:, :].ravel()))
    length = np.asarray(rng.uniform(60.0, 140.0, a.shape[0]), np.float64)
    oneway = rng.random(a.shape[0]) < oneway_share
    # A one-way block runs either way; a two-way block gets both directions.
    flip = oneway & (rng.random(a.shape[0]) < 0.5)
    fa = np.where(flip, b, a)
    fb = np.where(flip, a, b)
    two = ~oneway
    src = np.concatenate((fa, b[two]))
    dst = np.concatenate((fb, a[two]))
    metres = np.concatenate((length, length[two]))
    # Speeds per direction: 20-60 km/h.
    seconds = metres / (rng.uniform(20.0, 60.0, metres.shape[0]) / 3.6)
    return src.astype(np.int32), dst.astype(np.int32), seconds, metres


def reference(n: int, edges: Edges, target: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return scipy's (seconds, metres along that path) from every node to the target."""
    src, dst, seconds, metres = edges
    reverse = csr_matrix((seconds, (dst, src)), shape=(n, n))
    cost, pred = scipy_dijkstra(reverse, indices=target, return_predecessors=True)
    length_of = {(int(s), int(d)): float(m) for s, d, m in zip(src, dst, metres, strict=True)}
    along = np.full(n, np.inf)
    along[target] = 0.0
    for node in np.argsort(cost).tolist():
        p = int(pred[node])
        if p >= 0:
            along[node] = along[p] + length_of[(node, p)]
    return cost, along


@pytest.mark.parametrize("core_fraction", [0.0, 0.05, 0.3, 1.0])
def test_phast_equals_scipy_on_random_one_way_grids(core_fraction: float) -> None:
    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        st.integers(2, 14),
        st.integers(0, 2**31),
        st.floats(0.0, 0.6),
        st.data(),
    )
    def check(side: int, seed: int, oneway_share: float, data: st.DataObject) -> None:
        n = side * side
        edges = random_grid(side, seed, oneway_share)
        src, dst, seconds, metres = edges
        h = build_hierarchy(n, src, dst, seconds, metres, core_fraction=core_fraction)
        target = data.draw(st.integers(0, n - 1))
        sources = np.asarray(
            data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=30)), np.int64
        )
        expected, expected_m = reference(n, edges, target)
        seed_arr = np.asarray([target], np.int64)
        zero = np.zeros(1)
        full, full_m = h.distances_to(seed_arr, zero, zero)
        np.testing.assert_allclose(full, expected, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(full_m, expected_m, rtol=1e-9, atol=1e-6)
        # Restricted (RPHAST) sweep for a unit set, and the full sweep for a subset.
        r = h.restriction(sources)
        got, got_m = h.distances_to_nodes(seed_arr, zero, zero, sources, r)
        np.testing.assert_allclose(got, expected[sources], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(got_m, expected_m[sources], rtol=1e-9, atol=1e-6)
        got, _ = h.distances_to_nodes(seed_arr, zero, zero, sources)
        np.testing.assert_allclose(got, expected[sources], rtol=1e-9, atol=1e-9)

    check()


def test_restriction_refuses_other_sources() -> None:
    src, dst, seconds, metres = random_grid(6, 1, 0.0)
    h = build_hierarchy(36, src, dst, seconds, metres, core_fraction=0.0)
    r = h.restriction(np.asarray([0, 1], np.int64))
    seed = np.asarray([35], np.int64)
    with pytest.raises(ValueError, match="other source nodes"):
        h.distances_to_nodes(seed, np.zeros(1), np.zeros(1), np.asarray([7], np.int64), r)


def test_core_is_left_uncontracted() -> None:
    src, dst, seconds, metres = random_grid(10, 3, 0.3)
    h = build_hierarchy(100, src, dst, seconds, metres, core_fraction=0.2)
    assert h.core == 20
    none = build_hierarchy(100, src, dst, seconds, metres, core_fraction=0.0)
    assert none.core == 0
