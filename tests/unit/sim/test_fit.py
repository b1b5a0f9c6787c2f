"""Fitting a city from its records: each quantity recovered from a history with a known answer."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pytest
from scipy import stats

from vigil.core.geometry import LatLon
from vigil.history.store import SCHEMA
from vigil.sim.demand import draw
from vigil.sim.fit import (
    FitOptions,
    catalogue_dict,
    diagnostics_dict,
    fit_city,
    fit_demand,
    scenario_dict,
    slug,
    table,
)
from vigil.sim.scenario import Empirical, Scenario

T0 = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
BBOX = (37.70, -122.50, 37.80, -122.38)
STATION = LatLon(37.75, -122.42)
HIDDEN = {"source_sha256", "imported_at", "format", "address"}


def _hourly(
    profile: list[float], days: int, rng: np.random.Generator
) -> list[tuple[datetime, int]]:
    out = []
    for h in range(24 * days):
        at = T0 + timedelta(hours=h)
        out.append((at, int(rng.poisson(profile[at.hour]))))
    return out


def test_demand_model_keeps_a_real_daily_profile_and_recovers_it() -> None:
    rng = np.random.default_rng(3)
    profile = [2.0 + 6.0 * math.sin(math.pi * h / 24) ** 2 for h in range(24)]
    fit = fit_demand(_hourly(profile, 28, rng))
    assert fit.model in {"hour", "hour_x_weekday"}
    assert fit.bic[fit.model] < fit.bic["constant"]
    mean = sum(profile) / 24
    assert fit.calls_per_hour == pytest.approx(mean, rel=0.05)
    for h in (3, 12, 20):
        # 28 observations per hour of day: the rate's standard error is sqrt(rate / 28).
        se = math.sqrt(profile[h] / 28)
        assert abs(fit.calls_per_hour * fit.hour_profile[h] - profile[h]) < 4 * se
    assert fit.dispersion_alpha < 0.05  # Poisson data: no over-dispersion


def test_demand_model_does_not_invent_a_profile_in_flat_data() -> None:
    fit = fit_demand(_hourly([3.0] * 24, 7, np.random.default_rng(5)))
    assert fit.model == "constant"
    assert set(fit.hour_profile) == {1.0}


def test_a_quantile_table_draws_reproduce_the_distribution() -> None:
    rng = np.random.default_rng(1)
    values = rng.lognormal(math.log(60), 0.4, 4000)
    t = table(values, source="test")
    dist = Empirical(quantiles=t.quantiles, n=t.n)
    r = random.Random(2)
    drawn = np.array([draw(r, dist) for _ in range(4000)])
    assert stats.ks_2samp(values, drawn).statistic < 0.05
    assert np.median(drawn) == pytest.approx(60, rel=0.05)


def test_empirical_distribution_refuses_unsorted_quantiles() -> None:
    with pytest.raises(ValueError, match="non-decreasing"):
        Empirical(quantiles=(1.0, 3.0, 2.0), n=3)


# ------------------------------------------------------------------ a synthetic history


def _responses(rows: list[dict[str, Any]]) -> Any:
    con = duckdb.connect()
    cols = [(n, t) for n, t in SCHEMA if n not in HIDDEN]
    con.execute("create table responses (" + ", ".join(f"{n} {t}" for n, t in cols) + ")")
    names = [n for n, _ in cols]
    con.executemany(
        f"insert into responses values ({', '.join('?' for _ in names)})",
        [[row.get(n) for n in names] for row in rows],
    )
    return con


def _history(n_calls: int, rng: random.Random) -> list[dict[str, Any]]:
    """Two kinds of call with known times: emergencies draw an engine and a medic, others
    a medic (three in four) or a private ambulance."""
    rows: list[dict[str, Any]] = []
    for i in range(n_calls):
        received = T0 + timedelta(seconds=rng.uniform(0, 14 * 86_400))
        emergency = rng.random() < 0.6
        entry = received + timedelta(seconds=rng.lognormvariate(math.log(40), 0.3))
        alone = ("M8", "MEDIC", None) if rng.random() < 0.75 else ("P3", "PRIVATE", None)
        units = [("E1", "ENGINE", "1"), ("M7", "MEDIC", None)] if emergency else [alone]
        first_dispatch = entry + timedelta(seconds=rng.lognormvariate(math.log(20), 0.3))
        for seq, (unit, utype, station) in enumerate(units, start=1):
            dispatch = first_dispatch + timedelta(seconds=5 * (seq - 1))
            turnout = rng.lognormvariate(math.log(60 if emergency else 90), 0.25)
            en_route = dispatch + timedelta(seconds=turnout)
            on_scene = en_route + timedelta(seconds=rng.lognormvariate(math.log(240), 0.3))
            transport = on_scene + timedelta(seconds=900) if utype != "ENGINE" else None
            rows.append(
                {
                    "response_id": f"{i}-{unit}",
                    "call_id": str(i),
                    "unit_id": unit,
                    "unit_type": utype,
                    "call_type": "Medical Incident",
                    "priority": "3" if emergency else "2",
                    "unit_sequence": seq,
                    "lat": 37.75 + rng.uniform(-0.01, 0.01),
                    "lon": -122.42 + rng.uniform(-0.01, 0.01),
                    "origin_station": station,
                    "received_at": received,
                    "entry_at": entry,
                    "dispatch_at": dispatch,
                    "en_route_at": en_route,
                    "on_scene_at": on_scene,
                    "transport_at": transport,
                    "available_at": on_scene + timedelta(seconds=rng.uniform(1200, 1800)),
                }
            )
    # Records the fit must exclude and count, never use: no en-route time, negative turnout.
    rows.append({**rows[0], "response_id": "bad-1", "call_id": "bad", "en_route_at": None})
    rows.append(
        {
            **rows[1],
            "response_id": "bad-2",
            "call_id": "bad2",
            "en_route_at": rows[1]["dispatch_at"] - timedelta(seconds=30),  # before dispatch
        }
    )
    return rows


@pytest.fixture
def fitted() -> Iterator[tuple[Any, FitOptions]]:
    con = _responses(_history(1200, random.Random(11)))
    options = FitOptions(
        start=T0, end=T0 + timedelta(days=14), tz="America/Los_Angeles", bbox=BBOX, min_n=30
    )
    yield con, options
    con.close()


def _median(q: tuple[float, ...]) -> float:
    return q[len(q) // 2]


def test_fit_recovers_every_time_by_kind_and_priority(fitted: tuple[Any, FitOptions]) -> None:
    con, options = fitted
    fit = fit_city(con, options, stations={"1": STATION}, eta=lambda a, b, u: 120.0)
    emergency, other = "medical_incident_p3", "medical_incident_p2"
    assert set(fit.types) == {emergency, other}
    assert fit.types[emergency]["share"] == pytest.approx(0.6, abs=0.05)
    # Known medians: entry 40 s, dispatch delay 20 s, turnout 60 s (emergency) / 90 s.
    assert _median(fit.tables["call_entry"][emergency].quantiles) == pytest.approx(40, rel=0.06)
    assert _median(fit.tables["dispatch_delay"][other].quantiles) == pytest.approx(20, rel=0.06)
    assert _median(fit.tables["turnout"][emergency].quantiles) == pytest.approx(60, rel=0.06)
    assert _median(fit.tables["turnout"][other].quantiles) == pytest.approx(90, rel=0.06)
    # Run cards from who actually went, as often as they went: an engine and a medic;
    # a medic alone on three calls in four, else a private ambulance.
    cards = {
        k: [
            ({c["capability"]: c["count"] for c in m["run_card"]}, m["share"])
            for m in t["run_cards"]
        ]
        for k, t in fit.types.items()
    }
    assert cards[emergency] == [({"engine": 1, "medic": 1}, 1.0)]
    assert [card for card, _ in cards[other]] == [{"medic": 1}, {"private": 1}]
    assert cards[other][0][1] == pytest.approx(0.75, abs=0.05)
    # Roaming drives also by the mix of units sent (the medic alone, or with an engine).
    assert set(fit.floating_by_card["medic"]) == {
        "medical_incident_p3|engine:1+medic:1",
        "medical_incident_p2|medic:1",
    }
    # The medic is sent 5 s after the engine on emergencies; lone units at once.
    lag = fit.dispatch_lag_by_unit
    assert _median(lag["medic"][emergency].quantiles) == pytest.approx(5.0)
    assert max(lag["engine"][emergency].quantiles) == 0.0
    assert max(lag["medic"][other].quantiles) == 0.0
    # The engine is housed (route ETA x factor), medics roam (their own travel times).
    assert _median(fit.travel_factor[emergency].quantiles) == pytest.approx(2.0, rel=0.08)
    assert _median(fit.floating_travel["medic"][other].quantiles) == pytest.approx(240, rel=0.08)
    # The bad records were excluded and counted.
    assert fit.excluded["turnout"]["missing"] == 1
    assert fit.excluded["turnout"]["negative"] == 1


def test_a_kind_with_too_few_records_borrows_its_priority_pool(
    fitted: tuple[Any, FitOptions],
) -> None:
    con, options = fitted
    con.execute(
        "update responses set call_type = 'Gas Leak' "
        "where call_id in (select call_id from responses where priority = '3' limit 5)"
    )
    fit = fit_city(con, options, stations={"1": STATION})
    rare = fit.tables["turnout"]["gas_leak_p3"]
    assert rare.source.endswith("pooled at priority 3")
    assert rare is fit.tables["turnout"]["*_p3"]


def test_held_out_days_are_not_fitted(fitted: tuple[Any, FitOptions]) -> None:
    con, options = fitted
    whole = fit_city(con, options, stations={"1": STATION})
    week = (T0, T0 + timedelta(days=7))
    half = FitOptions(
        start=options.start, end=options.end, tz=options.tz, bbox=BBOX, holdout=(week,)
    )
    held = fit_city(con, half, stations={"1": STATION})
    assert held.demand.hours == whole.demand.hours - 7 * 24
    assert held.demand.calls < whole.demand.calls * 0.6


def test_the_fitted_files_load_as_a_scenario_and_catalogue(fitted: tuple[Any, FitOptions]) -> None:
    con, options = fitted
    fit = fit_city(con, options, stations={"1": STATION}, eta=lambda a, b, u: 120.0)
    data = scenario_dict(
        fit,
        name="fitted",
        start=T0,
        duration_s=3600,
        osm_file="city.osm",
        catalogue_file="city.catalogue.yaml",
        rules_file="city.rules.yaml",
        site="test",
        stations=[{"id": "1", "name": "One", "kind": "fire_station", "lat": 37.75, "lon": -122.42}],
    )
    scenario = Scenario.model_validate(data)
    assert {f.type for f in scenario.fleet} == {"engine", "medic", "private"}
    mix = scenario.demand.mix["medical_incident_p2"]
    assert isinstance(mix.turnout, Empirical)
    assert "medic" in mix.travel
    # The private-ambulance calls are a kind of their own in the run (same times, own
    # card), weighted so the two add up to the real kind's share.
    private = scenario.demand.mix["medical_incident_v2_p2"]
    assert private.on_scene == mix.on_scene
    drive = mix.travel["medic"]
    assert isinstance(drive, Empirical)
    assert drive.source == "travel of medic, medical_incident_p2|medic:1"
    assert mix.weight + private.weight == pytest.approx(fit.types["medical_incident_p2"]["share"])
    assert private.weight / (mix.weight + private.weight) == pytest.approx(0.25, abs=0.05)
    catalogue = catalogue_dict(fit)
    assert catalogue["unit_types"]["medic"]["capabilities"] == ["medic", "transport"]
    assert catalogue["incident_types"]["medical_incident_v2_p2"]["run_card"] == [
        {"capability": "private", "count": 1}
    ]
    assert catalogue["incident_types"]["medical_incident_p2"]["run_card"] == [
        {"capability": "medic", "count": 1}
    ]
    diag = diagnostics_dict(fit, options)
    assert diag["intervals"]["turnout"]["medical_incident_p3"]["n"] >= 30
    assert slug("Gas Leak (Natural and LP Gases)") == "gas_leak_natural_and_lp_gases"


def test_only_the_first_due_areas_of_simulated_stations_are_fitted(
    fitted: tuple[Any, FitOptions],
) -> None:
    con, options = fitted
    whole = fit_city(con, options, stations={"1": STATION})
    # Calls spread over 37.74..37.76: a station outside the simulated city at the
    # northern edge is nearer to the northern calls, which its units would answer.
    area = ((STATION.lat, STATION.lon, True), (37.765, -122.42, False))
    only = FitOptions(
        start=options.start, end=options.end, tz=options.tz, bbox=BBOX, area_stations=area
    )
    inside = fit_city(con, only, stations={"1": STATION})
    share = inside.demand.calls / whole.demand.calls
    assert 0.55 < share < 0.95  # the calls north of 37.7575 are left out
    north = con.execute(
        "select count(distinct call_id) from sim_responses where lat > 37.7576"
    ).fetchone()[0]
    assert north == 0
