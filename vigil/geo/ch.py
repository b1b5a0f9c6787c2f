"""Contraction hierarchy with (R)PHAST many-to-one queries, compiled with numba.

Why hand-written: dispatch needs the drive time from *every* available unit to
one incident. A plain Dijkstra over a 250k-node city costs tens of milliseconds
in scipy; no maintained Python package offers a contraction hierarchy with a
one-to-all (PHAST) or restricted (RPHAST) query (RoutingKit and OSRM are C++
libraries without Python bindings for these queries), and pure Python would be
a hundred times slower. So this module implements the published algorithms,
in numba (``cache=True``):

* Geisberger et al., "Contraction Hierarchies" (WEA 2008): nodes are contracted
  in order of a lazily updated priority (2 x edge difference + contracted
  neighbours + level); a shortcut u->w is added only when a bounded witness
  search finds no path u->w avoiding v at most as short. A bounded search can
  only add *extra* shortcuts, never miss one, so distances stay exact.
  Priorities are re-evaluated only when a node reaches the top of the queue
  (pure lazy updates), not for every neighbour after each contraction.
* Core-CH: contraction stops when ``core_fraction`` x n nodes are left. On a
  grid-like city, with no road hierarchy, those last nodes are the costly part
  of preprocessing; the query runs a Dijkstra over this small core instead.
* Delling et al., "PHAST: Hardware-accelerated shortest path trees" (IPDPS
  2011): one upward search from the target in the reverse hierarchy (here it
  continues through the whole core), then one linear sweep over the other nodes
  in descending rank, which gives the exact distance from every node to the
  target. Nodes are renumbered by descending rank so the sweep reads memory in
  order.
* Delling et al., "Faster batched shortest paths in road networks" (ATMOS
  2011), RPHAST: for a fixed set of sources, the sweep only needs the nodes
  reachable upward from them; ``Hierarchy.restriction`` extracts that part once
  per source set into compact arrays, and each query sweeps only those.

Each edge carries its travel time (the weight) and its length in metres; the
sweep carries the metres of the chosen fastest path alongside the time.
Correctness is checked against scipy and networkx by property tests.
"""

# numba kernels take their arrays positionally (no keyword-only calls in nopython
# mode is the convention here), and the contraction loop is one long function on purpose.
# ruff: noqa: PLR0917, PLR0912, PLR0915

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import numba
import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I32 = NDArray[np.int32]
I64 = NDArray[np.int64]

_F = TypeVar("_F", bound=Callable[..., Any])

INF = np.inf
# Settled-node limits of witness searches: smaller while estimating priorities,
# larger when actually contracting (fewer superfluous shortcuts).
SIM_SETTLE_LIMIT = 40
CONTRACT_SETTLE_LIMIT = 200


def _jit(fn: _F) -> _F:
    """Compile with numba in nopython mode, cached on disk."""
    return cast(_F, numba.njit(cache=True, nogil=True)(fn))


# ---------------------------------------------------------------- binary heap
@_jit
def _heap_push(keys: F64, vals: I64, size: int, key: float, val: int) -> int:
    i = size
    keys[i] = key
    vals[i] = val
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] <= keys[i]:
            break
        keys[parent], keys[i] = keys[i], keys[parent]
        vals[parent], vals[i] = vals[i], vals[parent]
        i = parent
    return size + 1


