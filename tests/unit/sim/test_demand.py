"""Demand: profiles, Poisson arrivals, mix, places, scripted calls; one seed, one plan."""

from __future__ import annotations

import math
import random
import statistics
from datetime import UTC, datetime

from vigil.core.geometry import LatLon, haversine_m
from vigil.sim.demand import LocationPool, arrival_times, lognormal, plan_calls, rate_per_s
from vigil.sim.scenario import DemandSpec, Spread, parse_scenario

GRID = [LatLon(60.16 + i * 0.001, 24.93 + j * 0.001) for i in range(20) for j in range(20)]

SCENARIO = """\
name: demand test
start: "2026-06-01T00:00:00+03:00"
duration: 24h
fleet: [{type: engine, count: 1, prefix: E, based_at: [fire_station]}]
demand:
  calls_per_hour: 20
  hour_profile: [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
  spatial:
    hotspot_share: 0.5
    hotspots: [{name: square, lat: 60.165, lon: 24.935, radius_m: 150, weight: 1}]
  mix:
    medical: {weight: 3, on_scene: {median: 10m, p90: 20m}, transport_share: 1, natures: [a]}
    disturbance: {weight: 1, on_scene: {median: 10m, p90: 20m}, natures: [b]}
situations:
  - name: shots
    kind: gunshot
    at: 2h
    location: {lat: 60.17, lon: 24.94}
    calls: [{type: disturbance, count: 4, within: 2m, radius_m: 200}]
"""


def _demand(**changes: object) -> DemandSpec:
    return parse_scenario(SCENARIO).demand.model_copy(update=changes)


def test_rate_follows_local_hour_and_weekday() -> None:
    demand = _demand(weekday_profile=(2, 1, 1, 1, 1, 1, 0))
    monday_noon = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # a Monday
    night = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    sunday_noon = datetime(2026, 6, 7, 12, 0, tzinfo=UTC)
    # Weights are normalised to mean 1: 18 busy hours of 24, Monday 2 of mean 1.
    assert math.isclose(rate_per_s(demand, monday_noon), 20 / 3600 * (24 / 18) * (2 * 7 / 7))
    assert rate_per_s(demand, night) == 0
    assert rate_per_s(demand, sunday_noon) == 0


def test_arrivals_match_the_expected_count_and_avoid_quiet_hours() -> None:
    demand = _demand()
    start = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
    counts = []
    for seed in range(5):
        times = arrival_times(demand, start_local=start, duration_s=86_400, rng=random.Random(seed))
        assert times == sorted(times)
        assert all(t >= 6 * 3600 for t in times)  # hours 0-5 weigh 0
        counts.append(len(times))
    # 20 calls/h on average over the day: 480 a day; Poisson sd ~22 per day.
    assert abs(statistics.mean(counts) - 480) < 4 * math.sqrt(480 / 5)


def test_lognormal_has_the_given_median_and_p90() -> None:
    rng = random.Random(3)
    draws = sorted(lognormal(rng, Spread(median=60, p90=90)) for _ in range(20_000))
    assert abs(draws[10_000] - 60) < 2
    assert abs(draws[18_000] - 90) < 4


def test_plan_is_deterministic_and_well_formed() -> None:
    scenario = parse_scenario(SCENARIO)
    pool = LocationPool(GRID)
    a = plan_calls(scenario, pool, rng=random.Random(11))
    b = plan_calls(scenario, pool, rng=random.Random(11))
    c = plan_calls(scenario, pool, rng=random.Random(12))
    assert a == b
    assert a != c
    assert [x.at_s for x in a] == sorted(x.at_s for x in a)
    demand_calls = [x for x in a if x.source == "demand"]
    types = [x.incident_type for x in demand_calls]
    assert 0.6 < types.count("medical") / len(types) < 0.9  # weight 3 of 4
    assert all(x.transport for x in demand_calls if x.incident_type == "medical")
    assert not any(x.transport for x in demand_calls if x.incident_type == "disturbance")
    in_spot = [x for x in demand_calls if haversine_m(x.location, LatLon(60.165, 24.935)) <= 150]
    assert 0.4 < len(in_spot) / len(demand_calls) < 0.75  # half, plus road-density ones inside
    assert all(x.caller_name.startswith("SIMULATED") for x in a)
    assert len({x.caller_name for x in a}) == len(a)


def test_scripted_calls_cluster_in_time_and_place() -> None:
    scenario = parse_scenario(SCENARIO)
    calls = [
        x
        for x in plan_calls(scenario, LocationPool(GRID), rng=random.Random(5))
        if x.source == "shots"
    ]
    assert len(calls) == 4
    assert len({x.group for x in calls}) == 1
    assert all(2 * 3600 <= x.at_s <= 2 * 3600 + 120 for x in calls)
    assert all(haversine_m(x.location, LatLon(60.17, 24.94)) <= 200 for x in calls)


def test_pool_near_falls_back_to_the_centre() -> None:
    pool = LocationPool(GRID)
    far = LatLon(61.0, 25.0)
    assert pool.near(random.Random(1), far, 100) == far
    assert pool.within(GRID[0], 1) == [GRID[0]]
