"""Turn-by-turn steps of a driven route: one step per street, with the turn onto it.

A step is named by the OSM way name (or ref) of the edges it covers; consecutive
edges on the same name are one step. The turn is classified from the change of
bearing where the streets meet (the last edge before against the first edge
after): within 20 degrees "continue", up to 60 "slight", up to 135 a turn, beyond
that "sharp"; a bearing change to the right (clockwise) is a right turn. Short
unnamed links (slip roads, crossings under 30 m) fold into the step before, as a
driver would not be told about them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

from vigil.geo.graph import RoadGraph

Maneuver = Literal[
    "depart",
    "continue",
    "slight_left",
    "slight_right",
    "left",
    "right",
    "sharp_left",
    "sharp_right",
    "arrive",
]

_FOLD_UNNAMED_M = 30.0
_SAY_M = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One instruction: the manoeuvre onto a street, then how far along it."""

    maneuver: Maneuver
    street: str  # "" when the way has no name or ref
    metres: float
    seconds: float
    lat: float  # where the manoeuvre happens
    lon: float


def bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the initial compass bearing from one point to another, in degrees [0, 360)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


def classify(turn_deg: float) -> Maneuver:
    """Return the manoeuvre for a bearing change in (-180, 180], positive = to the right."""
    a = abs(turn_deg)
    side = "right" if turn_deg > 0 else "left"
    if a < 20:
        return "continue"
    if a < 60:
        return "slight_right" if side == "right" else "slight_left"
    if a <= 135:
        return "right" if side == "right" else "left"
    return "sharp_right" if side == "right" else "sharp_left"


def _edge_bearing(g: RoadGraph, e: int) -> float:
    s, d = int(g.src[e]), int(g.dst[e])
    return bearing(float(g.lat[s]), float(g.lon[s]), float(g.lat[d]), float(g.lon[d]))


def route_steps(
    g: RoadGraph, legs: list[tuple[int, float]], *, speed_factor: float = 1.0
) -> list[Step]:
    """Return the steps of a path of (edge, share of it driven), from "depart" to "arrive"."""
    legs = [(e, share) for e, share in legs if e >= 0 and share > 0]
    if not legs:
        return []
    share = dict(legs)
    edges = [e for e, _ in legs]
    metres = {e: float(g.length_m[e]) * share[e] for e in edges}
    groups = _merge_same_street(g, _fold_short_unnamed(g, _by_way_name(g, edges), metres))
    steps: list[Step] = []
    for i, grp in enumerate(groups):
        s = int(g.src[grp[0]])
        maneuver: Maneuver = "depart"
        if i > 0:
            before = _edge_bearing(g, groups[i - 1][-1])
            maneuver = classify((_edge_bearing(g, grp[0]) - before + 540) % 360 - 180)
        steps.append(
            Step(
                maneuver=maneuver,
                street=_name(g, grp),
                metres=sum(metres[e] for e in grp),
                seconds=sum(float(g.time_s[e]) * share[e] for e in grp) / speed_factor,
                lat=float(g.lat[s]),
                lon=float(g.lon[s]),
            )
        )
    # A start a few metres short of the first junction is not worth saying.
    if len(steps) > 1 and steps[0].metres < _SAY_M:
        steps = [dataclasses.replace(steps[1], maneuver="depart"), *steps[2:]]
    last = int(g.dst[edges[-1]])
    end = (float(g.lat[last]), float(g.lon[last]))
    steps.append(
        Step(maneuver="arrive", street="", metres=0.0, seconds=0.0, lat=end[0], lon=end[1])
    )
    return steps


def _by_way_name(g: RoadGraph, edges: list[int]) -> list[list[int]]:
    groups: list[list[int]] = []
    for e in edges:
        if groups and _way_name(g, groups[-1][0]) == _way_name(g, e):
            groups[-1].append(e)
        else:
            groups.append([e])
    return groups


def _fold_short_unnamed(
    g: RoadGraph, groups: list[list[int]], metres: dict[int, float]
) -> list[list[int]]:
    """Fold short unnamed links into the step before (at the start: the one after)."""
    folded: list[list[int]] = []
    carry: list[int] = []
    for grp in groups:
        short = sum(metres[e] for e in grp) < _FOLD_UNNAMED_M
        if short and not _way_name(g, grp[0]):
            (folded[-1] if folded else carry).extend(grp)
            continue
        folded.append(carry + grp)
        carry = []
    if carry:  # the whole route is short unnamed links
        folded.append(carry)
    return folded


def _merge_same_street(g: RoadGraph, groups: list[list[int]]) -> list[list[int]]:
    merged: list[list[int]] = []
    for grp in groups:
        if merged and _name(g, merged[-1]) == _name(g, grp):
            merged[-1].extend(grp)
        else:
            merged.append(grp)
    return merged


def _way_name(g: RoadGraph, e: int) -> str:
    return g.way_name[int(g.way[e])]


def _name(g: RoadGraph, grp: list[int]) -> str:
    """Return the step's street: the name of its longest named part."""
    best, best_m = "", 0.0
    lengths: dict[str, float] = {}
    for e in grp:
        n = g.way_name[int(g.way[e])]
        if n:
            lengths[n] = lengths.get(n, 0.0) + float(g.length_m[e])
            if lengths[n] > best_m:
                best, best_m = n, lengths[n]
    return best