@_jit
def _heap_pop(keys: F64, vals: I64, size: int) -> int:
    """Remove the root (read keys[0], vals[0] before calling); return the new size."""
    size -= 1
    keys[0] = keys[size]
    vals[0] = vals[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and keys[left + 1] < keys[left]:
            child = left + 1
        if keys[i] <= keys[child]:
            break
        keys[child], keys[i] = keys[i], keys[child]
        vals[child], vals[i] = vals[i], vals[child]
        i = child
    return size


# ---------------------------------------------------------- plain Dijkstra
@_jit
def dijkstra(
    indptr: I64,
    head: I32,
    weight: F64,
    seeds: I64,
    seed_cost: F64,
    targets: I64,
) -> tuple[F64, I64]:
    """Return (cost, predecessor edge) from the seeds; stop once all targets are settled.

    The graph is CSR: the edges leaving node x are indptr[x]..indptr[x+1], edge e
    goes to head[e]. An empty ``targets`` searches the whole graph.
    """
    n = indptr.shape[0] - 1
    cost = np.full(n, INF)
    pred = np.full(n, -1, np.int64)
    done = np.zeros(n, np.bool_)
    is_target = np.zeros(n, np.bool_)
    remaining = 0
    for t in targets:
        if not is_target[t]:
            is_target[t] = True
            remaining += 1
    cap = head.shape[0] + seeds.shape[0] + 1
    keys = np.empty(cap)
    vals = np.empty(cap, np.int64)
    size = 0
    for i in range(seeds.shape[0]):
        s = seeds[i]
        if seed_cost[i] < cost[s]:
            cost[s] = seed_cost[i]
            size = _heap_push(keys, vals, size, seed_cost[i], s)
    while size > 0:
        d = keys[0]
        x = vals[0]
        size = _heap_pop(keys, vals, size)
        if done[x]:
            continue
        done[x] = True
        if is_target[x]:
            remaining -= 1
            if remaining == 0:
                break
        for e in range(indptr[x], indptr[x + 1]):
            y = head[e]
            nd = d + weight[e]
            if nd < cost[y]:
                cost[y] = nd
                pred[y] = e
                size = _heap_push(keys, vals, size, nd, y)
    return cost, pred


# ---------------------------------------------------------- contraction
@_jit
def _witness(
    start: int,
    skip: int,
    max_cost: float,
    limit: int,
    head_out: I64,
    nxt_out: I64,
    e_to: I64,
    e_w: F64,
    contracted: NDArray[np.bool_],
    dist: F64,
    touched: I64,
    keys: F64,
    vals: I64,
    is_target: NDArray[np.bool_],
    n_targets: int,
) -> int:
    """Run a bounded Dijkstra from start avoiding skip; fill dist; return #touched.

    It stops early once every node flagged in ``is_target`` is settled.
    """
    n_touched = 0
    dist[start] = 0.0
    touched[n_touched] = start
    n_touched += 1
    size = _heap_push(keys, vals, 0, 0.0, start)
    settled = 0
    while size > 0:
        d = keys[0]
        x = vals[0]
        size = _heap_pop(keys, vals, size)
        if d > dist[x]:
            continue
        if d > max_cost:
            break
        settled += 1
        if settled > limit:
            break
        if is_target[x]:
            n_targets -= 1
            if n_targets <= 0:
                break
        e = head_out[x]
        while e >= 0:
            y = e_to[e]
            if y != skip and not contracted[y]:
                nd = d + e_w[e]
                if nd < dist[y]:
                    if dist[y] == INF:
                        if n_touched >= touched.shape[0]:
                            return n_touched
                        touched[n_touched] = y
                        n_touched += 1
                    dist[y] = nd
                    if size < keys.shape[0]:
                        size = _heap_push(keys, vals, size, nd, y)
            e = nxt_out[e]
    return n_touched


@_jit
def _neighbours(
    v: int,
    head: I64,
    nxt: I64,
    other: I64,
    e_w: F64,
    contracted: NDArray[np.bool_],
    out_node: I64,
    out_edge: I64,
) -> int:
    """Collect v's live neighbours on one side (cheapest edge each); return count."""
    # Lists hold no parallel edges (shortcuts update an existing u->w edge), so no
    # de-duplication is needed; dead edges are unlinked by _prune after contraction.
    k = 0
    e = head[v]
    while e >= 0:
        y = other[e]
        if not contracted[y] and y != v:
            if k >= out_node.shape[0]:
                raise ValueError("node degree exceeds the contraction scratch size")
            out_node[k] = y
            out_edge[k] = e
            k += 1
        e = nxt[e]
    return k


@_jit
def _prune(x: int, head: I64, nxt: I64, other: I64, contracted: NDArray[np.bool_]) -> None:
    """Unlink x's edges to contracted nodes so later scans skip them."""
    prev = -1
    e = head[x]
    while e >= 0:
        following = nxt[e]
        if contracted[other[e]]:
            if prev < 0:
                head[x] = following
            else:
                nxt[prev] = following
        else:
            prev = e
        e = following


@_jit
def _simulate(
    v: int,
    limit: int,
    head_in: I64,
    nxt_in: I64,
    e_from: I64,
    head_out: I64,
    nxt_out: I64,
    e_to: I64,
    e_w: F64,
    contracted: NDArray[np.bool_],
    deleted_nb: I64,
    level: I64,
    dist: F64,
    touched: I64,
    wkeys: F64,
    wvals: I64,
    in_node: I64,
    in_edge: I64,
    out_node: I64,
    out_edge: I64,
    is_target: NDArray[np.bool_],
) -> float:
    """Return v's priority: 2 x (shortcuts needed - edges removed) + neighbours + level."""
    k_in = _neighbours(v, head_in, nxt_in, e_from, e_w, contracted, in_node, in_edge)
    k_out = _neighbours(v, head_out, nxt_out, e_to, e_w, contracted, out_node, out_edge)
    shortcuts = 0
    max_out = 0.0
    for j in range(k_out):
        max_out = max(max_out, e_w[out_edge[j]])
        is_target[out_node[j]] = True
    for i in range(k_in):
        u = in_node[i]
        wu = e_w[in_edge[i]]
        nt = _witness(
            u, v, wu + max_out, limit, head_out, nxt_out, e_to, e_w,
            contracted, dist, touched, wkeys, wvals, is_target, k_out,
        )  # fmt: skip
        for j in range(k_out):
            w = out_node[j]
            if w != u and dist[w] > wu + e_w[out_edge[j]]:
                shortcuts += 1
        for t in range(nt):
            dist[touched[t]] = INF
    for j in range(k_out):
        is_target[out_node[j]] = False
    return float(2.0 * (shortcuts - (k_in + k_out)) + deleted_nb[v] + level[v])


@_jit
def _contract_ch(
    n: int,
    src: I64,
    dst: I64,
    weight: F64,
    length: F64,
    core_target: int,
) -> tuple[I64, I64, I64, F64, F64, I64, int]:
    """Contract all but a core of about ``core_target`` nodes.

    Return (rank, edge from, to, weight, length, middle, core size); the core
    nodes get the highest ranks, in no particular order.
    """
    m0 = src.shape[0]
    cap = max(16, 3 * m0)
    e_from = np.empty(cap, np.int64)
    e_to = np.empty(cap, np.int64)
    e_w = np.empty(cap)
    e_len = np.empty(cap)
    e_mid = np.full(cap, -1, np.int64)
    nxt_out = np.empty(cap, np.int64)
    nxt_in = np.empty(cap, np.int64)
    head_out = np.full(n, -1, np.int64)
    head_in = np.full(n, -1, np.int64)
    m = 0
    for i in range(m0):
        e_from[m] = src[i]
        e_to[m] = dst[i]
        e_w[m] = weight[i]
        e_len[m] = length[i]
        nxt_out[m] = head_out[src[i]]
        head_out[src[i]] = m
        nxt_in[m] = head_in[dst[i]]
        head_in[dst[i]] = m
        m += 1

    contracted = np.zeros(n, np.bool_)
    level = np.zeros(n, np.int64)
    deleted_nb = np.zeros(n, np.int64)
    rank = np.full(n, -1, np.int64)
    prio = np.zeros(n)
    dist = np.full(n, INF)
    is_target = np.zeros(n, np.bool_)
    touched = np.empty(4096, np.int64)
    wkeys = np.empty(8192)
    wvals = np.empty(8192, np.int64)
    max_deg = 4096
    in_node = np.empty(max_deg, np.int64)
    in_edge = np.empty(max_deg, np.int64)
    out_node = np.empty(max_deg, np.int64)
    out_edge = np.empty(max_deg, np.int64)
    # Separate scratch for priority updates, which run while in_/out_ lists are in use.
    sn_in = np.empty(max_deg, np.int64)
    se_in = np.empty(max_deg, np.int64)
    sn_out = np.empty(max_deg, np.int64)
    se_out = np.empty(max_deg, np.int64)

    hkeys = np.empty(8 * n + 16)
    hvals = np.empty(8 * n + 16, np.int64)
    hsize = 0
    for v in range(n):
        prio[v] = _simulate(
            v, SIM_SETTLE_LIMIT, head_in, nxt_in, e_from, head_out, nxt_out, e_to, e_w,
            contracted, deleted_nb, level, dist, touched, wkeys, wvals,
            sn_in, se_in, sn_out, se_out, is_target,
        )  # fmt: skip
        hsize = _heap_push(hkeys, hvals, hsize, prio[v], v)

    next_rank = 0
    while hsize > 0 and n - next_rank > core_target:
        key = hkeys[0]
        v = hvals[0]
        hsize = _heap_pop(hkeys, hvals, hsize)
        if contracted[v] or key != prio[v]:
            continue
        # Lazy update: re-evaluate, and requeue if it is no longer the minimum.
        p = _simulate(
            v, SIM_SETTLE_LIMIT, head_in, nxt_in, e_from, head_out, nxt_out, e_to, e_w,
            contracted, deleted_nb, level, dist, touched, wkeys, wvals,
            sn_in, se_in, sn_out, se_out, is_target,
        )  # fmt: skip
        if hsize > 0 and p > hkeys[0]:
            prio[v] = p
            hsize = _heap_push(hkeys, hvals, hsize, p, v)
            continue
        k_in = _neighbours(v, head_in, nxt_in, e_from, e_w, contracted, in_node, in_edge)
        k_out = _neighbours(v, head_out, nxt_out, e_to, e_w, contracted, out_node, out_edge)
        if m + k_in * k_out >= cap:
            new_cap = 2 * cap + k_in * k_out
            e_from = np.concatenate((e_from, np.empty(new_cap - cap, np.int64)))
            e_to = np.concatenate((e_to, np.empty(new_cap - cap, np.int64)))
            e_w = np.concatenate((e_w, np.empty(new_cap - cap)))
            e_len = np.concatenate((e_len, np.empty(new_cap - cap)))
            e_mid = np.concatenate((e_mid, np.full(new_cap - cap, -1, np.int64)))
            nxt_out = np.concatenate((nxt_out, np.empty(new_cap - cap, np.int64)))
            nxt_in = np.concatenate((nxt_in, np.empty(new_cap - cap, np.int64)))
            cap = new_cap
        max_out = 0.0
        for j in range(k_out):
            max_out = max(max_out, e_w[out_edge[j]])
            is_target[out_node[j]] = True
        for i in range(k_in):
            u = in_node[i]
            wu = e_w[in_edge[i]]
            lu = e_len[in_edge[i]]
            nt = _witness(
                u, v, wu + max_out, CONTRACT_SETTLE_LIMIT, head_out, nxt_out, e_to, e_w,
                contracted, dist, touched, wkeys, wvals, is_target, k_out,
            )  # fmt: skip
            for j in range(k_out):
                w = out_node[j]
                sw = wu + e_w[out_edge[j]]
                if w == u or dist[w] <= sw:
                    continue
                # Reuse an existing u->w edge if there is one, else append a shortcut.
                found = -1
                e = head_out[u]
                while e >= 0:
                    if e_to[e] == w:
                        found = e
                        break
                    e = nxt_out[e]
                if found >= 0:
                    if sw < e_w[found]:
                        e_w[found] = sw
                        e_len[found] = lu + e_len[out_edge[j]]
                        e_mid[found] = v
                    continue
                e_from[m] = u
                e_to[m] = w
                e_w[m] = sw
                e_len[m] = lu + e_len[out_edge[j]]
                e_mid[m] = v
                nxt_out[m] = head_out[u]
                head_out[u] = m
                nxt_in[m] = head_in[w]
                head_in[w] = m
                m += 1
            for t in range(nt):
                dist[touched[t]] = INF
        for j in range(k_out):
            is_target[out_node[j]] = False
        contracted[v] = True
        rank[v] = next_rank
        next_rank += 1
        # Neighbours: update level and contracted-neighbour count. Their priorities
        # are not re-simulated here: the lazy check at pop time does it, which
        # measured 2-3x faster on grids with fewer shortcuts (docs/perf/routing.md).
        for i in range(k_in):
            u = in_node[i]
            deleted_nb[u] += 1
            level[u] = max(level[u], level[v] + 1)
        for j in range(k_out):
            w = out_node[j]
            deleted_nb[w] += 1
            level[w] = max(level[w], level[v] + 1)
        for i in range(k_in + k_out):
            u = in_node[i] if i < k_in else out_node[i - k_in]
            _prune(u, head_out, nxt_out, e_to, contracted)
            _prune(u, head_in, nxt_in, e_from, contracted)
    n_core = n - next_rank
    for v in range(n):
        if not contracted[v]:
            rank[v] = next_rank
            next_rank += 1
    return (
        rank,
        e_from[:m].copy(),
        e_to[:m].copy(),
        e_w[:m].copy(),
        e_len[:m].copy(),
        e_mid[:m].copy(),
        n_core,
    )


# ---------------------------------------------------------- PHAST query
@_jit
def _upward(
    up_ptr: I64,
    up_to: I64,
    up_w: F64,
    up_len: F64,
    seeds: I64,
    seed_cost: F64,
    seed_len: F64,
    cost: F64,
    metres: F64,
    touched: I64,
) -> int:
    """Dijkstra from the seeds over reverse-upward edges and the core; position space.

    A non-core node's list holds the edges from higher-ranked nodes into it; a
    core node's list holds the edges from the other core nodes into it, so the
    search finishes with exact distances for the whole core. ``cost`` and
    ``metres`` must be all infinite on entry; the positions written are listed
    in ``touched`` (returns how many) so a caller can reset them cheaply.
    """
    n_touched = 0
    cap = up_to.shape[0] + seeds.shape[0] + 1
    keys = np.empty(cap)
    vals = np.empty(cap, np.int64)
    size = 0
    for i in range(seeds.shape[0]):
        s = seeds[i]
        if seed_cost[i] < cost[s]:
            if cost[s] == INF:
                touched[n_touched] = s
                n_touched += 1
            cost[s] = seed_cost[i]
            metres[s] = seed_len[i]
            size = _heap_push(keys, vals, size, seed_cost[i], s)
    while size > 0:
        d = keys[0]
        x = vals[0]
        size = _heap_pop(keys, vals, size)
        if d > cost[x]:
            continue
        for e in range(up_ptr[x], up_ptr[x + 1]):
            y = up_to[e]
            nd = d + up_w[e]
            if nd < cost[y]:
                if cost[y] == INF:
                    touched[n_touched] = y
                    n_touched += 1
                cost[y] = nd
                metres[y] = metres[x] + up_len[e]
                size = _heap_push(keys, vals, size, nd, y)
    return n_touched


@_jit
def _reset(cost: F64, metres: F64, touched: I64, n_touched: int) -> None:
    for i in range(n_touched):
        cost[touched[i]] = INF
        metres[touched[i]] = INF


@_jit
def _sweep(
    cost: F64, metres: F64, core: int, sw_ptr: I64, sw_to: I64, sw_w: F64, sw_len: F64
) -> None:
    """Downward sweep in place: positions ascend as ranks descend, so sw_to[e] < x is final."""
    for x in range(core, cost.shape[0]):
        best = cost[x]
        best_len = metres[x]
        for e in range(sw_ptr[x], sw_ptr[x + 1]):
            c = sw_w[e] + cost[sw_to[e]]
            if c < best:
                best = c
                best_len = sw_len[e] + metres[sw_to[e]]
        cost[x] = best
        metres[x] = best_len


@_jit
def _select(sw_ptr: I64, sw_to: I64, core: int, starts: I64) -> I64:
    """Return, ascending, the non-core positions reachable upward from the starts (RPHAST)."""
    n = sw_ptr.shape[0] - 1
    mark = np.zeros(n, np.bool_)
    stack = np.empty(n, np.int64)
    top = 0
    for s in starts:
        if s >= core and not mark[s]:
            mark[s] = True
            stack[top] = s
            top += 1
    while top > 0:
        top -= 1
        x = stack[top]
        for e in range(sw_ptr[x], sw_ptr[x + 1]):
            y = sw_to[e]
            if y >= core and not mark[y]:
                mark[y] = True
                stack[top] = y
                top += 1
    return np.flatnonzero(mark).astype(np.int64)


@_jit
def _restricted_arrays(
    sw_ptr: I64, sw_to: I64, sw_w: F64, sw_len: F64, core: int, sel: I64
) -> tuple[I64, I64, F64, F64]:
    """Re-index the selected nodes' upward edges to local slots (core p -> p, sel[i] -> core+i)."""
    n = sw_ptr.shape[0] - 1
    local = np.empty(n, np.int64)
    for p in range(core):
        local[p] = p
    m = 0
    for i in range(sel.shape[0]):
        local[sel[i]] = core + i
        m += sw_ptr[sel[i] + 1] - sw_ptr[sel[i]]
    ptr = np.empty(sel.shape[0] + 1, np.int64)
    to = np.empty(m, np.int64)
    w = np.empty(m)
    ln = np.empty(m)
    k = 0
    ptr[0] = 0
    for i in range(sel.shape[0]):
        x = sel[i]
        for e in range(sw_ptr[x], sw_ptr[x + 1]):
            to[k] = local[sw_to[e]]
            w[k] = sw_w[e]
            ln[k] = sw_len[e]
            k += 1
        ptr[i + 1] = k
    return ptr, to, w, ln


@_jit
def _restricted_sweep(
    cost: F64,
    metres: F64,
    core: int,
    sel: I64,
    ptr: I64,
    to: I64,
    w: F64,
    ln: F64,
    wanted: I64,
) -> tuple[F64, F64]:
    """Sweep only the selected nodes; return (seconds, metres) at the wanted local slots."""
    k = sel.shape[0]
    lc = np.empty(core + k)
    lm = np.empty(core + k)
    lc[:core] = cost[:core]
    lm[:core] = metres[:core]
    for i in range(k):
        best = cost[sel[i]]
        best_len = metres[sel[i]]
        for e in range(ptr[i], ptr[i + 1]):
            c = w[e] + lc[to[e]]
            if c < best:
                best = c
                best_len = ln[e] + lm[to[e]]
        lc[core + i] = best
        lm[core + i] = best_len
    return lc[wanted], lm[wanted]


def _csr(n: int, keys: I64, *columns: NDArray[Any]) -> tuple[I64, list[NDArray[Any]]]:
    order = np.argsort(keys, kind="stable")
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=ptr[1:])
    return ptr, [np.ascontiguousarray(c[order]) for c in columns]


