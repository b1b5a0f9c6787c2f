"""Fitted cities through the whole platform: round trip, real SFFD validation, what-if.

These run the simulator against an in-process Vigil (virtual clock) with MQTT ingest
on the local Mosquitto, like `vigil sim run`.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import shared_file
from vigil.analytics.source import LiveLogSource
from vigil.app import build
from vigil.config import load_settings
from vigil.sim.fit import FitOptions, fit_city
from vigil.sim.fitted import Change, run_scenario, what_if
from vigil.sim.scenario import Scenario, load_scenario

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = datetime(2026, 6, 2, 8, 0, tzinfo=UTC)
TURNOUT = (60.0, 90.0)  # median, p90 (log-normal)
ON_SCENE = (600.0, 1000.0)
DISPATCH = (30.0, 60.0)
RATE = 10.0  # calls per hour: few enough that a unit is always free


def _known_city(tmp_path: Path, hours: float) -> Scenario:
    """The default Helsinki fleet with one kind of call whose every time is known."""
    rules = tmp_path / "no-rules.yaml"
    rules.write_text("timezone: UTC\nrules: []\n", "utf-8")
    data: dict[str, Any] = load_scenario().model_dump(mode="json")
    data.update(
        name="known city",
        start=START.isoformat(),
        duration=hours * 3600,
        devices=[],
        situations=[],
    )
    data["city"]["rules"] = [str(rules)]
    data["demand"] = {
        "calls_per_hour": RATE,
        "hour_profile": [1] * 24,
        "call_entry": {"median": 1, "p90": 1},
        "dispatch_delay": {"median": DISPATCH[0], "p90": DISPATCH[1]},
        "mix": {
            "medical": {
                "weight": 1,
                "on_scene": {"median": ON_SCENE[0], "p90": ON_SCENE[1]},
                "turnout": {"median": TURNOUT[0], "p90": TURNOUT[1]},
                "natures": ["collapsed in the street"],
            }
        },
    }
    return Scenario.model_validate(data)


def _median_se(median: float, p90: float, n: int) -> float:
    """Standard error of a log-normal sample median: 1 / (2 f(median) sqrt(n))."""
    sigma = (math.log(p90) - math.log(median)) / 1.2815515655446004
    return median * sigma * math.sqrt(math.pi / 2) / math.sqrt(n)


def test_fitting_the_simulators_own_history_recovers_its_parameters(tmp_path: Path) -> None:
    data_dir = tmp_path / "run"
    run_scenario(_known_city(tmp_path, 8), seed=4, data_dir=data_dir)
    app = build(load_settings(None, data_dir=data_dir))
    try:
        conn = LiveLogSource(app.store).connect()
    finally:
        app.close()
    options = FitOptions(
        start=START, end=START.replace(hour=16), tz="UTC", bbox=(-90.0, -180.0, 90.0, 180.0)
    )
    fit = fit_city(conn, options, stations={})
    (key,) = fit.types  # one kind of call, at the catalogue priority of "medical"
    # The rate: Poisson, so its standard error over h hours is sqrt(rate / h).
    assert abs(fit.demand.calls_per_hour - RATE) < 3 * math.sqrt(RATE / 8)
    assert fit.demand.model == "constant"
    for interval, (median, p90), extra in (
        ("turnout", TURNOUT, 0.0),
        ("on_scene", ON_SCENE, 0.0),
        ("dispatch_delay", DISPATCH, 1.0),  # + the call-taker's fixed 1 s entry
    ):
        assert key in fit.tables[interval], (interval, list(fit.tables[interval]), fit.excluded)
        t = fit.tables[interval][key]
        fitted = t.quantiles[len(t.quantiles) // 2]
        se = _median_se(median, p90, t.n)
        assert abs(fitted - median - extra) < 3 * se + 1.0, (interval, fitted, median, se)


def test_validation_on_real_sffd_days_runs_end_to_end(tmp_path: Path) -> None:
    from vigil.cli.sim import app as sim_cli  # noqa: PLC0415

    history = shared_file("cad/sffd_calls_2016-12-31_to_2017-01-03.csv")
    osm = shared_file("osm/sf_mission_2014.osm")
    stations = shared_file("cad/sffd_stations.csv")
    out = tmp_path / "validation.json"
    plot = tmp_path / "validation.png"
    result = CliRunner().invoke(
        sim_cli,
        [
            "validate",
            "--history", str(history),
            "--osm", str(osm),
            "--stations", str(stations),
            "--tz", "America/Los_Angeles",
            "--country", "US",
            "--from", "2017-01-01",
            "--to", "2017-01-03",
            "--days", "1",
            "--json", str(out),
            "--plot", str(plot),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    for interval in ("call_processing", "turnout", "travel", "total"):
        row = report[interval]
        assert row["n_real"] >= 50 and row["n_sim"] >= 50, interval
        assert 0 <= row["ks"] <= 1 and row["verdict"] in {
            "faithful",
            "within noise",
            "not faithful",
        }
        assert row["ci95"]["real_p90"][0] <= row["real_p90"] <= row["ci95"]["real_p90"][1]
    assert report["windows"][0][0].startswith("2017-01-03")
    # Per incident kind too (a kind with 30 records on each side in the held-out day).
    assert "medical_incident_p2" in report["by_kind"]
    # Who arrives first, which sets the first unit's turnout and travel: the run cards
    # are the mixes of units the real calls drew, so an engine wins as often (78 calls).
    shares = report["first_arriving_unit_share"]
    assert shares["real"]["engine"] > 0.2
    assert abs(shares["sim"].get("engine", 0) - shares["real"]["engine"]) < 0.15, shares
    # Some real first arrivals were sent after the first unit; the fitted dispatch lags
    # make the simulated dispatcher add units later too (through the platform's API).
    assert report["first_arriving_unit_sent_later"]["real"] > 0
    assert report["first_arriving_unit_sent_later"]["sim"] > 0
    # No fitted travel model in the settings: the fold calibrated one on its own days.
    assert report["folds"][0]["travel_model"].startswith("calibrated on the fold's own days")
    assert report["calls_per_hour"]["real"] > 2
    assert plot.stat().st_size > 10_000
    assert "faithful" in result.output


def test_a_what_if_with_no_change_finds_no_effect(tmp_path: Path) -> None:
    scenario = _known_city(tmp_path, 1.5)
    independent = what_if(scenario, Change(), replications=3, paired=False, seed=10)
    low, high = independent.ci95
    assert low <= 0 <= high, independent.to_json()
    assert independent.base_p90 != independent.changed_p90  # really independent runs


def test_a_what_if_that_doubles_demand_is_measured_against_the_same_seeds(
    tmp_path: Path,
) -> None:
    scenario = _known_city(tmp_path, 1.5)
    same = what_if(scenario, Change(), replications=2, paired=True, seed=3)
    assert same.effect_s == 0 and same.ci95 == (0.0, 0.0)  # a seeded run is reproducible
    busier = what_if(scenario, Change(demand_factor=3.0), replications=2, paired=True, seed=3)
    assert busier.change == "demand x3"
    assert busier.effect_s > 0, busier.to_json()


def test_fit_writes_a_city_with_its_own_travel_model_and_run_card_mixes(tmp_path: Path) -> None:
    from vigil.cli.sim import app as sim_cli  # noqa: PLC0415
    from vigil.geo.travel import TravelModel  # noqa: PLC0415

    out = tmp_path / "sf.yaml"
    result = CliRunner().invoke(
        sim_cli,
        [
            "fit",
            "--history", str(shared_file("cad/sffd_calls_2016-12-31_to_2017-01-03.csv")),
            "--osm", str(shared_file("osm/sf_mission_2014.osm")),
            "--stations", str(shared_file("cad/sffd_stations.csv")),
            "--tz", "America/Los_Angeles",
            "--country", "US",
            "--from", "2017-01-01",
            "--to", "2017-01-02",
            "--out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scenario = load_scenario(out)
    model = TravelModel.load(tmp_path / "sf.travel.json")
    assert scenario.city.travel_model == (tmp_path / "sf.travel.json").resolve()
    assert model.provenance is not None and model.provenance.days == 2
    assert 30 < model.overhead_s < 180  # a fixed cost of every drive, as calibrated
    catalogue = yaml.safe_load((tmp_path / "sf.catalogue.yaml").read_text("utf-8"))
    kinds = catalogue["incident_types"]
    # Non-emergency medical calls drew a city medic or a private ambulance: two kinds.
    cards = {k: [c["capability"] for c in v["run_card"]] for k, v in kinds.items()}
    assert cards["medical_incident_p2"] in (["medic"], ["private"])
    assert any(k.startswith("medical_incident_v") and k.endswith("_p2") for k in kinds)
    diagnostics = json.loads((tmp_path / "sf.diagnostics.json").read_text("utf-8"))
    mixes = diagnostics["types"]["medical_incident_p2"]["run_cards"]
    assert sum(m["share"] for m in mixes) == pytest.approx(1.0, abs=1e-3)
    weights = sum(
        m.weight for k, m in scenario.demand.mix.items() if k.endswith("_p2") and "medical" in k
    )
    assert weights == pytest.approx(diagnostics["types"]["medical_incident_p2"]["share"], rel=1e-3)
