"""The travel-time model: parameters, edge weights, JSON, and the one ETA path."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from vigil.core.errors import ConfigError, GeoError
from vigil.core.geometry import LatLon
from vigil.geo import RoadNetwork
from vigil.geo.eta import TravelTimes, eta_pairs
from vigil.geo.network import reweight
from vigil.geo.settings import GeoSettings
from vigil.geo.travel import (
    GROUPS,
    EtaInterval,
    Provenance,
    TimeBand,
    TravelModel,
    default_model,
    junctions,
    model_for,
    posted_model,
    road_group,
)

A = LatLon(60.1710, 24.9414)
B = LatLon(60.1685, 24.9440)


def fitted() -> TravelModel:
    return TravelModel(
        name="test-fitted",
        country="FI",
        speeds_kmh={"freeway": 70.0, "arterial": 35.0, "local": 22.0, "service": 10.0},
        intersection_delay_s=1.5,
        overhead_s=55.0,
        speed_factors={"engine": 1.0, "ladder": 0.8},
        time_of_day=(TimeBand(start_hour=7, end_hour=10, factor=1.25),),
        timezone="Europe/Helsinki",
        interval=EtaInterval(level=0.8, log_low=-0.4, log_high=0.5, n=200),
        provenance=Provenance(fitted_on=200, fitted_at="2026-12-01T10:00:00+00:00", method="m"),
    )


def test_json_round_trip_and_version(tmp_path: Path) -> None:
    m = fitted()
    m.save(tmp_path / "m.json")
    again = TravelModel.load(tmp_path / "m.json")
    assert again == m
    assert again.version == m.version
    assert m.with_fit(overhead_s=56.0).version != m.version
    # The name and provenance do not change what the model computes.
    assert m.with_fit(name="other").version == m.version


def test_bad_models_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no speed for freeway"):
        TravelModel(name="x", speeds_kmh={"local": 20.0})
    with pytest.raises(ConfigError, match="ladder must be positive"):
        fitted().with_fit(speed_factors={"ladder": 0.0})
    (tmp_path / "bad.json").write_text('{"name": "x", "road": "model", "overhead_s": "soon"}')
    with pytest.raises(ConfigError, match="overhead_s"):
        TravelModel.load(tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="cannot read"):
        TravelModel.load(tmp_path / "missing.json")


def test_eta_formula_factors_and_interval() -> None:
    m = fitted()
    assert m.eta_s(100.0, "engine") == pytest.approx(155.0)
    assert m.eta_s(100.0, "ladder") == pytest.approx(55.0 + 125.0)
    assert m.eta_s(100.0, "patrol") == pytest.approx(155.0)  # unlisted types: factor 1
    rush = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)  # 08:30 in Helsinki
    night = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)
    assert m.eta_s(100.0, "engine", rush) == pytest.approx(55.0 + 125.0)
    assert m.eta_s(100.0, "engine", night) == pytest.approx(155.0)
    low, high = m.interval_s(155.0) or (0.0, 0.0)
    assert low == pytest.approx(155.0 * np.exp(-0.4))
    assert high == pytest.approx(155.0 * np.exp(0.5))
    assert default_model("US").interval_s(100.0) is None
    assert "fitted on 200 responses (2026-12-01)" in m.describe()
    assert "not calibrated" in default_model("US").describe()


def test_band_wraps_midnight() -> None:
    band = TimeBand(start_hour=22, end_hour=6, factor=0.9)
    assert [h for h in range(24) if band.contains(h)] == [0, 1, 2, 3, 4, 5, 22, 23]


def test_country_defaults_differ_and_fall_back_to_european() -> None:
    us, fi, xx = default_model("us"), default_model("FI"), default_model("JP")
    assert us.speeds_kmh != fi.speeds_kmh
    assert fi.speeds_kmh == xx.speeds_kmh
    assert us.overhead_s == 39.0  # RAND/ISO 0.65 min
    assert us.sources.startswith("docs/travel-times.md")


def test_model_for_settings(tmp_path: Path) -> None:
    assert model_for(GeoSettings()).road == "posted"
    assert model_for(GeoSettings()).speed_factors == GeoSettings().speed_factors
    assert model_for(GeoSettings(country="US")) == default_model("US")
    fitted().save(tmp_path / "m.json")
    chosen = model_for(GeoSettings(country="US", travel_model=tmp_path / "m.json"))
    assert chosen == fitted()


def test_edge_times_follow_groups_and_junctions(helsinki: RoadNetwork) -> None:
    g = helsinki.graph
    m = fitted().with_fit(intersection_delay_s=0.0)
    times = m.edge_times(g)
    group = np.asarray([road_group(g.way_highway[w]) for w in g.way.tolist()])
    for name in GROUPS:
        sel = group == name
        if sel.any():
            speeds = g.length_m[sel] / times[sel] * 3.6
            assert np.allclose(speeds[g.length_m[sel] > 0], m.speeds_kmh[name])
    delayed = fitted().edge_times(g)
    assert np.allclose(delayed - times, 1.5 * junctions(g)[g.dst])
    assert posted_model().edge_times(g) is g.time_s
    assert road_group("no_such_class") == "local"


def test_posted_model_reproduces_the_old_etas(helsinki: RoadNetwork) -> None:
    travel = TravelTimes(helsinki, posted_model({"engine": 1.2}))
    assert travel.network is helsinki
    old = helsinki.etas_to(B, {"u": A}, speed_factor={"u": 1.2})["u"].seconds
    assert travel.eta(A, B, "engine").seconds == pytest.approx(old)


def test_reweighted_network_is_cached_and_consistent(helsinki: RoadNetwork) -> None:
    m = fitted()
    first = reweight(helsinki, m)
    again = reweight(helsinki, m)  # from the disk cache
    assert np.array_equal(first.graph.time_s, again.graph.time_s)
    travel = TravelTimes(helsinki, m)
    eta = travel.eta(A, B, "ladder")
    road = first.etas_to(B, {"u": A})["u"].seconds
    assert eta.seconds == pytest.approx(55.0 + road / 0.8)
    assert eta.low_s is not None and eta.high_s is not None
    assert eta.low_s < eta.seconds < eta.high_s
    route = travel.route(A, B, "ladder")
    assert route.seconds == pytest.approx(eta.seconds, rel=1e-6)


def test_batch_pairs_report_reasons(helsinki: RoadNetwork) -> None:
    travel = TravelTimes(helsinki, fitted())
    rows = [
        (
            2,
            {
                "from_lat": str(A.lat),
                "from_lon": str(A.lon),
                "to_lat": str(B.lat),
                "to_lon": str(B.lon),
                "unit_type": "engine",
            },
        ),
        (
            3,
            {
                "from_lat": "60.1640",
                "from_lon": "24.9300",
                "to_lat": str(B.lat),
                "to_lon": str(B.lon),
                "unit_type": "",
            },
        ),
        (
            4,
            {
                "from_lat": "x",
                "from_lon": "24.9",
                "to_lat": str(B.lat),
                "to_lon": str(B.lon),
                "unit_type": "",
            },
        ),
        (
            5,
            {
                "from_lat": str(A.lat),
                "from_lon": str(A.lon),
                "to_lat": "95",
                "to_lon": "24.9",
                "unit_type": "",
            },
        ),
    ]
    got = eta_pairs(travel, rows)
    assert [r.line for r in got] == [2, 3, 4, 5]
    assert got[0].eta is not None
    assert got[0].eta.seconds == pytest.approx(travel.eta(A, B, "engine").seconds)
    assert got[1].eta is None and got[1].reason.startswith("from: ") and " m " in got[1].reason
    assert got[2].eta is None and "from_lat" in got[2].reason
    assert got[3].eta is None and "latitude" in got[3].reason
    with pytest.raises(GeoError):
        travel.eta(LatLon(60.1640, 24.9300), B, None)