@dataclass(frozen=True, slots=True, kw_only=True)
class Restriction:
    """The part of the sweep that a fixed set of source nodes needs (RPHAST)."""

    sources: I64  # sorted distinct positions the restriction was built for
    slot: I64  # local slot of each of ``sources``
    sel: I64
    ptr: I64
    to: I64
    w: F64
    ln: F64

    @property
    def nodes(self) -> int:
        """Return the number of non-core nodes the restricted sweep visits."""
        return int(self.sel.shape[0])


@dataclass(frozen=True, slots=True, kw_only=True)
class Hierarchy:
    """A contracted graph arranged for PHAST; arrays are in position space.

    Positions 0..core-1 hold the uncontracted core; the rest follow in
    descending rank.
    """

    position: I64  # node id -> position (0 = highest rank)
    up_ptr: I64
    up_to: I64
    up_w: F64
    up_len: F64
    sw_ptr: I64
    sw_to: I64
    sw_w: F64
    sw_len: F64
    shortcuts: int
    core: int
    # Per-thread scratch (infinite cost/metres arrays reset after each query), so a
    # query neither allocates nor page-faults n-sized arrays.
    _scratch: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    def arrays(self) -> dict[str, NDArray[Any]]:
        """Return the arrays to save."""
        return {
            "position": self.position,
            "up_ptr": self.up_ptr,
            "up_to": self.up_to,
            "up_w": self.up_w,
            "up_len": self.up_len,
            "sw_ptr": self.sw_ptr,
            "sw_to": self.sw_to,
            "sw_w": self.sw_w,
            "sw_len": self.sw_len,
            "shortcuts": np.asarray([self.shortcuts], np.int64),
            "core": np.asarray([self.core], np.int64),
        }

    @classmethod
    def from_arrays(cls, data: dict[str, NDArray[Any]]) -> Hierarchy:
        """Rebuild from saved arrays."""
        return cls(
            position=data["position"],
            up_ptr=data["up_ptr"],
            up_to=data["up_to"],
            up_w=data["up_w"],
            up_len=data["up_len"],
            sw_ptr=data["sw_ptr"],
            sw_to=data["sw_to"],
            sw_w=data["sw_w"],
            sw_len=data["sw_len"],
            shortcuts=int(data["shortcuts"][0]),
            core=int(data["core"][0]),
        )

    def _search(self, seeds: I64, seed_cost: F64, seed_len: F64) -> tuple[F64, F64, I64, int]:
        """Run the upward search into this thread's scratch arrays."""
        sc = self._scratch
        n = self.position.shape[0]
        if not hasattr(sc, "cost"):
            sc.cost = np.full(n, INF)
            sc.metres = np.full(n, INF)
            sc.touched = np.empty(n, np.int64)
        cost: F64 = sc.cost
        metres: F64 = sc.metres
        touched: I64 = sc.touched
        k = _upward(
            self.up_ptr, self.up_to, self.up_w, self.up_len,
            self.position[seeds], seed_cost, seed_len, cost, metres, touched,
        )  # fmt: skip
        return cost, metres, touched, k

    def distances_to(self, seeds: I64, seed_cost: F64, seed_len: F64) -> tuple[F64, F64]:
        """Return (seconds, metres) from every node (by node id) to the seeds (full PHAST).

        A seed is a node id with the cost (and metres) still to go from it to the
        target; several seeds model a target in the middle of a two-way street.
        """
        n = self.position.shape[0]
        cost = np.full(n, INF)
        metres = np.full(n, INF)
        _upward(
            self.up_ptr, self.up_to, self.up_w, self.up_len,
            self.position[seeds], seed_cost, seed_len, cost, metres, np.empty(n, np.int64),
        )  # fmt: skip
        _sweep(cost, metres, self.core, self.sw_ptr, self.sw_to, self.sw_w, self.sw_len)
        return cost[self.position], metres[self.position]

    def restriction(self, nodes: I64) -> Restriction:
        """Return the restricted sweep for these source node ids (build once per unit set)."""
        sources = np.unique(self.position[nodes])
        sel = _select(self.sw_ptr, self.sw_to, self.core, sources)
        ptr, to, w, ln = _restricted_arrays(
            self.sw_ptr, self.sw_to, self.sw_w, self.sw_len, self.core, sel
        )
        slot = np.where(sources < self.core, sources, self.core + np.searchsorted(sel, sources))
        return Restriction(sources=sources, slot=slot, sel=sel, ptr=ptr, to=to, w=w, ln=ln)

    def distances_to_nodes(
        self,
        seeds: I64,
        seed_cost: F64,
        seed_len: F64,
        nodes: I64,
        restriction: Restriction | None = None,
    ) -> tuple[F64, F64]:
        """Return (seconds, metres) from the given node ids only.

        With a ``restriction`` built for a superset of ``nodes`` only the part of
        the sweep those nodes depend on runs (RPHAST); without, the full sweep.
        """
        pos = self.position[nodes]
        if restriction is None:
            full_cost, full_metres = self.distances_to(seeds, seed_cost, seed_len)
            return full_cost[nodes], full_metres[nodes]
        r = restriction
        idx = np.searchsorted(r.sources, pos)
        if pos.shape[0] and (idx.max() >= r.sources.shape[0] or (r.sources[idx] != pos).any()):
            raise ValueError("the restriction was built for other source nodes")
        cost, metres, touched, k = self._search(seeds, seed_cost, seed_len)
        try:
            return _restricted_sweep(
                cost, metres, self.core, r.sel, r.ptr, r.to, r.w, r.ln, r.slot[idx]
            )  # fmt: skip
        finally:
            _reset(cost, metres, touched, k)


