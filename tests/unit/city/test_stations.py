"""Stations and units from files, snapped or refused; `vigil city init`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import shared_file
from vigil.city.stations import place, read_stations, read_units
from vigil.cli.city import app as city_cli
from vigil.config import load_settings
from vigil.core.errors import ConfigError, GeoError
from vigil.geo import RoadNetwork

runner = CliRunner()


def test_sffd_csv_and_geojson_agree() -> None:
    csv_st = {s.id: s for s in read_stations(shared_file("cad/sffd_stations.csv"))}
    geo_st = {s.id: s for s in read_stations(shared_file("cad/sffd_current_fire_stations.geojson"))}
    assert "7" in csv_st and "7" in geo_st
    common = set(csv_st) & set(geo_st)
    assert len(common) >= 30
    for sid in common:
        a, b = csv_st[sid].location, geo_st[sid].location
        assert abs(a.lat - b.lat) < 0.01 and abs(a.lon - b.lon) < 0.01, sid


def test_bad_station_files_name_the_line(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_text("station,name,lat,lon\n1,One,37.7,-122.4\n2,Two,north,-122.4\n")
    with pytest.raises(ConfigError, match="line 3: station 2: bad lat/lon"):
        read_stations(p)
    p.write_text("station,name,lat,lon\n01,One,37.7,-122.4\n1,Again,37.7,-122.4\n")
    with pytest.raises(ConfigError, match="station 1 is listed twice"):
        read_stations(p)
    p.write_text("name,lat,lon\nOne,37.7,-122.4\n")
    with pytest.raises(ConfigError, match="'station'"):
        read_stations(p)
    g = tmp_path / "s.geojson"
    g.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "Depot"},
                        "geometry": {"type": "Point", "coordinates": [-122.4, 37.7]},
                    }
                ],
            }
        )
    )
    with pytest.raises(ConfigError, match="feature 0: no station id"):
        read_stations(g)


def test_units_resolve_homes_and_name_errors(tmp_path: Path) -> None:
    st = tmp_path / "s.csv"
    st.write_text("station,name,lat,lon\n7,Seven,37.7525,-122.4185\n")
    stations = read_stations(st)
    u = tmp_path / "u.yaml"
    u.write_text(
        "units:\n  - {id: E07, type: engine, station: '07'}\n  - {id: M1, type: medic_als, lat: 37.76, lon: -122.41}\n"
    )
    units = read_units(u, stations)
    assert [(x.id, x.station, x.home.lat) for x in units] == [
        ("E07", "7", 37.7525),
        ("M1", None, 37.76),
    ]
    u.write_text("units:\n  - {id: E99, type: engine, station: '99'}\n")
    with pytest.raises(ConfigError, match="unit E99: station '99' is not in the stations file"):
        read_units(u, stations)
    u.write_text("units:\n  - {id: E1, type: engine}\n")
    with pytest.raises(ConfigError, match="needs a home"):
        read_units(u, stations)


def test_place_names_every_station_too_far(mission: RoadNetwork) -> None:
    stations = read_stations(shared_file("cad/sffd_stations.csv"))
    with pytest.raises(GeoError) as err:
        place(mission, [(s.id, s.name, s.location) for s in stations], what="station")
    text = str(err.value)
    # Station 4 (Mission Bay) is just beyond the 250 m limit of the Mission extract.
    assert "station 4 (Fire Station #4) is 256 m from the nearest road" in text
    assert "station 7 " not in text
    placed = place(
        mission,
        [(s.id, s.name, s.location) for s in stations if s.id in {"7", "9"}],
        what="station",
    )
    assert [p.id for p in placed] == ["7", "9"]
    assert all(p.distance_m < 30 for p in placed)


def _init(tmp_path: Path, geo_cache: Path, stations: Path, *extra: str) -> tuple[int, str]:
    units = tmp_path / "units.yaml"
    units.write_text(
        "units:\n  - {id: E07, type: engine, station: '7'}\n  - {id: T07, type: ladder, station: '7'}\n  - {id: E42, type: engine, station: '42'}\n"
    )
    result = runner.invoke(
        city_cli,
        [
            "init",
            "--osm",
            str(shared_file("osm/sf_mission_2014.osm")),
            "--stations",
            str(stations),
            "--units",
            str(units),
            "--out",
            str(tmp_path / "sf.yaml"),
            "--country",
            "US",
            "--tz",
            "America/Los_Angeles",
            "--name",
            "SF Mission",
            "--data-dir",
            str(tmp_path / "var"),
            "--cache-dir",
            str(geo_cache),
            *extra,
        ],
    )
    return result.exit_code, result.output


def test_city_init_refuses_an_unsnappable_station(tmp_path: Path, geo_cache: Path) -> None:
    st = tmp_path / "s.csv"
    st.write_text(
        "station,name,lat,lon\n7,Station 7,37.7525,-122.4185\n42,Station 42,37.7316,-122.4054\n99,Farallon Outpost,37.6983,-123.0036\n"
    )
    code, out = _init(tmp_path, geo_cache, st)
    assert code == 2
    assert "station 99 (Farallon Outpost) is" in out and "m from the nearest road" in out
    assert "station 7 " not in out
    assert not (tmp_path / "sf.yaml").exists()


def test_city_init_writes_a_working_config(tmp_path: Path, geo_cache: Path) -> None:
    code, out = _init(tmp_path, geo_cache, shared_file("cad/sffd_stations.csv"), "--inside-only")
    assert code == 0, out
    assert "road graph: 5,701 nodes" in out
    assert "unit E42 (at station 42)" in out  # left out, and said so
    assert "10 stations snapped" in out
    assert "2 units (1 engine, 1 ladder)" in out
    settings = load_settings(tmp_path / "sf.yaml")
    assert settings.geo.country == "US"
    assert settings.city.timezone == "America/Los_Angeles"
    assert settings.city.stations_inside_extract is True
    cfg = yaml.safe_load((tmp_path / "sf.yaml").read_text())
    assert cfg["geo"]["osm_file"].endswith("sf_mission_2014.osm")
    loaded = runner.invoke(city_cli, ["load-units", "--config", str(tmp_path / "sf.yaml")])
    assert loaded.exit_code == 0, loaded.output
    assert "registered 2 units; 0 were already there" in loaded.output
    assert "E42" in loaded.output
    again = runner.invoke(city_cli, ["load-units", "--config", str(tmp_path / "sf.yaml")])
    assert "registered 0 units; 2 were already there" in again.output
