"""Call demand: when calls arrive, what they report, where callers stand (pure, seeded).

Arrivals are a non-homogeneous Poisson process whose rate follows the scenario's
hour-of-day and day-of-week profiles (local time), drawn by thinning. Locations
are road nodes: a uniform node is a draw weighted by road density; hot spots
draw among the nodes inside their radius.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from vigil.core.geometry import LatLon, haversine_m
from vigil.sim.scenario import (
    DemandSpec,
    Distribution,
    Empirical,
    HotSpot,
    IncidentMix,
    Scenario,
    ScriptedCalls,
    Spread,
)

Z90 = 1.2815515655446004  # standard normal 90th percentile
POINT_JITTER_M = 100.0  # a past call's place is used as "a road node within 100 m of it"


def lognormal(rng: random.Random, spread: Spread) -> float:
    """Draw from the log-normal whose median and 90th percentile the spread gives."""
    mu = math.log(spread.median)
    sigma = (math.log(spread.p90) - mu) / Z90
    return rng.lognormvariate(mu, sigma) if sigma > 0 else spread.median


def draw(rng: random.Random, dist: Distribution) -> float:
    """Draw one time from a log-normal spread or a fitted quantile table."""
    if isinstance(dist, Empirical):
        return dist.at(rng.random())
    return lognormal(rng, dist)


def _entry_and_dispatch(
    rng: random.Random, demand: DemandSpec, mix: IncidentMix | None
) -> tuple[float, float]:
    """Draw the call-taker's entry time and the dispatcher's delay for one call."""
    entry = mix.call_entry if mix is not None and mix.call_entry is not None else None
    delay = mix.dispatch_delay if mix is not None and mix.dispatch_delay is not None else None
    return draw(rng, entry or demand.call_entry), draw(rng, delay or demand.dispatch_delay)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedCall:
    """A call the simulator will make, and what the incident will need."""

    at_s: float  # when the caller dials, seconds after the scenario start
    entry_s: float  # call-taker's entry time (received -> posted to Vigil)
    dispatch_s: float  # dispatcher's delay after entry before assigning
    incident_type: str
    priority: int | None
    location: LatLon
    nature: str
    transport: bool
    caller_name: str
    caller_phone: str
    source: str  # "demand" or the situation's name
    group: str | None = None  # calls of one group report the same incident


class LocationPool:
    """Candidate caller positions: road nodes, with hot-spot subsets."""

    def __init__(self, points: Sequence[LatLon]) -> None:
        if not points:
            raise ValueError("a location pool needs at least one point")
        self.points = list(points)

    def anywhere(self, rng: random.Random) -> LatLon:
        """Return a point drawn by road density (uniform over road nodes)."""
        return self.points[rng.randrange(len(self.points))]

    def near(self, rng: random.Random, centre: LatLon, radius_m: float) -> LatLon:
        """Return a road node within `radius_m` of `centre` (the centre itself if none)."""
        inside = self.within(centre, radius_m)
        return inside[rng.randrange(len(inside))] if inside else centre

    def near_or_nearest(self, rng: random.Random, centre: LatLon, radius_m: float) -> LatLon:
        """Return a road node within `radius_m` of `centre`, else the nearest one."""
        inside = self.within(centre, radius_m)
        if inside:
            return inside[rng.randrange(len(inside))]
        return min(self.points, key=lambda p: haversine_m(p, centre))

    def within(self, centre: LatLon, radius_m: float) -> list[LatLon]:
        """Return the pool's points within the radius."""
        # A cheap box test first: the pool may hold tens of thousands of nodes.
        dlat = radius_m / 111_320.0
        dlon = dlat / max(0.05, math.cos(math.radians(centre.lat)))
        return [
            p
            for p in self.points
            if abs(p.lat - centre.lat) <= dlat
            and abs(p.lon - centre.lon) <= dlon
            and haversine_m(p, centre) <= radius_m
        ]


def _normalised(weights: Sequence[float]) -> list[float]:
    mean = sum(weights) / len(weights)
    return [w / mean for w in weights]


def rate_per_s(demand: DemandSpec, local: datetime) -> float:
    """Return the call rate (per second) at a local wall-clock time."""
    hour = _normalised(demand.hour_profile)[local.hour]
    day = _normalised(demand.weekday_profile)[local.weekday()]
    return demand.calls_per_hour / 3600.0 * hour * day