def build_hierarchy(
    n: int, src: I32, dst: I32, weight: F64, length: F64, *, core_fraction: float = 0.0
) -> Hierarchy:
    """Contract the graph (leaving a core of ``core_fraction`` x n nodes) for PHAST."""
    core_target = int(core_fraction * n)
    rank, e_from, e_to, e_w, e_len, e_mid, core = _contract_ch(
        n, src.astype(np.int64), dst.astype(np.int64), weight, length, core_target
    )
    position = (n - 1 - rank).astype(np.int64)
    pf = position[e_from]
    pt = position[e_to]
    # Edges between two core nodes feed the query's core Dijkstra.
    in_core = (pf < core) & (pt < core)
    down = (pf < pt) | in_core  # from a higher-ranked node to a lower-ranked one
    # Reverse-upward (and core) edges: stored at e_to, pointing to e_from.
    up_ptr, (up_to, up_w, up_len) = _csr(n, pt[down], pf[down], e_w[down], e_len[down])
    up = ~down
    sw_ptr, (sw_to, sw_w, sw_len) = _csr(n, pf[up], pt[up], e_w[up], e_len[up])
    return Hierarchy(
        position=position,
        up_ptr=up_ptr,
        up_to=up_to,
        up_w=up_w,
        up_len=up_len,
        sw_ptr=sw_ptr,
        sw_to=sw_to,
        sw_w=sw_w,
        sw_len=sw_len,
        shortcuts=int((e_mid >= 0).sum()),
        core=int(core),
    )
