from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from vigil.cli.geo import app
from vigil.geo.network import RoadNetwork

runner = CliRunner()


def test_build_reports_counts(helsinki: RoadNetwork, geo_cache: Path) -> None:
    result = runner.invoke(app, ["build", "--cache-dir", str(geo_cache)])
    assert result.exit_code == 0, result.output
    assert f"{helsinki.report.nodes} nodes" in result.output


def test_route_prints_geojson(helsinki: RoadNetwork, geo_cache: Path) -> None:
    result = runner.invoke(
        app,
        [
            "route",
            "--from",
            "60.1721,24.9450",
            "--to",
            "60.1699,24.9388",
            "--cache-dir",
            str(geo_cache),
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert body["geometry"]["type"] == "LineString"
    assert body["seconds"] > 0
    assert body["metres"] > 300


def test_route_bad_coordinates(geo_cache: Path) -> None:
    result = runner.invoke(
        app, ["route", "--from", "95,24", "--to", "60.17,24.94", "--cache-dir", str(geo_cache)]
    )
    assert result.exit_code != 0
    assert "latitude" in result.output


def test_route_in_the_sea(helsinki: RoadNetwork, geo_cache: Path) -> None:
    result = runner.invoke(
        app,
        ["route", "--from", "60.14,24.95", "--to", "60.17,24.94", "--cache-dir", str(geo_cache)],
    )
    assert result.exit_code == 1
    assert "from the nearest drivable road" in result.output


def test_geocode(helsinki: RoadNetwork, geo_cache: Path) -> None:
    result = runner.invoke(app, ["geocode", "Mikonkatu 18", "--cache-dir", str(geo_cache)])
    assert result.exit_code == 0, result.output
    assert "address" in result.stdout
    assert "Mikonkatu 18" in result.stdout


def test_build_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["build", "--osm", str(tmp_path / "x.pbf"), "--cache-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "does not exist" in result.output
