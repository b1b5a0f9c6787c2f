from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import shared_file
from vigil.core.errors import ConfigError
from vigil.geo.osm import read_osm


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.osm.pbf"
    path.write_bytes(b"")
    with pytest.raises(ConfigError, match="empty"):
        read_osm(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_osm(tmp_path / "nope.osm.pbf")


def test_corrupt_pbf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.osm.pbf"
    path.write_bytes(b"\x00\x00\x00\x0dOSMHeader this is not protobuf" * 10)
    with pytest.raises(ConfigError, match="cannot read OSM file"):
        read_osm(path)


def test_truncated_pbf_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut.osm.pbf"
    path.write_bytes(shared_file("osm/monaco.osm.pbf").read_bytes()[:5000])
    with pytest.raises(ConfigError, match="cannot read OSM file"):
        read_osm(path)


def test_reads_stations_and_addresses_from_monaco() -> None:
    extract = read_osm(shared_file("osm/monaco.osm.pbf"))
    names = {s.name for s in extract.stations if s.kind == "fire_station"}
    assert {"Caserne de Fontvieille", "Caserne de la Condamine"} <= names
    assert any(s.kind == "police" and s.osm_ref.startswith("way/") for s in extract.stations)
    assert len(extract.addresses) > 20
