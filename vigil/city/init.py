"""`vigil city init`: from an OSM file, stations and units to a working city config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from vigil.city.stations import Placed, place, read_stations, read_units
from vigil.core.errors import ConfigError
from vigil.geo.graph import BuildReport
from vigil.geo.network import load_network
from vigil.geo.settings import GeoSettings
from vigil.history.localtime import zone


@dataclass(frozen=True, slots=True, kw_only=True)
class CityReport:
    """What onboarding found."""

    config: Path
    graph: BuildReport
    stations: list[Placed]
    units: list[Placed]
    unit_types: dict[str, int]
    outside: list[str]


def init_city(
    *,
    osm: Path,
    stations: Path,
    units: Path,
    out: Path,
    name: str,
    country: str,
    timezone: str,
    data_dir: Path,
    cache_dir: Path | None = None,
    max_snap_distance_m: float = 250.0,
    inside_only: bool = False,
    progress: bool = False,
) -> CityReport:
    """Build the graph, snap every station and unit home, and write the city config.

    Nothing is written when a station or unit cannot be placed: the GeoError names
    each one and its distance from the road. With ``inside_only``, stations outside
    the extract's bounding box are left out *and listed* (a district extract of a
    city-wide stations file); units based at them are left out too.
    """
    zone(timezone)  # an unknown zone fails here, naming it
    if len(country) != 2 or not country.isalpha():
        raise ConfigError(
            f"country {country!r} is not an ISO 3166 two-letter code", field="country"
        )
    geo = GeoSettings(
        osm_file=osm.resolve(),
        cache_dir=cache_dir.resolve() if cache_dir is not None else None,
        country=country.upper(),
        max_snap_distance_m=max_snap_distance_m,
    )
    network = load_network(geo, progress=progress)
    station_list = read_stations(stations)
    outside: list[str] = []
    if inside_only:
        b = network.bbox
        keep = [
            s
            for s in station_list
            if b.south <= s.location.lat <= b.north and b.west <= s.location.lon <= b.east
        ]
        outside = [f"{s.id} ({s.name})" for s in station_list if s not in keep]
        station_list = keep
    placed_stations = place(
        network, [(s.id, s.name, s.location) for s in station_list], what="station"
    )
    every_unit = read_units(units, read_stations(stations))
    outside_ids = {o.split(" ")[0] for o in outside}
    unit_list = [u for u in every_unit if u.station not in outside_ids]
    outside += [f"unit {u.id} (at station {u.station})" for u in every_unit if u not in unit_list]
    placed_units = place(network, [(u.id, u.callsign, u.home) for u in unit_list], what="unit")
    geo_out: dict[str, object] = {
        "osm_file": str(geo.osm_file),
        "country": geo.country,
        "max_snap_distance_m": max_snap_distance_m,
    }
    if geo.cache_dir is not None:
        geo_out["cache_dir"] = str(geo.cache_dir)
    config = {
        "data_dir": str(data_dir.resolve()),
        "geo": geo_out,
        "city": {
            "name": name,
            "timezone": timezone,
            "stations": str(stations.resolve()),
            "units": str(units.resolve()),
            "stations_inside_extract": inside_only,
        },
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    tmp.write_text(
        f"# {name}: written by `vigil city init`; calibrate with `vigil geo calibrate`.\n"
        + yaml.safe_dump(config, sort_keys=False),
        "utf-8",
    )
    tmp.replace(out)
    types: dict[str, int] = {}
    for u in unit_list:
        types[u.type] = types.get(u.type, 0) + 1
    return CityReport(
        config=out,
        graph=network.report,
        stations=placed_stations,
        units=placed_units,
        unit_types=types,
        outside=outside,
    )