def arrival_times(
    demand: DemandSpec, *, start_local: datetime, duration_s: float, rng: random.Random
) -> list[float]:
    """Return call arrival offsets (seconds) by thinning a homogeneous process."""
    peak = (
        demand.calls_per_hour
        / 3600.0
        * max(_normalised(demand.hour_profile))
        * max(_normalised(demand.weekday_profile))
    )
    if peak <= 0:
        return []
    out: list[float] = []
    t = 0.0
    while True:
        t += rng.expovariate(peak)
        if t >= duration_s:
            return out
        if rng.random() * peak <= rate_per_s(demand, start_local + timedelta(seconds=t)):
            out.append(t)


def _pick(rng: random.Random, names: Sequence[str], weights: Sequence[float]) -> str:
    cumulative: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    return names[bisect.bisect_right(cumulative, rng.random() * total)]


def _hotspot(rng: random.Random, spots: Sequence[HotSpot]) -> HotSpot:
    return spots[
        bisect.bisect_right(
            [sum(s.weight for s in spots[: i + 1]) for i in range(len(spots))],
            rng.random() * sum(s.weight for s in spots),
        )
    ]


def synthetic_caller(n: int) -> tuple[str, str]:
    """Return an obviously synthetic caller name and phone number."""
    return f"SIMULATED CALLER {n:05d}", f"+000 SIM {n:05d}"


def plan_calls(scenario: Scenario, pool: LocationPool, *, rng: random.Random) -> list[PlannedCall]:
    """Return every call of the scenario (demand and scripted), in arrival order."""
    demand = scenario.demand
    names = sorted(demand.mix)
    weights = [demand.mix[n].weight for n in names]
    spatial = demand.spatial
    calls: list[PlannedCall] = []
    for at in arrival_times(
        demand, start_local=scenario.start, duration_s=scenario.duration, rng=rng
    ):
        itype = _pick(rng, names, weights)
        mix = demand.mix[itype]
        where = rng.random()
        if spatial.hotspots and where < spatial.hotspot_share:
            spot = _hotspot(rng, spatial.hotspots)
            location = pool.near(rng, LatLon(spot.lat, spot.lon), spot.radius_m)
        elif spatial.points and where < spatial.hotspot_share + spatial.points_share:
            past = spatial.points[rng.randrange(len(spatial.points))]
            location = pool.near_or_nearest(rng, LatLon(past.lat, past.lon), POINT_JITTER_M)
        else:
            location = pool.anywhere(rng)
        entry_s, dispatch_s = _entry_and_dispatch(rng, demand, mix)
        name, phone = synthetic_caller(len(calls) + 1)
        calls.append(
            PlannedCall(
                at_s=at,
                entry_s=entry_s,
                dispatch_s=dispatch_s,
                incident_type=itype,
                priority=mix.priority,
                location=location,
                nature=mix.natures[rng.randrange(len(mix.natures))],
                transport=rng.random() < mix.transport_share,
                caller_name=name,
                caller_phone=phone,
                source="demand",
            )
        )
    for situation in scenario.situations:
        centre = LatLon(situation.location.lat, situation.location.lon)
        for j, scripted in enumerate(situation.calls):
            calls += _scripted(
                scenario,
                scripted,
                start_s=situation.at + situation.calls_after,
                centre=centre,
                group=f"{situation.name}#{j}",
                source=situation.name,
                pool=pool,
                rng=rng,
                first_number=len(calls) + 1,
            )
    calls.sort(key=lambda c: (c.at_s, c.caller_name))
    return [c for c in calls if c.at_s < scenario.duration]


def _scripted(
    scenario: Scenario,
    scripted: ScriptedCalls,
    *,
    start_s: float,
    centre: LatLon,
    group: str,
    source: str,
    pool: LocationPool,
    rng: random.Random,
    first_number: int,
) -> list[PlannedCall]:
    demand = scenario.demand
    mix = demand.mix.get(scripted.type)
    nearby = pool.within(centre, scripted.radius_m) or [centre]
    out: list[PlannedCall] = []
    for k in range(scripted.count):
        # The first caller dials within seconds; the others spread over `within`.
        offset = rng.uniform(5, 30) if k == 0 else rng.uniform(5, max(6.0, scripted.within))
        name, phone = synthetic_caller(first_number + k)
        entry_s, dispatch_s = _entry_and_dispatch(rng, demand, mix)
        out.append(
            PlannedCall(
                at_s=start_s + offset,
                entry_s=entry_s,
                dispatch_s=dispatch_s,
                incident_type=scripted.type,
                priority=mix.priority if mix else None,
                location=nearby[rng.randrange(len(nearby))],
                nature=scripted.nature
                or (mix.natures[rng.randrange(len(mix.natures))] if mix else scripted.type),
                transport=bool(mix) and rng.random() < (mix.transport_share if mix else 0.0),
                caller_name=name,
                caller_phone=phone,
                source=source,
                group=group,
            )
        )
    return out
