"""The dispatcher, `vigil geo eta` and `vigil geo route` give the same ETA for one pair."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import shared_file
from vigil.app import build
from vigil.cad.service import NewCall
from vigil.cli.geo import app as geo_cli
from vigil.config import load_settings
from vigil.core.geometry import LatLon
from vigil.core.ids import UnitId
from vigil.geo import RoadNetwork, load_network
from vigil.geo.eta import TravelTimes
from vigil.geo.travel import EtaInterval, Provenance, TravelModel

STATION_7 = LatLon(37.7525, -122.4185)  # near SFFD Station 7, 2300 Folsom St
SCENE = LatLon(37.7605, -122.4095)


def sf_model() -> TravelModel:
    return TravelModel(
        name="sf-test",
        country="US",
        speeds_kmh={"freeway": 60.0, "arterial": 30.0, "local": 24.0, "service": 10.0},
        intersection_delay_s=1.0,
        overhead_s=65.0,
        speed_factors={"engine": 1.0, "ladder": 0.8},
        interval=EtaInterval(level=0.8, log_low=-0.45, log_high=0.55, n=237),
        provenance=Provenance(fitted_on=237, fitted_at="2026-12-03T12:00:00+00:00", method="test"),
    )


@pytest.fixture
def city(tmp_path: Path, geo_cache: Path) -> Path:
    sf_model().save(tmp_path / "model.json")
    cfg = {
        "data_dir": str(tmp_path / "var"),
        "geo": {
            "osm_file": str(shared_file("osm/sf_mission_2014.osm")),
            "cache_dir": str(geo_cache),
            "country": "US",
            "travel_model": str(tmp_path / "model.json"),
        },
    }
    path = tmp_path / "sf.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize("unit_type", ["engine", "ladder"])
def test_dispatcher_cli_and_batch_agree(
    city: Path, tmp_path: Path, mission: RoadNetwork, unit_type: str
) -> None:
    settings = load_settings(city)
    app = build(settings, network=load_network(settings.geo))
    try:
        app.cad.register_unit(
            actor="t",
            unit_id=UnitId("U1"),
            callsign="Unit 1",
            type=unit_type,
            station="7",
            location=STATION_7,
        )
        app.cad.take_call(
            NewCall(location=SCENE, nature="smoke", incident_type="structure_fire"), actor="t"
        )
        (inc,) = app.cad.incidents()
        rec = app.dispatch.recommend(inc.id)
        route_s = app.dispatch.route(inc.id, UnitId("U1")).seconds
    finally:
        app.close()
    (choice,) = [c for c in rec.chosen if c.unit_id == "U1"]
    assert rec.model_version == sf_model().version
    assert "fitted on 237 responses" in rec.model
    assert rec.method.endswith(f"ETAs from {rec.model}")
    assert choice.eta_low_s is not None and choice.eta_high_s is not None
    assert choice.eta_low_s < choice.eta_s < choice.eta_high_s
    assert "80%:" in choice.why

    direct = TravelTimes(mission, sf_model()).eta(STATION_7, SCENE, unit_type)
    assert choice.eta_s == direct.seconds
    assert route_s == pytest.approx(direct.seconds, abs=1e-6)

    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        "from_lat,from_lon,to_lat,to_lon,unit_type\n"
        f"{STATION_7.lat},{STATION_7.lon},{SCENE.lat},{SCENE.lon},{unit_type}\n"
        f"37.90,-122.41,{SCENE.lat},{SCENE.lon},{unit_type}\n"
    )
    out = tmp_path / "etas.csv"
    runner = CliRunner()
    result = runner.invoke(
        geo_cli, ["eta", "--config", str(city), "--pairs", str(pairs), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[0]["eta_s"]) == pytest.approx(choice.eta_s, abs=0.05)
    assert float(rows[0]["eta_low_s"]) == pytest.approx(choice.eta_low_s, abs=0.05)
    assert rows[1]["eta_s"] == ""
    assert rows[1]["reason"].startswith("from: ") and "m from" in rows[1]["reason"]

    result = runner.invoke(
        geo_cli,
        [
            "route",
            "--config",
            str(city),
            "--from",
            f"{STATION_7.lat},{STATION_7.lon}",
            "--to",
            f"{SCENE.lat},{SCENE.lon}",
            "--unit-type",
            unit_type,
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert body["seconds"] == pytest.approx(choice.eta_s, abs=0.05)
    assert body["model"] == rec.model
